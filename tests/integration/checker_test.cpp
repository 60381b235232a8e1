// The checker grades honestly: every reference solution earns full marks,
// every stub earns nothing without hanging, and every deliberately broken
// server in tests/fixtures is caught by the test that names its defect.
#include "rubric.hpp"
#include "run_checker.hpp"
#include "unique_fd.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

namespace {

using iolab_test::build_dir;
using iolab_test::grade;

// Each broken server and the test that must catch it.
struct Catch {
    const char* fixture;          // tests/fixtures/FIXTURE.cpp
    const char* lab;              // graded as this lab
    const char* test;             // this test must fail
    const char* says;             // and its message must say this
    const char* cause = nullptr;  // and, when its symptom shows the mistake, its first line
                                  // must be "Likely cause: ", saying this; otherwise no such line
};

// In the cause column: the symptom shows the cause in some runs only (a race
// that hangs the connection as often as it overlaps its requests): not asserted.
constexpr const char* kCauseInSomeRuns = "";

// the table is aligned by hand, a column per field (clang-format leaves it so):
// clang-format off
const Catch kCatches[] = {
    // fixture                lab          test                   message contains
    {"silent",               "blocking", "one_line",            "got nothing"},
    {"first_line_only",      "blocking", "pipelined_lines",     "One recv() can return several lines"},
    {"drops_short_writes",   "blocking", "large_payload",       "Partial writes"},
    {"c_string_lines",       "blocking", "any_byte_values",     "C string"},
    {"no_partial_lines",     "blocking", "trickled_line",       "partial line"},
    {"drops_partial_at_eof", "blocking", "partial_line_at_eof", "trailing partial line"},
    {"unbounded_lines",      "blocking", "overlong_line",       "ERR line too long"},
    {"dies_of_sigpipe",      "blocking", "client_reset",        "SIGPIPE", "a write to a connection its client had reset raised SIGPIPE"},
    {"ignores_sigterm",      "blocking", "sigterm_exit",        "still running 1 s later"},
    {"leaks_descriptors",    "blocking", "no_descriptor_leak",  "descriptors", "a close() is missing"},
    // event loops (select, poll)
    {"poll_blocking_send",            "poll",   "slow_reader",           "blocking send()"},
    {"poll_drops_short_writes",       "poll",   "short_io",              "after a short write send the rest"},
    {"poll_drops_short_writes",       "select", "large_payload",         "Partial writes"},
    {"poll_unbounded_output",         "poll",   "bounded_memory",        "high-water mark"},
    {"poll_shared_line_buffer",       "poll",   "many_clients",          "per-connection struct"},
    {"poll_zero_timeout",             "poll",   "idle_cpu",              "busy-waits", "the loop's wait does not block"},
    {"poll_always_writable",          "poll",   "idle_cpu",              "busy-waits", "write interest left on"},
    {"select_always_writable",        "select", "idle_cpu",              "busy-waits", "write interest left on"},
    {"poll_zero_timeout",             "select", "system_interfaces",     "imports nothing for select"},
    {"poll_spins_at_emfile",          "poll",   "descriptor_exhaustion", "EMFILE"},
    {"select_no_fd_setsize_guard",    "select", "fd_setsize_refusal",    "must never go into an fd_set", "FD_SET() or FD_ISSET() was given a descriptor numbered FD_SETSIZE"},
    {"select_no_fd_setsize_guard",    "select", "c10k",                  "not expected of any model", "FD_SET() or FD_ISSET() was given a descriptor numbered FD_SETSIZE"},
    {"select_no_fd_setsize_guard",    "poll",   "system_interfaces",     "imports nothing for poll"},
    {"poll_refuses_past_fd_setsize",  "poll",   "past_fd_setsize",       "no FD_SETSIZE ceiling"},
    {"poll_thread_per_client",        "poll",   "single_thread",         "from the one thread"},
    {"thread_per_client",    "blocking", "single_thread",       "5 threads"},
    // fork-per-client
    {"fork_never_reaps",     "fork",     "no_zombie_children",  "zombies", "the server never reaps its children"},
    {"fork_parent_keeps_client", "fork", "no_descriptor_leak",  "descriptors", "a close() is missing"},
    {"fork_child_returns",   "fork",     "no_zombie_children",  "still running", "a child goes on after its client has gone"},
    {"fork_leaves_children", "fork",     "sigterm_exit",        "stop its child processes"},
    {"escapes_containment",  "fork",     "sigterm_exit",        "stop its child processes"},
    {"thread_per_client",    "fork",     "process_per_client",  "0 child processes"},
    {"thread_per_client",    "fork",     "system_interfaces",   "imports std::thread"},
    {"iterative",            "fork",     "process_per_client",  "0 child processes"},
    // thread-per-client
    {"threads_leak_descriptors", "threads", "no_descriptor_leak", "descriptors", "a close() is missing"},
    {"threads_never_end",    "threads",  "thread_count_returns", "must return from its function", "a thread goes on after its client has gone"},
    {"dies_of_sigpipe",      "threads",  "client_reset",        "SIGPIPE", "a write to a connection its client had reset raised SIGPIPE"},
    {"reads_whole_lines",    "threads",  "stalled_half_line",   "half a line"},
    {"bounded_pool",         "threads",  "hundred_clients",     "16 got their lines back"},
    {"iterative",            "threads",  "thread_per_client",   "1 thread"},
    {"iterative",            "threads",  "system_interfaces",   "imports nothing for thread creation"},
    {"aio_shared_buffer",    "aio",      "concurrent_streams",  "shared by several connections"},
    {"aio_default_pool",     "aio",      "many_idle_clients",   "20 threads unless aio_init()"},
    {"aio_write_behind_read", "aio",     "one_line",            "aio_read is pending on the same socket"},
    {"uring_short_send_whole", "uring",  "short_io",            "after a short write send the rest"},
    {"uring_closes_when_dry", "uring",   "buffer_ring_dry",     "-ENOBUFS is not an error of the connection"},
    {"uring_never_rearms",   "uring",    "buffer_ring_dry",     "must be armed again"},
    {"uring_buffer_per_connection", "uring", "c10k",            "KiB for each idle connection"},
    {"threads_not_aio",      "aio",      "system_interfaces",   "imports nothing for asynchronous I/O"},
        {"poll_shared_line_buffer",       "select", "pipelined_clients",     "state (partial line, pending replies)"},
    // epoll with a pool of workers
    {"epoll_no_oneshot",              "epoll",  "requests_in_sequence",  "EPOLLONESHOT", "two threads served one connection at once"},
    {"epoll_never_rearms",            "epoll",  "pipelined_lines",       "One recv() can return several lines", "the connection was served once and never again"},
    {"epoll_edge_not_drained",        "epoll",  "pipelined_lines",       "One recv() can return several lines", "the connection was served one read's worth at a time"},
    {"pool_of_blocking_handlers",     "epoll",  "slow_clients",          "frozen by as many slow clients"},
    {"epoll_work_on_loop_thread",     "epoll",  "overlap_pool",          "blocking call on the loop's thread"},
    {"epoll_fixed_table",             "epoll",  "c10k",                  "table of fixed size"},
    {"poll_zero_timeout",             "epoll",  "system_interfaces",     "imports nothing for epoll"},
    {"poll_thread_per_client",        "epoll",  "loop_and_pool_threads", "no thread per client"},
    // coroutines on a reactor
    {"coro_blocking_sleep",            "coro",   "overlap_one_thread",    "a blocking call inside a coroutine"},
    {"coro_lock_across_await",         "coro",   "overlap_one_thread",    "A lock held across co_await"},
    {"coro_lost_wakeup",               "coro",   "slow_reader",           "lost wake-up"},
    {"coro_destroys_registered_frame", "coro",   "one_line",              "destroyed while still registered", "a coroutine frame was destroyed while still registered"},
    {"thread_per_client",              "coro",   "one_io_thread",         "A thread per client"},
    {"coro_compute_on_loop",           "coro",   "compute_in_pool",       "The CPU work ran on the loop thread"},
    // pools made in advance (prefork, prethread)
    {"prefork_never_replaces",     "prefork",   "pool_replaces_workers", "got nothing back within 2 s, and the server had 0 live workers"},
    {"prefork_leaves_children",    "prefork",   "sigterm_exit",          "stop its child processes"},
    {"fork_leaves_children",       "prefork",   "pool_of_processes",     "0 child processes and 1 thread before any client, 4 child processes"},
    {"thread_per_client",          "prefork",   "system_interfaces",     "imports std::thread"},
    {"prethread_grows_per_client", "prethread", "pool_of_threads",       "7 threads before any client, 0 child processes and 11 threads"},
    {"thread_per_client",          "prethread", "pool_of_threads",       "1 thread before any client, 0 child processes and 5 threads"},
    // one event loop per core
    {"reactors_shared_epoll",         "reactors", "loop_per_thread",      "each loop owns an epoll set of its own"},
    {"reactors_shared_epoll",         "reactors", "requests_in_sequence", "each connection belongs to one loop", kCauseInSomeRuns},
    {"reactors_reuseport_after_bind", "reactors", "one_line",             "SO_REUSEPORT, set on each before bind()", "bind() found the port taken"},
    {"reactors_one_listener",         "reactors", "loop_per_thread",      "SO_REUSEPORT set before bind()"},
    {"poll_zero_timeout",             "reactors", "system_interfaces",    "imports nothing for epoll"},
};
// clang-format on

void PrintTo(const Catch& c, std::ostream* out) {
    *out << c.fixture << " caught by " << c.lab << "/" << c.test;
}

class SolutionTest : public testing::TestWithParam<std::string> {};

TEST_P(SolutionTest, EarnsFullMarks) {
    if (auto why = iolab_test::lab_unavailable_here(GetParam())) GTEST_SKIP() << *why;
    auto run = grade(GetParam(), build_dir() + "/solutions/" + GetParam());
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_LT(run.seconds, 30) << run.output;
    EXPECT_EQ(run.results_json.find("\"status\": \"failed\""), std::string::npos)
        << run.results_json;
    EXPECT_TRUE(run.leftovers.empty());
}

class StubTest : public testing::TestWithParam<std::string> {};

TEST_P(StubTest, ScoresZeroFast) {
    if (auto why = iolab_test::lab_unavailable_here(GetParam())) GTEST_SKIP() << *why;
    auto run = grade(GetParam(), build_dir() + "/labs/" + GetParam());
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_NE(run.results_json.find("\"score\": 0,"), std::string::npos) << run.results_json;
    EXPECT_LT(run.seconds, 10) << run.output;
    EXPECT_NE(run.output.find("not implemented yet"), std::string::npos) << run.output;
}

std::string lab_name(const testing::TestParamInfo<std::string>& info) { return info.param; }

// A server that survives client_reset by luck (SIGPIPE at its default action,
// no MSG_NOSIGNAL, but no second write into a reset) is caught in every lab
// that grades client_reset.
std::vector<std::string> labs_grading(const std::string& test) {
    std::vector<std::string> labs;
    for (const checker::Lab& lab : checker::all_labs())
        for (const checker::RubricEntry& entry : lab.rubric)
            if (test == entry.test.name && entry.points > 0) labs.push_back(lab.name);
    return labs;
}

class LatentSigpipeTest : public testing::TestWithParam<std::string> {};

TEST_P(LatentSigpipeTest, IsCaughtByClientReset) {
    if (auto why = iolab_test::lab_unavailable_here(GetParam())) GTEST_SKIP() << *why;
    auto run = grade(GetParam(), build_dir() + "/fixtures/latent_sigpipe", "client_reset");
    EXPECT_EQ(run.exit_code, 1) << run.output;
    std::string line = run.test_line("client_reset");
    EXPECT_NE(line.find("\"status\": \"failed\""), std::string::npos) << run.results_json;
    EXPECT_NE(line.find("only by luck"), std::string::npos) << line;
    EXPECT_NE(line.find("MSG_NOSIGNAL"), std::string::npos) << line;
    EXPECT_NE(
        line.find("Likely cause: a write to a connection its client had reset raised SIGPIPE"),
        std::string::npos)
        << line;
    EXPECT_TRUE(run.leftovers.empty());
}

TEST(LatentSigpipe, IsGradedInMoreThanOneLab) {
    EXPECT_GE(labs_grading("client_reset").size(), 2u);
}

// Short I/O as the kernel makes it: an edge-triggered server that follows
// epoll(7) (a short read or write means the buffer is exhausted for now) is
// served right by short_io, while poll_drops_short_writes is still caught (kCatches).
TEST(ShortIo, AnEdgeTriggeredServerThatFollowsEpoll7Passes) {
    auto run = grade("epoll", build_dir() + "/fixtures/epoll_edge_triggered", "short_io");
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.test_line("short_io").find("\"status\": \"passed\""), std::string::npos)
        << run.results_json;
    EXPECT_TRUE(run.leftovers.empty());
}

INSTANTIATE_TEST_SUITE_P(Labs, LatentSigpipeTest, testing::ValuesIn(labs_grading("client_reset")),
                         lab_name);
INSTANTIATE_TEST_SUITE_P(Labs, SolutionTest, testing::ValuesIn(iolab_test::model_names()),
                         lab_name);
INSTANTIATE_TEST_SUITE_P(Labs, StubTest, testing::ValuesIn(iolab_test::model_names()), lab_name);

class FixtureTest : public testing::TestWithParam<Catch> {};

TEST_P(FixtureTest, IsCaughtByTheTestNamingItsDefect) {
    const Catch& c = GetParam();
    if (auto why = iolab_test::lab_unavailable_here(c.lab)) GTEST_SKIP() << *why;
    auto run = grade(c.lab, build_dir() + "/fixtures/" + c.fixture, c.test);
    EXPECT_EQ(run.exit_code, 1) << run.output;
    std::string line = run.test_line(c.test);
    EXPECT_NE(line.find("\"status\": \"failed\""), std::string::npos) << run.results_json;
    EXPECT_NE(line.find(c.says), std::string::npos) << line;
    // The diagnosis heads the message: after the test's "FAIL: what it checks" line.
    std::string first_line = line.substr(line.find("\\n") + 2, std::string::npos);
    if (!c.cause) {
        EXPECT_EQ(line.find("Likely cause:"), std::string::npos) << line;
    } else if (c.cause != kCauseInSomeRuns) {
        // from whichever symptom showed first: two threads on one connection show as
        // mixed replies, or as a double free or a use-after-free (AddressSanitizer's)
        std::string cause_line = first_line.substr(0, first_line.find("\\n"));
        EXPECT_EQ(cause_line.rfind("Likely cause: ", 0), 0u) << line;
        EXPECT_NE(cause_line.find(c.cause), std::string::npos) << line;
    }
    EXPECT_TRUE(run.leftovers.empty()) << c.fixture << " outlived its grading run";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureTest, testing::ValuesIn(kCatches),
                         [](const testing::TestParamInfo<Catch>& p) {
                             return std::string(p.param.fixture) + "_" + p.param.lab + "_" +
                                    p.param.test;
                         });

// Whatever a server does, a grading run leaves nothing behind. This one's
// children leave its session and process group, ignore SIGTERM and SIGHUP,
// and orphan grandchildren that do the same; each logs its pid.
TEST(Containment, NothingSurvivesAGradingRun) {
    char log_path[] = "/tmp/iolab-escapes-XXXXXX";
    iolab::UniqueFd log(::mkstemp(log_path));
    ASSERT_TRUE(log) << "mkstemp: " << std::strerror(errno);
    ::setenv("IOLAB_ESCAPE_LOG", log_path, 1);  // inherited by the checker, then by the server
    auto run = grade("fork", build_dir() + "/fixtures/escapes_containment", "hundred_clients");
    ::unsetenv("IOLAB_ESCAPE_LOG");
    std::ifstream logged(log_path);
    std::vector<pid_t> escaped;
    for (pid_t pid; logged >> pid;) escaped.push_back(pid);
    ::unlink(log_path);

    EXPECT_NE(run.exit_code, -1) << "the grading run did not finish in time\n" << run.output;
    EXPECT_GE(escaped.size(), 100u)
        << "the fixture should have escaped once per client of hundred_clients";
    for (pid_t pid : escaped) {
        std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
        std::string command((std::istreambuf_iterator<char>(cmdline)), {});
        EXPECT_EQ(command.find("escapes_containment"), std::string::npos)
            << "process " << pid << " survived grading";
    }
    EXPECT_TRUE(iolab_test::processes_matching("fixtures/escapes_containment").empty());
}

// Under ThreadSanitizer (make tsan: TSAN_OPTIONS halt_on_error=1 exitcode=66),
// a data race stops the server at once, and the checker fails the test during
// which it happened, saying so.
TEST(ThreadSanitizer, StopsARacyServer) {
#if !defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "meaningful only in the ThreadSanitizer build (make tsan)";
#else
    auto run = grade("threads", build_dir() + "/fixtures/races_on_a_counter", "hundred_clients");
    EXPECT_EQ(run.exit_code, 1) << run.output;
    std::string line = run.test_line("hundred_clients");
    EXPECT_NE(line.find("\"status\": \"failed\""), std::string::npos) << run.results_json;
    EXPECT_NE(line.find("exited with status 66"), std::string::npos) << line;
    EXPECT_NE(line.find("ThreadSanitizer"), std::string::npos) << line;
#endif
}

}  // namespace
