// The io_uring lab's own test: its ring of provided receive buffers may run
// dry, and that must cost a connection nothing.
#include "clients.hpp"
#include "test_cases.hpp"
#include "text.hpp"

#include <vector>

namespace checker::tests {

namespace {

// Receive buffers the server is started with (--workers), and more clients
// than that sending at once, round after round: the kernel completes a
// receive for each socket that has bytes, and all but two find no buffer.
constexpr int kDryBuffers = 2;
constexpr int kDryClients = 64;
constexpr int kDryRounds = 4;

void test_buffer_ring_dry(TestContext& context) {
    std::vector<SwarmClient> clients = open_swarm(context.server, kDryClients, context.deadline);
    for (std::size_t i = 0; i < clients.size(); ++i) {
        for (int round = 0; round < kDryRounds; ++round) {
            std::string line = str("dry ring, client ", i, ", round ", round, " ");
            line.resize(1000, static_cast<char>('a' + (i + round) % 26));
            clients[i].pieces.push_back(line + "\n");
            clients[i].expected += line + "\n";
        }
    }
    SwarmCount count = run_swarm(clients, 20ms, context.deadline);
    std::string situation =
        str("with ", kDryBuffers, " provided buffers (--workers ", kDryBuffers, ") and ",
            kDryClients, " clients sending at once, ", kDryRounds, " rounds: ", count.str());
    context.observed = situation;
    if (!context.process->running())
        throw TestFailure(situation + "; the server " + context.process->exit_description());
    if (count.served == kDryClients) return;
    std::string cause =
        count.refused > 0 || count.closed_midway > 0
            ? ". A connection was closed when its receive found no buffer: -ENOBUFS is not an "
              "error of the connection, its bytes wait in the socket"
        : count.waiting > 0
            ? ". A connection was left without a receive: a multishot receive that ends (its "
              "CQE without IORING_CQE_F_MORE, -ENOBUFS when the ring runs dry) must be armed "
              "again"
            : "";
    if (count.wrong > 0) cause += ". First wrong: " + count.first_wrong;
    throw TestFailure(situation + cause +
                      ". When the ring of provided buffers runs dry, each receive that needed "
                      "one ends with -ENOBUFS: give the buffers back as soon as their bytes "
                      "are consumed, then arm those receives again");
}

}  // namespace

const TestCase buffer_ring_dry{
    .name = "buffer_ring_dry",
    .category = Category::Robustness,
    .checks =
        "64 clients send at once to a server with 2 receive buffers (--workers 2): "
        "all served",
    .run = test_buffer_ring_dry,
    .needs_process = true,
    .arguments = {"--workers", "2"},
};

}  // namespace checker::tests
