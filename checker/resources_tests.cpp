// resources: descriptors, processes and threads come back when clients leave.
#include "clients.hpp"
#include "diagnosis.hpp"
#include "probes.hpp"
#include "test_cases.hpp"
#include "text.hpp"

#include <thread>

namespace checker::tests {

namespace {

constexpr int kLowDescriptorLimit = 64;
constexpr int kSequentialClients = 1000;

// Waits for the server's descriptor count to settle at or below `target`.
int settled_descriptors(const ServerProcess& server, int target, Deadline deadline) {
    int count = server.open_descriptors();
    while (count > target && !deadline.passed()) {
        std::this_thread::sleep_for(10ms);
        count = server.open_descriptors();
    }
    return count;
}

// The cause, when the descriptors rose by about one per client that came and
// went (at most a few closed late): "" otherwise.
std::string rose_with_every_client(int before, int after, int clients) {
    if (clients < 8 || after - before < clients * 3 / 4) return "";
    return std::string(causes::descriptor_per_client);
}

void test_no_descriptor_leak(TestContext& context) {
    auto exchange_one_line = [&](int number) {
        Connection client = Connection::open(context.server, context.deadline);
        std::string line = str("connection ", number, "\n");
        client.send(line, context.deadline);
        expect_reply(client, line, line, context.deadline);
    };
    exchange_one_line(0);
    int baseline = settled_descriptors(*context.process, 0, Deadline(100ms));
    for (int i = 1; i <= kSequentialClients; ++i) {
        try {
            exchange_one_line(i);
        } catch (const TestFailure& failure) {
            int now = context.process->open_descriptors();
            throw TestFailure(
                str("connection ", i, " of ", kSequentialClients,
                    " (one line each, then close) failed: ", failure.what(),
                    ". The server runs with ", kLowDescriptorLimit, " descriptors and had ",
                    count_text(baseline), " open at the start, ", count_text(now),
                    " now: a server that does not close each connection runs out"),
                rose_with_every_client(baseline, now, i - 1));
        }
    }
    int after = settled_descriptors(*context.process, baseline + 1, context.deadline.sooner(1s));
    context.observed = str("open descriptors: ", count_text(baseline), " before, ",
                           count_text(after), " after ", kSequentialClients, " connections");
    if (after > baseline + 1)
        throw TestFailure(str(kSequentialClients,
                              " clients connected, sent a line and closed; the server's "
                              "open descriptors went from ",
                              count_text(baseline), " to ", after,
                              ": every accepted connection must be closed once its client is done"),
                          rose_with_every_client(baseline, after, kSequentialClients));
}

constexpr int kComingAndGoing = 8;

// Connects kComingAndGoing clients at once, has each exchange a line, and
// closes them all. Returns what `measure` said while they were connected.
template <typename Measure>
auto clients_come_and_go(TestContext& context, Measure measure) {
    std::vector<SwarmClient> clients =
        open_swarm(context.server, kComingAndGoing, context.deadline);
    int answered = exchange_lines(clients, context.deadline);
    if (answered < kComingAndGoing)
        throw TestFailure(str(kComingAndGoing,
                              " clients connected at once and each sent a line; only ", answered,
                              " got it back within the test's time: this model must serve "
                              "clients at the same time (see the concurrency tests)"));
    auto during = measure();
    clients.clear();  // closes them all
    return during;
}

std::vector<pid_t> children_of(const ServerProcess& server) {
    std::vector<pid_t> pids = server.processes();
    std::erase(pids, server.pid());
    return pids;
}

std::string list_pids(const std::vector<pid_t>& pids) {
    std::string text;
    for (std::size_t i = 0; i < pids.size() && i < 5; ++i) text += str(i ? ", " : "", pids[i]);
    return pids.size() > 5 ? text + ", ..." : text;
}

void test_no_zombie_children(TestContext& context) {
    ServerProcess& server = *context.process;
    std::size_t children_during =
        clients_come_and_go(context, [&] { return children_of(server).size(); });
    // The children end as their clients leave; the parent then has a moment to reap them.
    Deadline settle = context.deadline.sooner(2s);
    std::vector<pid_t> children = children_of(server);
    while (!children.empty() && !settle.passed()) {
        std::this_thread::sleep_for(10ms);
        children = children_of(server);
    }
    std::vector<pid_t> zombies = server.zombies();
    context.observed =
        str("child processes: ", children_during, " with ", kComingAndGoing, " clients connected, ",
            children.size(), " after they left (", zombies.size(), " zombies)");
    if (!zombies.empty())
        throw TestFailure(
            str(kComingAndGoing, " clients connected, exchanged a line and left; 2 s later ",
                zombies.size(), " children of the server were zombies (state Z, pids ",
                list_pids(zombies),
                "). A child that has exited stays in the process table "
                "until its parent waits for it: handle SIGCHLD and call waitpid(-1, &status, "
                "WNOHANG) in a loop until it returns 0, or zombies pile up until fork() fails"),
            std::string(causes::children_never_reaped));
    if (!children.empty())
        throw TestFailure(
            str(kComingAndGoing, " clients connected, exchanged a line and left; 2 s later ",
                children.size(), " children of the server were still running (pids ",
                list_pids(children),
                "). A child serves one client: once that client is gone "
                "it must exit (_exit), not go back to the parent's loop or wait for anything else"),
            std::string(causes::children_never_exit));
}

void test_thread_count_returns(TestContext& context) {
    ServerProcess& server = *context.process;
    int before = thread_count_at_rest(context.server, server, context.deadline);
    int during = clients_come_and_go(context, [&] { return server.thread_count(); });
    Deadline settle = context.deadline.sooner(2s);
    int after = server.thread_count();
    while (after > before && !settle.passed()) {
        std::this_thread::sleep_for(10ms);
        after = server.thread_count();
    }
    context.observed =
        str("threads: ", count_text(before), " before, ", count_text(during), " with ",
            kComingAndGoing, " clients connected, ", count_text(after), " after they left");
    if (after > before)
        throw TestFailure(
            str(kComingAndGoing,
                " clients connected, exchanged a line and left; 2 s later the "
                "server had ",
                after, " threads, ", before, " before they came (", during,
                " while they were there). A thread serves one client: once that client is gone "
                "it must return from its function, or threads pile up, each holding its stack, "
                "until no more can be created"),
            // about one thread left behind per client: the threads outlive their clients
            after - before >= kComingAndGoing * 3 / 4 ? std::string(causes::threads_never_return)
                                                      : std::string());
}

}  // namespace

const TestCase no_zombie_children{
    .name = "no_zombie_children",
    .category = Category::Resources,
    .checks = "8 clients come and go: their child processes end and are reaped (no zombies)",
    .run = test_no_zombie_children,
    .needs_process = true,
};
const TestCase thread_count_returns{
    .name = "thread_count_returns",
    .category = Category::Resources,
    .checks = "8 clients come and go: the thread count returns to what it was",
    .run = test_thread_count_returns,
    .needs_process = true,
};
const TestCase no_descriptor_leak{
    .name = "no_descriptor_leak",
    .category = Category::Resources,
    .checks = "1,000 sequential clients under a 64-descriptor limit; no descriptor leaks",
    .run = test_no_descriptor_leak,
    .needs_process = true,
    .limits = {.open_files = kLowDescriptorLimit},
};

}  // namespace checker::tests
