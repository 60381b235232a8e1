// conformance of the loop-plus-pool model (epoll): one main thread (which
// accepts, or runs the loop) and a fixed pool of workers, however many clients. (Which calls a server imports
// is system_interfaces, with each lab's rules; one thread is single_thread.)
#include "probes.hpp"
#include "test_cases.hpp"
#include "text.hpp"

#include <fstream>
#include <set>
#include <string>
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
    std::string figures =
        str(threads_before, " thread(s) with ", kConcurrentClients, " clients connected, ",
            threads_after, " with ", 2 * kConcurrentClients, ", in ", processes, " process(es)");
    context.observed = str(figures, "; --workers ", kPoolWorkers);
    if (threads_before != expected || threads_after != expected || processes != 1)
        throw TestFailure(
            str("started with --workers ", kPoolWorkers, ", the server ran ", figures, "; ",
                1 + kPoolWorkers,
                " threads in one process were "
                "expected, whatever the number of clients: the main thread and a pool of exactly "
                "--workers threads, started once (no thread per client or per request)"));
}

}  // namespace

const TestCase loop_and_pool_threads{
    .name = "loop_and_pool_threads",
    .category = Category::Conformance,
    .checks = "--workers 3: 4 threads (main + pool) with 20 clients and with 40",
    .run = test_loop_and_pool_threads,
    .needs_process = true,
    .arguments = {"--workers", "3"},
};

}  // namespace checker::tests
