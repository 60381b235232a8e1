// Rubric of the iterative blocking server (labs/blocking).
#include "../test_cases.hpp"

namespace checker {

Lab blocking_lab() {
    using namespace tests;
    return {"blocking", "iterative: one client at a time, blocking calls", {
        // test                 points  timeout  expected of this model
        {one_line,                  10,    3s},
        {pipelined_lines,           10,    3s},
        {large_payload,             10,    8s},
        {any_byte_values,           10,    3s},
        {trickled_line,             10,    3s},
        {partial_line_at_eof,       10,    3s},
        {overlong_line,             10,    3s},
        {concurrent_streams,        10,    3s},
        {client_reset,              10,    3s},
        {sigterm_exit,              10,    3s},
        {no_descriptor_leak,        10,    8s},
        // An iterative server serves one client at a time: an idle client
        // holds everyone else up. Reported, not graded.
        {idle_client,                0,  1500ms, Expect::Blocks},
        {many_idle_clients,          0,  1500ms, Expect::Blocks},
        {idle_client_capacity,       0,    3s, Expect::Blocks},
    }};
}

}  // namespace checker
