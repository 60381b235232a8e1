// conformance of the event-loop models (select, poll): the server serves all
// its clients from one thread, without helpers, and waits in the call its lab
// is about. What a binary can call is read from its imported functions.
#include "test_cases.hpp"

#include "binary_imports.hpp"

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

}  // namespace checker::tests
