// Coroutines on a reactor (coro): waiting is not working. A thousand
// requests that each wait (--delay-us, like a database query) are all in
// service at once, while the process runs one I/O thread plus its fixed
// offload pool. The binary's imports cannot tell this model from a
// hand-written epoll loop (both import epoll_wait, and coroutines are a
// compiler feature, not a library call); what can be seen from outside is
// the behaviour: the overlap, and the thread count while the requests wait.
#include "clients.hpp"
#include "proc_files.hpp"
#include "probes.hpp"
#include "test_cases.hpp"
#include "text.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <stop_token>
#include <thread>

namespace checker::tests {

namespace {

constexpr int kWaitingClients = 1000;
constexpr long kWaitDelayUs = 500'000;
constexpr int kOffloadThreads = 2;
const std::vector<std::string> kWaitingArguments{"--delay-us", std::to_string(kWaitDelayUs),
                                                 "--workers", std::to_string(kOffloadThreads)};

// What the server did while kWaitingClients requests each waited kWaitDelayUs.
struct Waiting {
    SwarmCount count;
    double in_service = 0;  // requests in service at once, on average
    Duration wall{};
    int most_threads = 0;  // the most threads /proc showed meanwhile
    std::size_t processes = 0;

    std::string str() const {
        char text[200];
        std::snprintf(text, sizeof text,
                      "%d requests of %ld ms each took %.2f s in all: %.0f in service at once; "
                      "the server ran at most %d thread(s) meanwhile",
                      kWaitingClients, kWaitDelayUs / 1000, seconds(wall), in_service,
                      most_threads);
        return text;
    }
};

// Sends one request on each of kWaitingClients connections at once and
// collects the replies, counting the server's threads from another thread
// of the checker meanwhile.
Waiting measure_waiting(TestContext& context) {
    ensure_own_descriptor_limit(kWaitingClients + 64);
    std::vector<SwarmClient> clients =
        open_swarm(context.server, kWaitingClients, context.deadline);
    for (std::size_t i = 0; i < clients.size(); ++i) {
        clients[i].pieces = {str("request ", i, ", served after a 500 ms wait\n")};
        clients[i].expected = clients[i].pieces.front();
        clients[i].half_close = true;
    }
    Waiting seen;
    std::atomic<int> most{0};
    {
        // /proc is read from a thread of the checker's own while the swarm
        // runs (jthread: stopped and joined at the end of the block, even
        // when the swarm throws).
        std::jthread sampler([&context, &most](std::stop_token stop) {
            while (!stop.stop_requested()) {
                most.store(std::max(most.load(), context.process->thread_count()));
                std::this_thread::sleep_for(20ms);
            }
        });
        Clock::time_point start = Clock::now();
        // Four times the wait, and more: a busy machine, a sanitizer. A server
        // that serves the requests one after another needs 500 s.
        seen.count = run_swarm(clients, 0s, context.deadline.sooner(4 * 500ms + 2s));
        seen.wall = Clock::now() - start;
        seen.processes = context.process->processes().size();
    }
    seen.most_threads = most.load();
    seen.in_service = seen.count.served * (kWaitDelayUs / 1e6) / seconds(seen.wall);
    return seen;
}

std::string situation(const Waiting& seen) {
    return str(kWaitingClients,
               " clients sent one request each at the same moment to a server "
               "started with --delay-us ",
               kWaitDelayUs, " --workers ", kOffloadThreads, ": ", seen.count.str(), "; ",
               seen.str());
}

void test_overlap_one_thread(TestContext& context) {
    Waiting seen = measure_waiting(context);
    context.observed = seen.str();
    if (seen.count.served == 0 && seen.count.refused == 0)
        throw TestFailure(str(
            situation(seen),
            ". Not one reply: the loop thread is stuck. A lock held across co_await does that: "
            "the coroutine that holds it suspends, the next one to take it blocks the only thread, "
            "and the holder can never be resumed to release it (a deadlock). Release locks before "
            "co_await; on one thread, state needs no lock at all"));
    if (seen.in_service < kWaitingClients / 4.0)
        throw TestFailure(str(
            situation(seen), "; about ", kWaitingClients,
            " were expected. Waiting is not working: a blocking call inside a coroutine (usleep() "
            "or nanosleep() for the delay, a blocking recv()) stops the loop thread and every "
            "coroutine with it. co_await sleep_for() instead: the coroutine suspends on a timer "
            "and the loop serves the others"));
}

void test_one_io_thread(TestContext& context) {
    Waiting seen = measure_waiting(context);
    int allowed = 1 + kOffloadThreads + (runs_thread_sanitizer(context.process->pid()) ? 1 : 0);
    context.observed = str(seen.str(), ", in ", seen.processes, " process(es)");
    if (seen.most_threads > allowed || seen.processes != 1)
        throw TestFailure(str(
            situation(seen), ", in ", seen.processes, " process(es); at most ", 1 + kOffloadThreads,
            " threads in one process were expected: the loop thread, which runs every coroutine, "
            "and the offload pool of exactly --workers threads, started once. A thread per client "
            "or per request is the thread-per-client model, not coroutines"));
}

// CPU work is the pool's: a request's --compute-us runs on a pool thread,
// never on the loop thread (which would stop every other coroutine), and no
// more requests compute at once than the pool has threads.
constexpr int kComputeClients = 8;
constexpr long kComputeUs = 50'000;

// CPU time of the server's first thread, the one that runs main() and the
// loop (its thread id is the process id), from /proc/PID/task/PID/schedstat.
double loop_thread_cpu_seconds(pid_t pid) {
    std::string path =
        "/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/schedstat";
    return static_cast<double>(std::atoll(read_first_line(path).c_str())) * 1e-9;
}

void test_compute_in_pool(TestContext& context) {
    std::vector<SwarmClient> clients =
        open_swarm(context.server, kComputeClients, context.deadline);
    for (std::size_t i = 0; i < clients.size(); ++i) {
        clients[i].pieces = {str("request ", i, ", served after 50 ms of CPU work\n")};
        clients[i].expected = clients[i].pieces.front();
        clients[i].half_close = true;
    }
    std::this_thread::sleep_for(100ms);  // the server takes up every connection first
    pid_t pid = context.process->pid();
    double loop_before = loop_thread_cpu_seconds(pid);
    Clock::time_point start = Clock::now();
    // Ten times the work, and more: a busy machine, a sanitizer.
    SwarmCount count = run_swarm(clients, 0s, context.deadline.sooner(4s));
    Duration wall = Clock::now() - start;
    // A thread that has ended reads as 0 (the server died, which the test reports): not negative.
    double loop_ms = std::max(0.0, loop_thread_cpu_seconds(pid) - loop_before) * 1000;
    double work_ms = kComputeClients * kComputeUs / 1000.0;
    double in_service = count.served * (kComputeUs / 1e6) / seconds(wall);
    char figures[200];
    std::snprintf(figures, sizeof figures,
                  "%d requests of %ld ms of CPU each took %.2f s in all (%.1f in service at once); "
                  "the loop thread used %.0f ms of CPU of the %.0f",
                  kComputeClients, kComputeUs / 1000, seconds(wall), in_service, loop_ms, work_ms);
    context.observed = figures;
    std::string situation =
        str(kComputeClients,
            " clients sent one request each at the same moment to a server "
            "started with --compute-us ",
            kComputeUs, " --workers ", kOffloadThreads, ": ", count.str(), "; ", figures);
    if (count.served != kComputeClients)
        throw TestFailure(str(situation, ". Every request must be answered, its work done"));
    if (loop_ms > work_ms / 4)
        throw TestFailure(str(
            situation,
            ". The CPU work ran on the loop thread: while it computes, no other "
            "coroutine runs and no socket is served. co_await offload() hands it to the pool, and "
            "the coroutine resumes on the loop thread when it is done"));
    if (in_service > kOffloadThreads + 0.5)
        throw TestFailure(str(situation, "; with --workers ", kOffloadThreads, " no more than ",
                              kOffloadThreads,
                              " can be: the work must run on the pool's --workers "
                              "threads, not on a thread of its own"));
}

}  // namespace

const TestCase compute_in_pool{
    .name = "compute_in_pool",
    .category = Category::Concurrency,
    .checks =
        "8 requests of 50 ms CPU (--compute-us), --workers 2: on the pool, not the loop thread",
    .run = test_compute_in_pool,
    .needs_process = true,
    .arguments = {"--compute-us", std::to_string(kComputeUs), "--workers",
                  std::to_string(kOffloadThreads)},
};
const TestCase overlap_one_thread{
    .name = "overlap_one_thread",
    .category = Category::Concurrency,
    .checks =
        "1,000 requests at once, each waiting 500 ms (--delay-us): hundreds in service at once",
    .run = test_overlap_one_thread,
    .needs_process = true,
    .limits = {.open_files = kWaitingClients + 512},
    .arguments = kWaitingArguments,
};
const TestCase one_io_thread{
    .name = "one_io_thread",
    .category = Category::Conformance,
    .checks = "while 1,000 requests wait, --workers 2: one loop thread + the pool, one process",
    .run = test_one_io_thread,
    .needs_process = true,
    .limits = {.open_files = kWaitingClients + 512},
    .arguments = kWaitingArguments,
};

}  // namespace checker::tests
