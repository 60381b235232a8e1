// Rubric of the POSIX AIO server (labs/aio): the proactor.
#include "../models.hpp"
#include "../test_cases.hpp"

namespace checker {

Rubric aio_rubric() {
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
        {idle_client,               10,  1500ms},
        {stalled_half_line,         10,    3s},
        {idle_cpu,                  10,    3s},
        // More idle clients than glibc's default pool of 20 threads: the pool
        // must be sized (aio_init) for the clients the server accepts.
        {many_idle_clients,         10,    3s},
        // Each idle client holds a pool thread in read(): beyond the pool's
        // size a new client waits. Reported, with the figure, not graded.
        {idle_client_capacity,       0,   10s, Expect::Blocks},
        // The request work runs on the one thread that takes completions: one
        // request in service at a time. Reported, with the figure.
        {overlap,                    0,    3s, Expect::Blocks},
        {system_interfaces,         10,    3s},
    };
    // clang-format on
}

}  // namespace checker
