// Rubric of the iterative blocking server (labs/blocking).
#include "../models.hpp"
#include "../test_cases.hpp"

namespace checker {

Rubric blocking_rubric() {
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
        {no_descriptor_leak,        10,    8s},
        {short_io,                  10,    8s},
        {bounded_memory,            10,    8s},
        {descriptor_exhaustion,     10,    8s},
        {idle_cpu,                  10,    3s},
        {single_thread,             10,    3s},
        {system_interfaces,         10,    3s},
        // An iterative server serves one client at a time: an idle client, one
        // that stops in the middle of a line, or one that does not read its
        // replies holds everyone else up. Reported, not graded.
        {idle_client,                0,  1500ms, Expect::Blocks},
        {stalled_half_line,          0,  1500ms, Expect::Blocks},
        {slow_reader,                0,  1500ms, Expect::Blocks},
        {many_clients,               0,  1500ms, Expect::Blocks},
        {overlap,                    0,  1500ms, Expect::Blocks},
        {c10k,                       0,    4s,   Expect::Blocks},
    };
    // clang-format on
}

}  // namespace checker
