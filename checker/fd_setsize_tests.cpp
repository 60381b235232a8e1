// The fd_set's ceiling: select() cannot watch a descriptor numbered FD_SETSIZE
// (1024) or more, so the select lab refuses the clients past it, and the
// models without that ceiling (poll, epoll) serve them all.
#include "clients.hpp"
#include "probes.hpp"
#include "test_cases.hpp"
#include "text.hpp"

#include <sys/select.h>

#include <vector>

namespace checker::tests {

namespace {

// A server started with room for more descriptors than an fd_set holds.
constexpr int kRoomyDescriptorLimit = 2 * FD_SETSIZE;
constexpr int kClientsPastFdSetsize = FD_SETSIZE + 76;
constexpr const char* kNeverInAnFdSet =
    "A descriptor numbered FD_SETSIZE (1024) or more must never go into an fd_set: FD_SET() would write "
    "past its end (this build aborts instead)";
static_assert(FD_SETSIZE == 1024, "kNeverInAnFdSet names FD_SETSIZE's value");

// Connects more clients at once than FD_SETSIZE, each sending one line.
SwarmCount swarm_past_fd_setsize(TestContext& context) {
    ensure_own_descriptor_limit(kClientsPastFdSetsize + 64);
    std::vector<SwarmClient> clients;
    try {
        clients = open_swarm(context.server, kClientsPastFdSetsize, context.deadline);
    } catch (const TestFailure& failure) {
        if (context.process->running()) throw;
        throw TestFailure(str("while ", kClientsPastFdSetsize,
                              " clients were connecting, the server ",
                              context.process->exit_description(), ". ", kNeverInAnFdSet));
    }
    for (std::size_t i = 0; i < clients.size(); ++i) {
        clients[i].pieces = {str("past FD_SETSIZE, client ", i, "\n")};
        clients[i].expected = clients[i].pieces.front();
    }
    SwarmCount count = run_swarm(clients, 0s, context.deadline);
    context.observed = str(kClientsPastFdSetsize, " clients at once: ", count.str());
    if (!context.process->running())
        throw TestFailure(str(
            kClientsPastFdSetsize, " clients connected at once and sent a line each (", count.str(),
            "); then the server ", context.process->exit_description(), ". ", kNeverInAnFdSet));
    if (count.wrong > 0) throw TestFailure(count.str() + ". First wrong: " + count.first_wrong);
    if (count.waiting > 0)
        throw TestFailure(str(
            kClientsPastFdSetsize, " clients connected at once and sent a line each: ", count.str(),
            ". A client the server cannot watch must be refused (closed at once), "
            "not left waiting for an answer that never comes"));
    return count;
}

void expect_serving_after(TestContext& context, const std::string& after) {
    Connection next = Connection::open(context.server, context.deadline);
    std::string line = "and now?\n";
    next.send(line, context.deadline);
    expect_reply(next, line, line, context.deadline,
                 "After " + after + ", the server must go on serving");
}

void test_fd_setsize_refusal(TestContext& context) {
    SwarmCount count = swarm_past_fd_setsize(context);
    constexpr int kEnoughServed = FD_SETSIZE * 3 / 4;
    if (count.served < kEnoughServed)
        throw TestFailure(str(
            kClientsPastFdSetsize, " clients connected at once and sent a line each: ", count.str(),
            "; at least ", kEnoughServed,
            " should have been served. "
            "Refuse only the clients whose descriptor does not fit in an fd_set"));
    expect_serving_after(context, "refusing the clients past FD_SETSIZE");
}

void test_past_fd_setsize(TestContext& context) {
    SwarmCount count = swarm_past_fd_setsize(context);
    if (count.served < kClientsPastFdSetsize)
        throw TestFailure(
            str(kClientsPastFdSetsize, " clients connected at once (the server may open ",
                kRoomyDescriptorLimit, " descriptors) and sent a line each: ", count.str(),
                ". poll() has no FD_SETSIZE ceiling: every client must be served"));
    expect_serving_after(context, "serving more than FD_SETSIZE clients at once");
}

}  // namespace

const TestCase fd_setsize_refusal{
    .name = "fd_setsize_refusal",
    .category = Category::Concurrency,
    .checks =
        "1,100 clients at once (> FD_SETSIZE): those past it refused cleanly, the rest "
        "served",
    .run = test_fd_setsize_refusal,
    .needs_process = true,
    .limits = {.open_files = kRoomyDescriptorLimit},
};
const TestCase past_fd_setsize{
    .name = "past_fd_setsize",
    .category = Category::Concurrency,
    .checks = "1,100 clients at once (> FD_SETSIZE): every one served",
    .run = test_past_fd_setsize,
    .needs_process = true,
    .limits = {.open_files = kRoomyDescriptorLimit},
};

}  // namespace checker::tests
