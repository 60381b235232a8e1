// The server's start-up is bounded on its own, apart from the tests' time: a
// correct server that takes 2 s to listen earns full marks in every lab, and
// the report says how long it took. What stops a run (the gate) is said in
// words, and a crash is never what a model is expected to do.
#include "run_checker.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using iolab_test::build_dir;
using iolab_test::grade;

// The lines after "Score:", where the report ends.
std::string report_end(const std::string& output) {
    std::size_t score = output.rfind("\nScore:");
    return score == std::string::npos ? "" : output.substr(score);
}

// Each lab's reference solution behind tests/fixtures/starts_slowly (2 s
// before it exec()s the solution), in every test of the rubric: some 25
// starts a lab, about a minute of waiting each. Three labs at a time, so the
// seven take some 3 minutes; not again under the sanitizers (make sanitize
// runs this binary too), where start-up costs the same and proves nothing new.
TEST(SlowStart, EverySolutionStarted2sLateEarnsFullMarksAndTheReportSaysSo) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    GTEST_SKIP()
        << "run in the plain build only: it waits some 3 minutes, the same under sanitizers";
#else
    const std::vector<std::string> labs = iolab_test::model_names();
    std::vector<std::vector<std::string> > runs;
    for (const std::string& lab : labs)
        runs.push_back({"grade", "--lab", lab, "--", build_dir() + "/fixtures/starts_slowly",
                        build_dir() + "/solutions/" + lab});
    // The worst case of a lab's grading (27 s of tests, 75 s of start-up), and some.
    std::vector<iolab_test::CheckerRun> results = iolab_test::run_checkers(runs, 3, 150);
    for (std::size_t i = 0; i < results.size(); ++i) {
        const iolab_test::CheckerRun& run = results[i];
        SCOPED_TRACE(labs[i]);
        EXPECT_EQ(run.exit_code, 0) << run.output;
        EXPECT_EQ(run.results_json.find("\"status\": \"failed\""), std::string::npos)
            << run.results_json;
        EXPECT_EQ(run.output.find("NOT RUN"), std::string::npos) << run.output;
        // "took 2.0 s to listen" (2.1 on a busy machine)
        EXPECT_NE(report_end(run.output).find("the server took 2."), std::string::npos)
            << run.output;
        EXPECT_NE(report_end(run.output).find(" s to listen; each test starts it anew"),
                  std::string::npos)
            << run.output;
        EXPECT_NE(run.results_json.find(" s to listen; each test starts it anew"),
                  std::string::npos)
            << run.results_json;
        EXPECT_TRUE(run.leftovers.empty());
    }
#endif
}

// A server that starts at once is not told about its start-up.
TEST(SlowStart, AQuickStartIsNotMentioned) {
    auto run = grade("blocking", build_dir() + "/solutions/blocking", "one_line");
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(run.output.find("to listen"), std::string::npos) << run.output;
}

// The first test gates the rest; the report's last line says which failure
// stopped the run and why running on would only time out.
TEST(Gate, TheReportEndsWithTheFailureThatStoppedTheRun) {
    auto run = grade("blocking", build_dir() + "/fixtures/silent");
    EXPECT_EQ(run.exit_code, 1) << run.output;
    std::string end = report_end(run.output);
    std::size_t last_line = end.find_last_of('\n', end.size() - 2);
    std::string last = end.substr(last_line == std::string::npos ? 0 : last_line + 1);
    EXPECT_NE(
        last.find(
            "24 more tests were not run. The run stopped at one_line, the first test, which failed: "
            "the server does not echo a single line"),
        std::string::npos)
        << run.output;
    EXPECT_NE(last.find("would only wait for replies that never come until its time ran out"),
              std::string::npos)
        << last;
    EXPECT_NE(run.results_json.find("The run stopped at one_line"), std::string::npos)
        << run.results_json;
    EXPECT_NE(run.test_line("pipelined_lines")
                  .find("not run: the server does not echo a single line (see "
                        "one_line)"),
              std::string::npos)
        << run.results_json;
    EXPECT_LT(run.seconds, 15) << run.output;
}

// A model that blocks in a probe makes its clients wait: reported, for no
// points. The reference iterative server is observed so...
TEST(ExpectedToBlock, TheIterativeSolutionIsObservedWaiting) {
    auto run = grade("blocking", build_dir() + "/solutions/blocking", "idle_client");
    EXPECT_EQ(run.exit_code, 0) << run.output;
    std::string line = run.test_line("idle_client");
    EXPECT_NE(line.find("OBSERVED: "), std::string::npos) << line;
    EXPECT_NE(line.find("as expected of this model"), std::string::npos) << line;
}

// ...but one that crashes there fails, the crash named: no model crashes.
TEST(ExpectedToBlock, ACrashInTheProbeFails) {
    auto run = grade("blocking", build_dir() + "/fixtures/crashes_on_idle_client", "idle_client");
    EXPECT_EQ(run.exit_code, 1) << run.output;
    std::string line = run.test_line("idle_client");
    EXPECT_NE(line.find("\"status\": \"failed\""), std::string::npos) << line;
    EXPECT_NE(line.find("FAIL: "), std::string::npos) << line;
#if defined(__SANITIZE_ADDRESS__)
    // AddressSanitizer catches the SIGSEGV itself, reports it and exits with status 1.
    EXPECT_NE(line.find("AddressSanitizer: SEGV"), std::string::npos) << line;
#else
    EXPECT_NE(line.find("was killed by SIGSEGV"), std::string::npos) << line;
#endif
    EXPECT_NE(line.find("not expected of any model"), std::string::npos) << line;
    EXPECT_EQ(line.find("as expected of this model"), std::string::npos) << line;
    EXPECT_TRUE(run.leftovers.empty());
}

}  // namespace
