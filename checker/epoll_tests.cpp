// conformance of the loop-plus-pool model (epoll): one main thread (which
// accepts, or runs the loop) and a fixed pool of workers, however many clients; and of
// one loop per thread (reactors): --workers threads, each with an epoll set and a
// listener of its own. (Which calls a server imports is system_interfaces, with each
// lab's rules; one thread is single_thread.)
#include "proc_files.hpp"
#include "probes.hpp"
#include "test_cases.hpp"
#include "text.hpp"

#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace checker::tests {

namespace {

constexpr int kConcurrentClients = 20;

// The loop-plus-pool model: the server is started with this many workers.
constexpr int kPoolWorkers = 3;

// Connects `count` more clients, each exchanging a line, and leaves them connected.
void add_clients(TestContext& context, std::vector<Connection>& clients, int count) {
    for (int i = 0; i < count; ++i) {
        clients.push_back(Connection::open(context.server, context.deadline));
        std::string line = "client " + std::to_string(clients.size()) + "\n";
        clients.back().send(line, context.deadline);
        expect_reply(clients.back(), line, line, context.deadline);
    }
}

void test_loop_and_pool_threads(TestContext& context) {
    int expected = 1 + kPoolWorkers + thread_sanitizer_threads(*context.process);
    std::vector<Connection> clients;
    add_clients(context, clients, kConcurrentClients);
    int threads_before = context.process->thread_count();
    add_clients(context, clients, kConcurrentClients);
    int threads_after = context.process->thread_count();
    std::size_t processes = context.process->processes().size();
    std::string figures = str(count_text(threads_before), " thread(s) with ", kConcurrentClients,
                              " clients connected, ", count_text(threads_after), " with ",
                              2 * kConcurrentClients, ", in ", processes, " process(es)");
    context.observed = str(figures, "; --workers ", kPoolWorkers);
    if (threads_before != expected || threads_after != expected || processes != 1)
        throw TestFailure(
            str("started with --workers ", kPoolWorkers, ", the server ran ", figures, "; ",
                1 + kPoolWorkers,
                " threads in one process were "
                "expected, whatever the number of clients: the main thread and a pool of exactly "
                "--workers threads, started once (no thread per client or per request)"));
}

// How long a server may take, once it listens, to open its loops' epoll sets
// and listeners (a busy machine, a sanitizer).
constexpr Duration kLoopSetupPatience = 1s;

// One loop per thread: what /proc shows of the loops, with clients connected.
struct Loops {
    int threads = 0;
    std::size_t processes = 0;
    int epoll_sets = 0;  // descriptors of the server leading to an epoll instance
    int listeners = 0;   // its sockets listening on the port it was given

    std::string describe() const {
        return str(threads, " thread(s) in ", processes, " process(es), ", epoll_sets,
                   " epoll set(s), ", listeners, " listening socket(s) on its port");
    }
};

Loops observe_loops(TestContext& context) {
    Loops seen;
    pid_t pid = context.process->pid();
    seen.threads = context.process->thread_count();
    seen.processes = context.process->processes().size();
    seen.epoll_sets = descriptors_to(pid, "anon_inode:[eventpoll]");
    std::set<std::string> ours = socket_inodes({pid});
    for (const ListeningSocket& socket : listening_sockets())
        if (socket.port == context.server.port && ours.count(socket.inode)) ++seen.listeners;
    return seen;
}

bool loops_in_place(const Loops& seen) {
    return seen.epoll_sets == kPoolWorkers && seen.listeners == kPoolWorkers;
}

// The loops' epoll sets and listeners, looked at before any client comes:
// two threads on one set may already garble the first client's reply. A
// server that opens them in its loops' threads is given time to.
void expect_loops_in_place(TestContext& context) {
    Deadline patience = context.deadline.sooner(kLoopSetupPatience);
    Loops seen = observe_loops(context);
    while (!loops_in_place(seen) && !patience.passed()) {
        std::this_thread::sleep_for(20ms);
        seen = observe_loops(context);
    }
    std::string situation = str("started with --workers ", kPoolWorkers, ", the server ran ",
                                seen.describe(), " (looked at for up to ",
                                fixed(seconds(kLoopSetupPatience), 0), " s after it listened)");
    context.observed = seen.describe();
    if (seen.epoll_sets != kPoolWorkers)
        throw TestFailure(str(
            situation, "; ", kPoolWorkers,
            " epoll sets were expected: each loop owns an epoll set of its own and is the only "
            "thread waiting on it. Threads that share one epoll set are woken for one another's "
            "connections (two of them may serve one connection at once, unless EPOLLONESHOT and a "
            "re-arm per request keep them apart: the epoll lab's pool)"));
    if (seen.listeners != kPoolWorkers)
        throw TestFailure(str(
            situation, "; ", kPoolWorkers,
            " listening sockets on the port were expected: each loop accepts from a socket of its "
            "own, all bound to the one port with SO_REUSEPORT set before bind(), so that the kernel "
            "spreads new connections over the loops"));
}

void test_loop_per_thread(TestContext& context) {
    expect_loops_in_place(context);
    int tsan = runs_thread_sanitizer(context.process->pid()) ? 1 : 0;
    std::vector<Connection> clients;
    add_clients(context, clients, kConcurrentClients);
    Loops before = observe_loops(context);
    add_clients(context, clients, kConcurrentClients);
    Loops after = observe_loops(context);
    context.observed = str(after.describe(), " with ", 2 * kConcurrentClients, " clients");
    if (before.threads != kPoolWorkers + tsan || after.threads != kPoolWorkers + tsan ||
        after.processes != 1 || !loops_in_place(after))
        throw TestFailure(str("started with --workers ", kPoolWorkers, ", the server ran ",
                              before.describe(), " with ", kConcurrentClients,
                              " clients connected, and ", after.describe(), " with ",
                              2 * kConcurrentClients, "; ", kPoolWorkers,
                              " threads in one process were expected, whatever the number of "
                              "clients: one per event loop, --workers of them, started once (no "
                              "thread per client or per request), each with its epoll set and "
                              "listener"));
}

}  // namespace

const TestCase loop_per_thread{
    .name = "loop_per_thread",
    .category = Category::Conformance,
    .checks =
        "--workers 3: 3 threads, 3 epoll sets, 3 listeners on the port, with 20 clients and "
        "with 40",
    .run = test_loop_per_thread,
    .needs_process = true,
    .arguments = {"--workers", "3"},
};
const TestCase loop_and_pool_threads{
    .name = "loop_and_pool_threads",
    .category = Category::Conformance,
    .checks = "--workers 3: 4 threads (main + pool) with 20 clients and with 40",
    .run = test_loop_and_pool_threads,
    .needs_process = true,
    .arguments = {"--workers", "3"},
};

}  // namespace checker::tests
