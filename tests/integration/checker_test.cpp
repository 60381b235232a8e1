// The checker grades honestly: every reference solution earns full marks,
// every stub earns nothing without hanging, and every deliberately broken
// server in tests/fixtures is caught by the test that names its defect.
#include "run_checker.hpp"

#include <gtest/gtest.h>

namespace {

using iolab_test::build_dir;
using iolab_test::grade;

// The labs whose solutions and stubs exist.
const char* const kLabs[] = {"blocking", "aio"};

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
    {"aio_shared_buffer",    "aio",      "concurrent_streams",  "shared by several connections"},
    {"aio_default_pool",     "aio",      "many_idle_clients",   "20 threads unless aio_init()"},
    {"aio_write_behind_read", "aio",     "one_line",            "aio_read is pending on the same socket"},
    {"threads_not_aio",      "aio",      "uses_posix_aio",      "no aio_read, no aio_write"},
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
