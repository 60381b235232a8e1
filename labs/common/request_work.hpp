// The simulated business logic behind each request, so that the models can be
// compared on more than a bare echo. It runs wherever a model processes
// requests: on the loop thread, in a worker, in a child process.
#pragma once

#include "options.hpp"

namespace iolab {

// Sleeps --delay-us (a blocking call such as a database query: the thread
// waits, the CPU is free), then burns --compute-us of this thread's CPU time.
void simulate_request_work(const Options& options);

// Its two halves, for a model that waits and computes in different places
// (the coro lab waits on its loop's timers and computes in a pool).
void simulate_request_wait(const Options& options);     // --delay-us
void simulate_request_compute(const Options& options);  // --compute-us

}  // namespace iolab
