// concurrency: one client must not hold up the others.
#include "test_cases.hpp"

#include <chrono>
#include <vector>

namespace checker::tests {

namespace {

// More idle clients than glibc's POSIX AIO pool has threads by default (20).
constexpr int kIdleCrowd = 32;
// The most idle clients idle_client_capacity opens (under the server's 1,024 descriptors).
constexpr int kMostIdle = 250;
// How long a new client waits for its reply before idle_client_capacity calls the server full.
constexpr Duration kProbeWait = 1s;

std::string clients(std::size_t count) { return std::to_string(count) + (count == 1 ? " client" : " clients"); }

int milliseconds(Duration d) {
    return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// ", the server running N threads", from /proc (nothing with --connect).
std::string threads_now(const TestContext& context) {
    int threads = context.process ? context.process->thread_count() : -1;
    return threads > 0 ? ", the server running " + std::to_string(threads) + (threads == 1 ? " thread" : " threads")
                       : "";
}

// A fresh client sends one line; true if the reply came back in time.
bool new_client_served(const Endpoint& server, Deadline deadline) {
    Connection probe;
    std::string why;
    if (!Connection::try_open(server, deadline, probe, why)) return false;
    std::string line = "a new client\n";
    try {
        probe.send(line, deadline);
        return probe.read_exact(line.size(), deadline).data == line;
    } catch (const TestFailure&) {
        return false;
    }
}

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

void test_many_idle_clients(TestContext& context) {
    std::vector<Connection> idle;
    for (int i = 0; i < kIdleCrowd; ++i) idle.push_back(Connection::open(context.server, context.deadline));
    Connection next = Connection::open(context.server, context.deadline);
    std::string line = "am I served while 32 clients sit idle?\n";
    Clock::time_point sent = Clock::now();
    next.send(line, context.deadline);
    expect_reply(next, line, line, context.deadline,
                 std::to_string(kIdleCrowd) + " clients are connected and send nothing; this one came after them. "
                 "A server that ties up a thread for every client waiting for input stops answering once all its "
                 "threads wait: glibc's POSIX AIO performs each aio_read() with a blocking read() in a pool thread, "
                 "20 threads unless aio_init() asks for more, and queues the requests beyond that");
    context.observed = "client " + std::to_string(kIdleCrowd + 1) + " was answered in " +
                       std::to_string(milliseconds(Clock::now() - sent)) + " ms while " + std::to_string(kIdleCrowd) +
                       " sat idle";
}

// Adds idle clients one at a time and, after each, checks that a new client
// is still answered: the number of clients the server can keep waiting for
// input at once. Reports it; a model with a fixed pool of threads stops there.
void test_idle_client_capacity(TestContext& context) {
    std::vector<Connection> idle;
    while (static_cast<int>(idle.size()) < kMostIdle) {
        if (context.deadline.remaining() < kProbeWait + 500ms) {
            context.observed = "a new client was still answered with " + clients(idle.size()) +
                               " idle when the test's time ran out" + threads_now(context);
            return;
        }
        if (!new_client_served(context.server, Deadline(kProbeWait))) {
            context.observed = "at most " + clients(idle.size()) + " idle at once" + threads_now(context);
            throw TestFailure("with " + clients(idle.size()) + " idle, client " + std::to_string(idle.size() + 1) +
                              " sent a line and got nothing within " + std::to_string(milliseconds(kProbeWait)) +
                              " ms" + threads_now(context) + ": this server keeps at most " + clients(idle.size()) +
                              " waiting for input at once. "
                              "Where a waiting client holds a thread, that is the number of threads: one in an "
                              "iterative server; the pool's size with glibc's POSIX AIO, whose pool thread blocks in "
                              "read() for every pending aio_read");
        }
        idle.push_back(Connection::open(context.server, context.deadline));
    }
    context.observed = "a new client was still answered with " + clients(kMostIdle) +
                       " idle (the most this test opens)" + threads_now(context);
}

}  // namespace

const TestCase idle_client{"idle_client", Category::Concurrency,
                           "a second client is served while a first one sits idle", test_idle_client};
const TestCase many_idle_clients{"many_idle_clients", Category::Concurrency,
                                 "a 33rd client is served while 32 sit idle (more than glibc's 20 AIO threads)",
                                 test_many_idle_clients};
const TestCase idle_client_capacity{"idle_client_capacity", Category::Concurrency,
                                    "idle clients are added until a new one goes unanswered (at most 250)",
                                    test_idle_client_capacity};

}  // namespace checker::tests
