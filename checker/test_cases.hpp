// Every test the checker knows, grouped by category. A lab's rubric picks
// from these (checker/rubrics/LAB.cpp).
#pragma once

#include "rubric.hpp"

namespace checker::tests {

// correctness_tests.cpp
extern const TestCase one_line;
extern const TestCase pipelined_lines;
extern const TestCase large_payload;
extern const TestCase any_byte_values;
extern const TestCase trickled_line;
extern const TestCase partial_line_at_eof;
extern const TestCase overlong_line;
extern const TestCase concurrent_streams;

// robustness_tests.cpp
extern const TestCase client_reset;
extern const TestCase sigterm_exit;

// resources_tests.cpp
extern const TestCase no_descriptor_leak;

// concurrency_tests.cpp
extern const TestCase idle_client;
extern const TestCase many_idle_clients;
extern const TestCase idle_client_capacity;

// conformance_aio_tests.cpp
extern const TestCase uses_posix_aio;

}  // namespace checker::tests
