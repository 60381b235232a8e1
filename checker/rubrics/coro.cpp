// Rubric of coroutines on a reactor (labs/coro). The tests of the epoll loop,
// and one new expectation: requests that wait overlap by the thousand on one
// I/O thread (overlap_one_thread), and the process runs that thread plus a
// fixed offload pool, however many requests wait (one_io_thread). The
// binary's imports cannot tell coroutines from a hand-written epoll loop
// (both import epoll; coroutines are compiled, not called), so conformance is
// seen in behaviour: the thread count while a thousand requests wait. A
// thread-per-client server handed in here fails one_io_thread.
#include "../models.hpp"
#include "../test_cases.hpp"

namespace checker {

Rubric coro_rubric() {
    using namespace tests;
    // the table is aligned by hand, a column per field (clang-format leaves it so):
    // clang-format off
    return {
        // test                 points  timeout  expected of this model
        {one_line,                  10,    3s},
        {pipelined_lines,           10,    3s},
        {large_payload,             10,    8s},
        {any_byte_values,           10,    3s},
        {trickled_line,             10,    3s},
        {partial_line_at_eof,       10,    3s},
        {overlong_line,             10,    3s},
        {concurrent_streams,        10,    3s},
        {pipelined_clients,         10,    5s},
        {requests_in_sequence,      10,    3s},
        {idle_client,               10,    3s},
        {stalled_half_line,         10,    3s},
        {hundred_clients,           10,   10s},
        {slow_reader,               10,    5s},
        {many_clients,              10,    5s},
        {slow_clients,              10,    3s},
        {past_fd_setsize,           10,    8s},
        {c10k,                      10,   15s},
        {overlap,                   10,    3s},
        {overlap_one_thread,        10,   10s},
        {compute_in_pool,           10,    8s},
        {client_reset,              10,    3s},
        {sigterm_exit,              10,    3s},
        {short_io,                  10,    8s},
        {bounded_memory,            10,    8s},
        {descriptor_exhaustion,     10,    8s},
        {idle_cpu,                  10,    3s},
        {no_descriptor_leak,        10,    8s},
        {one_io_thread,             10,   10s},
        {system_interfaces,         10,    3s},
    };
    // clang-format on
}

}  // namespace checker
