// concurrency: one client must not hold up the others.
#include "test_cases.hpp"

namespace checker::tests {

namespace {

void test_idle_client(TestContext& context) {
    Connection idle = Connection::open(context.server, context.deadline);
    Connection second = Connection::open(context.server, context.deadline);
    std::string line = "am I served while the first client sits idle?\n";
    second.send(line, context.deadline);
    expect_reply(second, line, line, context.deadline,
                 "A first client is connected and sends nothing. A server that blocks in recv() on it cannot "
                 "answer anyone else: each client needs its own process or thread, or one thread that waits on "
                 "all sockets at once (select, poll, epoll)");
    context.observed = "the second client was served while the first sat idle";
}

}  // namespace

const TestCase idle_client{"idle_client", Category::Concurrency,
                           "a second client is served while a first one sits idle", test_idle_client};

}  // namespace checker::tests
