// Every test the checker knows, grouped by category. A lab's rubric picks
// from these (checker/rubrics/LAB.cpp).
#pragma once

#include "rubric.hpp"

namespace checker::tests {

// General tests: each applies to every model whose concept it checks.

// correctness_tests.cpp: the protocol, byte for byte
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

// concurrency_tests.cpp: one client must not hold up the others
extern const TestCase idle_client;
extern const TestCase slow_reader;
extern const TestCase many_clients;
extern const TestCase stalled_half_line;
extern const TestCase hundred_clients;
extern const TestCase slow_clients;
extern const TestCase overlap;
extern const TestCase overlap_pool;
extern const TestCase c10k;

// robustness_tests.cpp: resets, signals, short I/O, memory, descriptors, idling
extern const TestCase client_reset;
extern const TestCase sigterm_exit;
extern const TestCase short_io;
extern const TestCase bounded_memory;
extern const TestCase descriptor_exhaustion;
extern const TestCase idle_cpu;

// resources_tests.cpp: descriptors, processes and threads come back
extern const TestCase no_descriptor_leak;
extern const TestCase no_zombie_children;
extern const TestCase thread_count_returns;

// conformance_tests.cpp: the server is the model it claims to be
extern const TestCase process_per_client;
extern const TestCase thread_per_client;
extern const TestCase single_thread;
extern const TestCase system_interfaces;

// Tests of one model's own concept, each beside its model.

// fd_setsize_tests.cpp: select's FD_SETSIZE ceiling, and the models without it (poll, epoll)
extern const TestCase fd_setsize_refusal;
extern const TestCase past_fd_setsize;

// epoll_tests.cpp: a loop and a fixed pool of workers (epoll)
extern const TestCase loop_and_pool_threads;
// and one loop per thread, each with its epoll set and listener (reactors)
extern const TestCase loop_per_thread;

// coro_tests.cpp: many requests waiting at once on one I/O thread (coro)
extern const TestCase overlap_one_thread;
extern const TestCase one_io_thread;
extern const TestCase compute_in_pool;

// pool_tests.cpp: pools of workers made in advance (prefork, prethread)
extern const TestCase pool_of_processes;
extern const TestCase pool_of_threads;
extern const TestCase pool_replaces_workers;

// aio_tests.cpp: glibc's POSIX AIO pool (aio)
extern const TestCase many_idle_clients;
extern const TestCase idle_client_capacity;

// uring_tests.cpp: io_uring's ring of provided receive buffers (uring)
extern const TestCase buffer_ring_dry;

}  // namespace checker::tests
