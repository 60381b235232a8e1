// resources: descriptors, processes and threads come back when clients leave.
#include "test_cases.hpp"

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

void test_no_descriptor_leak(TestContext& context) {
    auto exchange_one_line = [&](int number) {
        Connection client = Connection::open(context.server, context.deadline);
        std::string line = "connection " + std::to_string(number) + "\n";
        client.send(line, context.deadline);
        expect_reply(client, line, line, context.deadline);
    };
    exchange_one_line(0);
    int baseline = settled_descriptors(*context.process, 0, Deadline(100ms));
    for (int i = 1; i <= kSequentialClients; ++i) {
        try {
            exchange_one_line(i);
        } catch (const TestFailure& failure) {
            throw TestFailure("connection " + std::to_string(i) + " of " + std::to_string(kSequentialClients) +
                              " (one line each, then close) failed: " + failure.what() + ". The server runs with " +
                              std::to_string(kLowDescriptorLimit) + " descriptors and had " +
                              std::to_string(baseline) + " open at the start, " +
                              std::to_string(context.process->open_descriptors()) +
                              " now: a server that does not close each connection runs out");
        }
    }
    int after = settled_descriptors(*context.process, baseline + 1, context.deadline.sooner(1s));
    context.observed = "open descriptors: " + std::to_string(baseline) + " before, " + std::to_string(after) +
                       " after " + std::to_string(kSequentialClients) + " connections";
    if (after > baseline + 1)
        throw TestFailure(std::to_string(kSequentialClients) + " clients connected, sent a line and closed; the "
                          "server's open descriptors went from " + std::to_string(baseline) + " to " +
                          std::to_string(after) + ": every accepted connection must be closed once its client is done");
}

}  // namespace

const TestCase no_descriptor_leak{"no_descriptor_leak", Category::Resources,
                                  "1,000 sequential clients under a 64-descriptor limit; no descriptor leaks",
                                  test_no_descriptor_leak, /*needs_process=*/true,
                                  ServerLimits{.open_files = kLowDescriptorLimit}};

}  // namespace checker::tests
