// concurrency: one client must not hold up the others.
#include "clients.hpp"
#include "test_cases.hpp"

#include <thread>

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

void test_stalled_half_line(TestContext& context) {
    Connection stalled = Connection::open(context.server, context.deadline);
    std::string first_half = "the first half of a line, ";
    std::string second_half = "and the rest of it\n";
    stalled.send(first_half, context.deadline);
    std::this_thread::sleep_for(100ms);   // time for the server to start reading it
    Connection second = Connection::open(context.server, context.deadline);
    std::string line = "am I served while the first client is in the middle of a line?\n";
    second.send(line, context.deadline);
    expect_reply(second, line, line, context.deadline,
                 "A first client sent half a line, without its '\\n', and stopped. A server that, once a client "
                 "has sent something, reads on until the end of the line (a blocking recv() loop) is stuck with it: "
                 "readable means some bytes have arrived, not a whole line. Each client needs its own process or "
                 "thread, or an event loop that keeps each client's partial line and goes back to waiting");
    stalled.send(second_half, context.deadline);
    expect_reply(stalled, first_half + second_half + " (in two parts, the second after the other client was served)",
                 first_half + second_half, context.deadline,
                 "The first half of the line must be kept until the rest arrives");
    context.observed = "the second client was served while the first had sent half a line";
}

constexpr int kCrowd = 100;

// Three lines of about 100 bytes, different for every client, so that bytes
// delivered to the wrong connection are noticed.
std::string message_of_client(int client) {
    std::string message;
    for (int line = 1; line <= 3; ++line) {
        std::string text = "client " + std::to_string(client) + " line " + std::to_string(line) + " ";
        text.resize(100, static_cast<char>('a' + (client + line) % 26));
        message += text + "\n";
    }
    return message;
}

void test_hundred_clients(TestContext& context) {
    ClientCrowd crowd(context.server, kCrowd, context.deadline);
    std::vector<std::string> messages;
    for (int i = 1; i <= kCrowd; ++i) messages.push_back(message_of_client(i));
    std::vector<ReadResult> replies = crowd.send_and_read(messages, context.deadline);
    int exact = 0;
    int first_wrong = -1;
    for (int i = 0; i < kCrowd; ++i) {
        if (replies[i].data == messages[i]) ++exact;
        else if (first_wrong < 0) first_wrong = i;
    }
    context.observed = std::to_string(exact) + " of " + std::to_string(kCrowd) + " clients got their lines back";
    if (first_wrong < 0) return;
    const ReadResult& reply = replies[first_wrong];
    std::string what_came = reply.data.empty() ? "got nothing: " + reply.how()
                                               : describe_difference(messages[first_wrong], reply.data) + "; " + reply.how();
    throw TestFailure(std::to_string(kCrowd) + " clients connected, then each sent 3 lines of its own (" +
                      std::to_string(messages[0].size()) + " bytes) and all stayed connected; " + std::to_string(exact) +
                      " got their lines back byte for byte. Client " + std::to_string(first_wrong + 1) + " " +
                      what_came + ". A server that serves a fixed number of clients at a time (a pool of threads or "
                      "processes each blocked on one client) makes the others wait; bytes from another client's "
                      "lines mean state shared between connections");
}

}  // namespace

const TestCase stalled_half_line{"stalled_half_line", Category::Concurrency,
                                 "a second client is served while a first one stops in the middle of a line",
                                 test_stalled_half_line};
const TestCase hundred_clients{"hundred_clients", Category::Concurrency,
                               "100 clients connected at once, each gets its own 3 lines back byte for byte",
                               test_hundred_clients};
const TestCase idle_client{"idle_client", Category::Concurrency,
                           "a second client is served while a first one sits idle", test_idle_client};

}  // namespace checker::tests
