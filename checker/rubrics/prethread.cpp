// Rubric of the pre-threaded server: a pool of threads made at start (labs/prethread).
#include "../models.hpp"
#include "../test_cases.hpp"

namespace checker {

Rubric prethread_rubric() {
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
        {client_reset,              10,    3s},
        {sigterm_exit,              10,    3s},
        {no_descriptor_leak,        10,   10s},
        {thread_count_returns,      10,    5s},
        {idle_client,               10,    3s},
        {stalled_half_line,         10,    3s},
        {slow_reader,               10,    5s},
        {short_io,                  10,    8s},
        {bounded_memory,            10,    8s},
        {descriptor_exhaustion,     10,    8s},
        {idle_cpu,                  10,    3s},
        {pool_of_threads,           10,    5s},
        {system_interfaces,         10,    3s},
        {overlap_pool,              10,    3s},
        // The pool is the limit: --workers clients are served at once, each by
        // a worker blocked on it, and the next ones wait in the listen backlog
        // until a worker is free. Reported, not graded.
        {hundred_clients,            0,  1500ms, Expect::Blocks},
        {slow_clients,               0,  1500ms, Expect::Blocks},
        {many_clients,               0,  1500ms, Expect::Blocks},
        {c10k,                       0,    4s,   Expect::Blocks},
    };
    // clang-format on
}

}  // namespace checker
