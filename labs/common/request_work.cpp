#include "request_work.hpp"

#include <ctime>

namespace iolab {

namespace {

long long thread_cpu_ns() {
    timespec now{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return now.tv_sec * 1'000'000'000LL + now.tv_nsec;
}

}  // namespace

void simulate_request_work(const Options& options) {
    simulate_request_wait(options);
    simulate_request_compute(options);
}

void simulate_request_wait(const Options& options) {
    if (options.delay_us > 0) {
        timespec delay{options.delay_us / 1'000'000, (options.delay_us % 1'000'000) * 1000};
        // A signal cuts the sleep short (EINTR); that is fine during shutdown.
        ::nanosleep(&delay, nullptr);
    }
}

void simulate_request_compute(const Options& options) {
    if (options.compute_us > 0) {
        // Thread CPU time, not wall time: preemption does not shorten the work.
        long long until = thread_cpu_ns() + options.compute_us * 1000LL;
        volatile unsigned long sink = 0;
        while (thread_cpu_ns() < until)
            for (int i = 0; i < 1000; ++i) sink = sink * 31 + static_cast<unsigned long>(i);
    }
}

}  // namespace iolab
