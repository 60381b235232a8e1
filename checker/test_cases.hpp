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
extern const TestCase pipelined_clients;
extern const TestCase requests_in_sequence;

// robustness_tests.cpp
extern const TestCase client_reset;
extern const TestCase sigterm_exit;
extern const TestCase short_io;
extern const TestCase bounded_memory;
extern const TestCase descriptor_exhaustion;
extern const TestCase idle_cpu;

// resources_tests.cpp
extern const TestCase no_descriptor_leak;
extern const TestCase no_zombie_children;
extern const TestCase thread_count_returns;

// concurrency_tests.cpp
extern const TestCase idle_client;
extern const TestCase slow_reader;
extern const TestCase many_clients;
extern const TestCase fd_setsize_refusal;
extern const TestCase past_fd_setsize;
extern const TestCase stalled_half_line;
extern const TestCase hundred_clients;

// conformance_tests.cpp
extern const TestCase process_per_client;
extern const TestCase thread_per_client;
extern const TestCase single_thread;
extern const TestCase system_interfaces;
extern const TestCase many_idle_clients;
extern const TestCase idle_client_capacity;

extern const TestCase slow_clients;
extern const TestCase overlap;
extern const TestCase overlap_pool;
extern const TestCase c10k;

// event_loop_conformance_tests.cpp
extern const TestCase loop_and_pool_threads;

}  // namespace checker::tests
