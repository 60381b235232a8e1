// Pools made in advance (prefork, prethread): the server makes --workers
// processes or threads at start, before any client, and no more however many
// clients come; a prefork parent replaces a worker that dies. (How many clients
// a pool serves at once shows in the concurrency tests, which such a model's
// rubric marks Expect::Blocks beyond the pool's size.)
#include "clients.hpp"
#include "probes.hpp"
#include "test_cases.hpp"
#include "text.hpp"

#include <signal.h>

#include <algorithm>
#include <thread>

namespace checker::tests {

namespace {

// The pool the server is started with, and the clients connected to it:
// fewer than the workers, so that every one of them is served.
constexpr int kPoolWorkers = 6;
constexpr int kPoolClients = 4;

enum class Pool { Processes, Threads };

// What /proc shows of the server: its live child processes and the threads
// of its own process.
struct PoolCount {
    std::size_t children = 0;
    int threads = 0;
    bool operator==(const PoolCount&) const = default;

    std::string str() const {
        return checker::str(children, " child process", children == 1 ? "" : "es", " and ", threads,
                            " thread", threads == 1 ? "" : "s");
    }
};

std::vector<pid_t> live_children(const ServerProcess& server) {
    std::vector<pid_t> pids = server.processes();
    std::vector<pid_t> zombies = server.zombies();
    std::erase_if(pids, [&](pid_t pid) {
        return pid == server.pid() ||
               std::find(zombies.begin(), zombies.end(), pid) != zombies.end();
    });
    return pids;
}

PoolCount count_now(const ServerProcess& server) {
    return {live_children(server).size(), server.thread_count()};
}

// The count once it is `expected`, or the last one seen when `deadline` comes
// first: a pool may still be starting when the server already listens.
PoolCount count_when(const ServerProcess& server, const PoolCount& expected, Deadline deadline) {
    PoolCount count = count_now(server);
    while (!(count == expected) && !deadline.passed()) {
        std::this_thread::sleep_for(10ms);
        count = count_now(server);
    }
    return count;
}

PoolCount expected_pool(Pool pool, const ServerProcess& server) {
    if (pool == Pool::Processes) return {kPoolWorkers, 1};
    return {0, 1 + kPoolWorkers + thread_sanitizer_threads(server)};
}

void test_pool(TestContext& context, Pool pool) {
    ServerProcess& server = *context.process;
    PoolCount expected = expected_pool(pool, server);
    PoolCount at_rest = count_when(server, expected, context.deadline.sooner(1s));
    std::vector<SwarmClient> clients = open_swarm(context.server, kPoolClients, context.deadline);
    int answered = exchange_lines(clients, context.deadline.sooner(2s));
    PoolCount busy = count_now(server);
    std::string figures = str(at_rest.str(), " before any client, ", busy.str(), " with ",
                              kPoolClients, " clients connected (", answered, " answered)");
    context.observed = str("--workers ", kPoolWorkers, ": ", figures);
    if (at_rest == expected && busy == expected && answered == kPoolClients) return;
    std::string what =
        pool == Pool::Processes
            ? str("a prefork server forks exactly --workers children at start, before any client, "
                  "each running one thread, and no more however many clients come: ",
                  kPoolWorkers,
                  " child processes, each accepting its own clients (a child per "
                  "client is the fork lab's model)")
            : str("a prethread server starts exactly --workers threads at start, before any "
                  "client, in its one process, and no more however many clients come: ",
                  expected.threads,
                  " threads (the main one and the pool), no child process (a thread per client "
                  "is the threads lab's model)");
    throw TestFailure(
        str("started with --workers ", kPoolWorkers, ", the server had ", figures, "; ", what,
            answered < kPoolClients
                ? str("; and a pool of ", kPoolWorkers, " serves ", kPoolWorkers,
                      " clients at once, so all ", kPoolClients, " should be answered")
                : ""));
}

void test_pool_of_processes(TestContext& context) { test_pool(context, Pool::Processes); }
void test_pool_of_threads(TestContext& context) { test_pool(context, Pool::Threads); }

// The workers of a prefork server are killed, as a crash or the OOM killer
// would; the parent must make new ones, or the pool shrinks to zero and the
// server, still listening, serves nobody.
void test_pool_replaces_workers(TestContext& context) {
    ServerProcess& server = *context.process;
    constexpr int kWorkers = 2;
    count_when(server, {kWorkers, 1}, context.deadline.sooner(1s));
    std::vector<pid_t> killed = live_children(server);
    for (pid_t pid : killed) ::kill(pid, SIGKILL);
    // SIGKILL takes effect later: a worker still alive could accept the new
    // client and die with it. The client comes once the killed ones are gone.
    auto killed_still_live = [&] {
        std::vector<pid_t> live = live_children(server);
        return std::any_of(killed.begin(), killed.end(), [&](pid_t pid) {
            return std::find(live.begin(), live.end(), pid) != live.end();
        });
    };
    for (Deadline dying = context.deadline.sooner(1s); killed_still_live() && !dying.passed();)
        std::this_thread::sleep_for(5ms);
    bool served = new_client_served(context.server, context.deadline.sooner(2s));
    std::vector<pid_t> now = live_children(server);
    std::erase_if(now, [&](pid_t pid) {
        return std::find(killed.begin(), killed.end(), pid) != killed.end();
    });
    PoolCount after = count_when(server, {kWorkers, 1}, context.deadline.sooner(1s));
    context.observed = str("killed ", killed.size(), " workers; ", served ? "a" : "no",
                           " new client served; then ", after.children, " workers");
    if (killed.empty())
        throw TestFailure(str("started with --workers ", kWorkers,
                              ", the server had no child process to kill: a prefork server "
                              "forks its workers at start, before any client"));
    if (!served || after.children != kWorkers)
        throw TestFailure(str(
            "started with --workers ", kWorkers, ", its ", killed.size(),
            " worker processes were killed (SIGKILL, as a crash or the OOM killer would); then ",
            served ? "a new client was served" : "a new client got nothing back within 2 s",
            ", and the server had ", after.children, " live worker", after.children == 1 ? "" : "s",
            " (", now.size(),
            " new). The parent must reap a worker that ended (SIGCHLD, waitpid) and fork another "
            "in its place, or the pool shrinks to zero and the server serves nobody"));
}

}  // namespace

const TestCase pool_of_processes{
    .name = "pool_of_processes",
    .category = Category::Conformance,
    .checks = "--workers 6: 6 child processes before any client and with 4 clients connected",
    .run = test_pool_of_processes,
    .needs_process = true,
    .arguments = {"--workers", "6"},
};
const TestCase pool_of_threads{
    .name = "pool_of_threads",
    .category = Category::Conformance,
    .checks = "--workers 6: 7 threads (main + pool) before any client and with 4 clients connected",
    .run = test_pool_of_threads,
    .needs_process = true,
    .arguments = {"--workers", "6"},
};
const TestCase pool_replaces_workers{
    .name = "pool_replaces_workers",
    .category = Category::Robustness,
    .checks = "--workers 2: both worker processes killed, a new client is still served",
    .run = test_pool_replaces_workers,
    .needs_process = true,
    .arguments = {"--workers", "2"},
};

}  // namespace checker::tests
