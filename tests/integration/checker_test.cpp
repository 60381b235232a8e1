// The checker grades honestly: every reference solution earns full marks,
// every stub earns nothing without hanging, and every deliberately broken
// server in tests/fixtures is caught by the test that names its defect.
#include "run_checker.hpp"

#include <gtest/gtest.h>

namespace {

using iolab_test::build_dir;
using iolab_test::grade;

// The labs whose solutions and stubs exist.
const char* const kLabs[] = {"blocking", "select", "poll", "epoll"};

// Each broken server and the test that must catch it.
struct Catch {
    const char* fixture;    // tests/fixtures/FIXTURE.cpp
    const char* lab;        // graded as this lab
    const char* test;       // this test must fail
    const char* says;       // and its message must say this
};

const Catch kCatches[] = {
    // fixture                lab          test                   message contains
    {"silent",               "blocking", "one_line",            "got nothing"},
    {"first_line_only",      "blocking", "pipelined_lines",     "One recv() can return several lines"},
    {"drops_short_writes",   "blocking", "large_payload",       "Partial writes"},
    {"c_string_lines",       "blocking", "any_byte_values",     "C string"},
    {"no_partial_lines",     "blocking", "trickled_line",       "partial line"},
    {"drops_partial_at_eof", "blocking", "partial_line_at_eof", "trailing partial line"},
    {"unbounded_lines",      "blocking", "overlong_line",       "ERR line too long"},
    {"dies_of_sigpipe",      "blocking", "client_reset",        "SIGPIPE"},
    {"ignores_sigterm",      "blocking", "sigterm_exit",        "still running 1 s later"},
    {"leaks_descriptors",    "blocking", "no_descriptor_leak",  "descriptors"},
    // event loops (select, poll)
    {"poll_blocking_send",            "poll",   "slow_reader",           "blocking send()"},
    {"poll_drops_short_writes",       "poll",   "short_io",              "after a short write send the rest"},
    {"poll_drops_short_writes",       "select", "large_payload",         "Partial writes"},
    {"poll_unbounded_output",         "poll",   "bounded_memory",        "high-water mark"},
    {"poll_shared_line_buffer",       "poll",   "many_clients",          "per-connection struct"},
    {"poll_zero_timeout",             "poll",   "idle_cpu",              "busy-waits"},
    {"poll_zero_timeout",             "select", "waits_in_select",       "never calls select()"},
    {"poll_spins_at_emfile",          "poll",   "descriptor_exhaustion", "EMFILE"},
    {"select_no_fd_setsize_guard",    "select", "fd_setsize_refusal",    "FD_SETSIZE"},
    {"select_no_fd_setsize_guard",    "poll",   "waits_in_poll",         "never calls poll()"},
    {"poll_refuses_past_fd_setsize",  "poll",   "past_fd_setsize",       "no FD_SETSIZE ceiling"},
    {"poll_thread_per_client",        "poll",   "one_loop_thread",       "from one thread"},
    {"poll_shared_line_buffer",       "select", "pipelined_clients",     "state (partial line, pending replies)"},
    // epoll with a pool of workers
    {"epoll_no_oneshot",              "epoll",  "requests_in_sequence",  "EPOLLONESHOT"},
    {"pool_of_blocking_handlers",     "epoll",  "slow_clients",          "frozen by as many slow clients"},
    {"epoll_work_on_loop_thread",     "epoll",  "overlap_pool",          "blocking call on the loop's thread"},
    {"epoll_fixed_table",             "epoll",  "c10k",                  "table of fixed size"},
    {"poll_zero_timeout",             "epoll",  "waits_in_epoll",        "never calls epoll()"},
    {"poll_thread_per_client",        "epoll",  "loop_and_pool_threads", "no thread per client"},
};

void PrintTo(const Catch& c, std::ostream* out) { *out << c.fixture << " caught by " << c.lab << "/" << c.test; }

class SolutionTest : public testing::TestWithParam<const char*> {};

TEST_P(SolutionTest, EarnsFullMarks) {
    auto run = grade(GetParam(), build_dir() + "/solutions/" + GetParam());
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_LT(run.seconds, 30) << run.output;
    EXPECT_EQ(run.results_json.find("\"status\": \"failed\""), std::string::npos) << run.results_json;
}

class StubTest : public testing::TestWithParam<const char*> {};

TEST_P(StubTest, ScoresZeroFast) {
    auto run = grade(GetParam(), build_dir() + "/labs/" + GetParam());
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_NE(run.results_json.find("\"score\": 0,"), std::string::npos) << run.results_json;
    EXPECT_LT(run.seconds, 10) << run.output;
    EXPECT_NE(run.output.find("not implemented yet"), std::string::npos) << run.output;
}

INSTANTIATE_TEST_SUITE_P(Labs, SolutionTest, testing::ValuesIn(kLabs));
INSTANTIATE_TEST_SUITE_P(Labs, StubTest, testing::ValuesIn(kLabs));

class FixtureTest : public testing::TestWithParam<Catch> {};

TEST_P(FixtureTest, IsCaughtByTheTestNamingItsDefect) {
    const Catch& c = GetParam();
    auto run = grade(c.lab, build_dir() + "/fixtures/" + c.fixture, c.test);
    EXPECT_EQ(run.exit_code, 1) << run.output;
    std::string line = run.test_line(c.test);
    EXPECT_NE(line.find("\"status\": \"failed\""), std::string::npos) << run.results_json;
    EXPECT_NE(line.find(c.says), std::string::npos) << line;
    EXPECT_TRUE(iolab_test::processes_matching("fixtures/" + std::string(c.fixture)).empty())
        << c.fixture << " outlived its grading run";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureTest, testing::ValuesIn(kCatches),
                         [](const testing::TestParamInfo<Catch>& p) { return std::string(p.param.fixture) + "_" + p.param.lab; });

}  // namespace
