// The POSIX AIO lab's probes: glibc performs each aio_read() with a blocking
// read() in a pool thread, so idle clients hold threads; how many idle
// clients the server can keep waiting at once shows the pool.
#include "clients.hpp"
#include "probes.hpp"
#include "test_cases.hpp"
#include "text.hpp"

#include <thread>
#include <vector>

namespace checker::tests {

namespace {

// More idle clients than glibc's POSIX AIO pool has threads by default (20).
constexpr int kIdleCrowd = 32;
// The most idle clients idle_client_capacity opens (under the server's 1,024 descriptors).
constexpr int kMostIdle = 250;
// How long a new client waits for its reply before idle_client_capacity calls the server full.
constexpr Duration kProbeWait = 1s;

// The newcomer comes only once the server has taken in the idle crowd, and a
// moment later, so that it tests the pool, not the order of arrival. glibc
// serves its queue out of order: while a pool thread that was told of work has
// not woken yet, new requests are queued for it, and a request submitted later
// may find the pool below its 20 threads and get a thread of its own. A client
// that came right behind the crowd could be served by that luck.
void let_the_crowd_settle(const TestContext& context, int baseline) {
    if (context.process)
        settled_count(*context.process, baseline + kIdleCrowd, context.deadline.sooner(1s));
    std::this_thread::sleep_for(100ms);
}

void test_many_idle_clients(TestContext& context) {
    int baseline = context.process ? context.process->open_descriptors() : 0;
    std::vector<Connection> idle;
    for (int i = 0; i < kIdleCrowd; ++i)
        idle.push_back(Connection::open(context.server, context.deadline));
    let_the_crowd_settle(context, baseline);
    Connection next = Connection::open(context.server, context.deadline);
    std::string line = "am I served while 32 clients sit idle?\n";
    Clock::time_point sent = Clock::now();
    next.send(line, context.deadline);
    expect_reply(
        next, line, line, context.deadline,
        str(kIdleCrowd, " clients are connected and send nothing; this one came after them. ") +
            "A server that ties up a thread for every client waiting for input stops answering once all its "
            "threads wait: glibc's POSIX AIO performs each aio_read() with a blocking read() in a pool thread, "
            "20 threads unless aio_init() asks for more, and queues the requests beyond that");
    context.observed =
        str("client ", kIdleCrowd + 1, " was answered in ", milliseconds(Clock::now() - sent),
            " ms while ", kIdleCrowd, " sat idle");
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
            context.observed =
                "at most " + clients(idle.size()) + " idle at once" + threads_now(context);
            throw TestFailure(
                str("with ", clients(idle.size()), " idle, client ", idle.size() + 1,
                    " sent a line and got nothing within ", milliseconds(kProbeWait), " ms",
                    threads_now(context), ": this server keeps at most ", clients(idle.size()),
                    " waiting for input at once. ") +
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

const TestCase many_idle_clients{
    .name = "many_idle_clients",
    .category = Category::Concurrency,
    .checks = "a 33rd client is served while 32 sit idle (more than glibc's 20 AIO threads)",
    .run = test_many_idle_clients,
};
const TestCase idle_client_capacity{
    .name = "idle_client_capacity",
    .category = Category::Concurrency,
    .checks = "idle clients are added until a new one goes unanswered (at most 250)",
    .run = test_idle_client_capacity,
};

}  // namespace checker::tests
