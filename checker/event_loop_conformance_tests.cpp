// conformance of the event-loop models (select, poll, epoll): the server
// serves all its clients from one thread, without helpers (epoll: one thread
// and a fixed pool), and waits in the call its lab is about. What a binary can
// call is read from its imported functions.
#include "test_cases.hpp"

#include "binary_imports.hpp"

#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace checker::tests {

namespace {

constexpr int kConcurrentClients = 20;

void test_one_loop_thread(TestContext& context) {
    std::vector<Connection> clients;
    for (int i = 0; i < kConcurrentClients; ++i) {
        clients.push_back(Connection::open(context.server, context.deadline));
        std::string line = "client " + std::to_string(i) + "\n";
        clients.back().send(line, context.deadline);
        expect_reply(clients.back(), line, line, context.deadline);
    }
    int threads = context.process->thread_count();
    std::size_t processes = context.process->processes().size();
    context.observed = std::to_string(threads) + " thread(s), " + std::to_string(processes) +
                       " process(es) with " + std::to_string(kConcurrentClients) + " clients connected";
    if (threads != 1 || processes != 1)
        throw TestFailure("with " + std::to_string(kConcurrentClients) + " clients connected and served, the server "
                          "ran " + std::to_string(threads) + " thread(s) in " + std::to_string(processes) +
                          " process(es). This model serves every client from one thread: a loop that waits for all "
                          "sockets at once, with no thread or process per client (those are other labs)");
}

struct Multiplexer {
    const char* name;
    std::set<std::string> calls;    // any of these imported means the binary can wait this way
};

const Multiplexer kSelect{"select", {"select", "pselect"}};
const Multiplexer kPoll{"poll", {"poll", "ppoll", "__poll_chk", "__ppoll_chk"}};
const Multiplexer kEpoll{"epoll", {"epoll_wait", "epoll_pwait", "epoll_pwait2"}};

bool imports_any(const std::set<std::string>& imports, const Multiplexer& multiplexer) {
    for (const std::string& call : multiplexer.calls)
        if (imports.count(call)) return true;
    return false;
}

void expect_multiplexer(TestContext& context, const Multiplexer& wanted, std::vector<Multiplexer> others) {
    auto imports = imported_functions(context.executable);
    if (!imports)
        throw TestFailure("could not read which functions " + context.executable + " imports (it is not a "
                          "dynamically linked 64-bit ELF executable): build the server with the kit's Makefile");
    if (!imports_any(*imports, wanted))
        throw TestFailure(context.executable + " never calls " + wanted.name + "(): this lab's server waits for all "
                          "its sockets in " + wanted.name + "()");
    for (const Multiplexer& other : others)
        if (imports_any(*imports, other))
            throw TestFailure(context.executable + " calls " + other.name + " as well as " + wanted.name +
                              "(): this lab is about " + wanted.name + "(); wait in it alone (" + other.name +
                              " has a lab of its own)");
    context.observed = "waits in " + std::string(wanted.name) + "()";
}

void test_waits_in_select(TestContext& context) { expect_multiplexer(context, kSelect, {kPoll, kEpoll}); }
void test_waits_in_poll(TestContext& context) { expect_multiplexer(context, kPoll, {kSelect, kEpoll}); }

void test_waits_in_epoll(TestContext& context) {
    expect_multiplexer(context, kEpoll, {kSelect, kPoll});
    auto imports = imported_functions(context.executable);
    if (!imports->count("epoll_ctl"))
        throw TestFailure(context.executable + " waits in epoll_wait() but never calls epoll_ctl(): connections are "
                          "registered, and re-armed after each EPOLLONESHOT report, with epoll_ctl()");
    context.observed = "waits in epoll_wait(), registers with epoll_ctl()";
}

// The loop-plus-pool model: the server is started with this many workers.
constexpr int kPoolWorkers = 3;

// ThreadSanitizer's runtime runs a thread of its own in a threaded program.
bool runs_thread_sanitizer(pid_t pid) {
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    for (std::string line; std::getline(maps, line);)
        if (line.find("/libtsan.so") != std::string::npos) return true;
    return false;
}

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
    int expected = 1 + kPoolWorkers + (runs_thread_sanitizer(context.process->pid()) ? 1 : 0);
    std::vector<Connection> clients;
    add_clients(context, clients, kConcurrentClients);
    int threads_before = context.process->thread_count();
    add_clients(context, clients, kConcurrentClients);
    int threads_after = context.process->thread_count();
    std::size_t processes = context.process->processes().size();
    context.observed = std::to_string(threads_before) + " thread(s) with " + std::to_string(kConcurrentClients) +
                       " clients connected, " + std::to_string(threads_after) + " with " +
                       std::to_string(2 * kConcurrentClients) + ", in " + std::to_string(processes) +
                       " process(es); --workers " + std::to_string(kPoolWorkers);
    if (threads_before != expected || threads_after != expected || processes != 1)
        throw TestFailure("started with --workers " + std::to_string(kPoolWorkers) + ", the server ran " +
                          std::to_string(threads_before) + " thread(s) with " + std::to_string(kConcurrentClients) +
                          " clients connected and " + std::to_string(threads_after) + " with " +
                          std::to_string(2 * kConcurrentClients) + ", in " + std::to_string(processes) +
                          " process(es); " + std::to_string(1 + kPoolWorkers) + " threads in one process were "
                          "expected, whatever the number of clients: the loop's thread and a pool of exactly "
                          "--workers threads, started once (no thread per client or per request)");
}

}  // namespace

const TestCase one_loop_thread{"one_loop_thread", Category::Conformance,
                               "20 clients served by one thread in one process", test_one_loop_thread,
                               /*needs_process=*/true};
const TestCase waits_in_select{"waits_in_select", Category::Conformance,
                               "the server waits in select() (and not in poll or epoll)", test_waits_in_select,
                               /*needs_process=*/true};
const TestCase waits_in_poll{"waits_in_poll", Category::Conformance,
                             "the server waits in poll() (and not in select or epoll)", test_waits_in_poll,
                             /*needs_process=*/true};
const TestCase waits_in_epoll{"waits_in_epoll", Category::Conformance,
                              "the server waits in epoll_wait() and registers with epoll_ctl() (no select, poll)",
                              test_waits_in_epoll, /*needs_process=*/true};
const TestCase loop_and_pool_threads{"loop_and_pool_threads", Category::Conformance,
                                     "--workers 3: 4 threads (loop + pool) with 20 clients and with 40",
                                     test_loop_and_pool_threads, /*needs_process=*/true, ServerLimits{}, nullptr,
                                     {"--workers", "3"}};

}  // namespace checker::tests
