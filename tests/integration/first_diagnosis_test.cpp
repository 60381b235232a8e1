// The report names the mistake first. A student who makes one of the classic
// mistakes of the event-loop labs sees several tests fail, most of them far
// from the code at fault; the first failure the report explains must name the
// cause, in the table for people and in results.json's summary (Gradescope
// shows it above the tests).
#include "run_checker.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace {

using iolab_test::build_dir;
using iolab_test::grade;

struct Mistake {
    const char* fixture;  // tests/fixtures/FIXTURE.cpp, graded in full as...
    const char* lab;      // ...this lab
    // The report's first failure opens with "Likely cause: ", saying this: from
    // whichever symptom showed first (replies mixed, or glibc's "double free"
    // when two threads on one connection freed it twice).
    const char* cause;
};

// clang-format off
const Mistake kMistakes[] = {
    // fixture                      lab       cause
    {"select_no_fd_setsize_guard", "select", "FD_SET() or FD_ISSET() was given a descriptor numbered FD_SETSIZE"},
    {"select_always_writable",     "select", "write interest left on"},
    {"epoll_no_oneshot",           "epoll",  "two threads served one connection at once"},
    {"epoll_never_rearms",         "epoll",  "the connection was served once and never again"},
};
// clang-format on

void PrintTo(const Mistake& m, std::ostream* out) { *out << m.fixture << " graded as " << m.lab; }

// The report's first failure: its "FAIL test: ..." line and the line after it.
std::pair<std::string, std::string> first_failure(const std::string& report) {
    std::size_t score = report.find("\nScore: ");
    std::istringstream lines(report.substr(score == std::string::npos ? report.size() : score));
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("FAIL ", 0) == 0) {
            std::string next;
            std::getline(lines, next);
            return {line, next};
        }
    return {};
}

// "FAIL test: what it checks" -> "test"
std::string first_test(const std::string& heading) {
    return heading.substr(5, heading.find(':') - 5);
}

class FirstDiagnosisTest : public testing::TestWithParam<Mistake> {};

TEST_P(FirstDiagnosisTest, TheReportsFirstFailureNamesTheMistake) {
    const Mistake& m = GetParam();
    auto run = grade(m.lab, build_dir() + "/fixtures/" + m.fixture, "", 120);
    EXPECT_EQ(run.exit_code, 1) << run.output;
    auto [heading, first_line] = first_failure(run.output);
    ASSERT_FALSE(heading.empty()) << "no failure explained after the score:\n" << run.output;
    EXPECT_EQ(first_line.rfind("  Likely cause: ", 0), 0u) << heading << "\n" << first_line;
    EXPECT_NE(first_line.find(m.cause), std::string::npos) << heading << "\n" << first_line;
    // results.json: the summary, which Gradescope shows above the tests, names it too.
    std::size_t summary = run.results_json.find("\"output\": ");
    std::size_t tests = run.results_json.find("\"tests\": ");
    ASSERT_LT(summary, tests) << run.results_json;
    std::string summary_text = run.results_json.substr(summary, tests - summary);
    std::size_t first_fix =
        summary_text.find(std::string("First fix ") + first_test(heading) + ". Likely cause: ");
    ASSERT_NE(first_fix, std::string::npos) << summary_text;
    EXPECT_NE(summary_text.find(m.cause, first_fix), std::string::npos) << summary_text;
    EXPECT_TRUE(run.leftovers.empty());
}

INSTANTIATE_TEST_SUITE_P(Mistakes, FirstDiagnosisTest, testing::ValuesIn(kMistakes),
                         [](const testing::TestParamInfo<Mistake>& p) {
                             return std::string(p.param.fixture) + "_" + p.param.lab;
                         });

}  // namespace
