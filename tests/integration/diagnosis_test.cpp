// When grading cannot even start, the checker says why in one line, still
// writes results.json, and exits with the documented status.
#include "run_checker.hpp"
#include "server_process.hpp"

#include <gtest/gtest.h>

#include <sys/wait.h>

namespace {

using iolab_test::build_dir;
using iolab_test::run_checker;

std::string solution() { return build_dir() + "/solutions/blocking"; }

TEST(Diagnosis, ServerThatIsNotBuilt) {
    auto run = run_checker({"grade", "--lab", "blocking", "--", build_dir() + "/labs/no-such-lab"});
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_NE(run.output.find("No such file or directory (was it built? run make)"),
              std::string::npos)
        << run.output;
    EXPECT_NE(run.results_json.find("\"score\": 0,"), std::string::npos) << run.results_json;
}

TEST(Diagnosis, ServerThatCrashesAtStart) {
    auto run = run_checker({"grade", "--lab", "blocking", "--", "sh", "-c", "kill -SEGV $$"});
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_NE(run.output.find("was killed by SIGSEGV"), std::string::npos) << run.output;
    EXPECT_LT(run.seconds, 10);
}

TEST(Diagnosis, ServerThatListensOnAnotherPort) {
    auto run =
        run_checker({"grade", "--lab", "blocking", "--", build_dir() + "/fixtures/ignores_port"});
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_NE(run.output.find("it must use the --port option"), std::string::npos) << run.output;
    EXPECT_TRUE(run.leftovers.empty());
}

TEST(Diagnosis, ServerThatNeverListens) {
    auto run = run_checker({"grade", "--lab", "blocking", "--", "sh", "-c",
                            "sleep 100; : checker-test-never-listens"});
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_NE(run.output.find("did not listen"), std::string::npos) << run.output;
    // The gate, in the report's last line: every test would wait for it again.
    EXPECT_NE(run.output.find(
                  "more tests were not run. The run stopped at one_line: the server did not start"),
              std::string::npos)
        << run.output;
    EXPECT_NE(run.output.find("Every test starts the server anew"), std::string::npos)
        << run.output;
    EXPECT_LT(run.seconds, 15);
    EXPECT_TRUE(run.leftovers.empty());
}

TEST(Diagnosis, UnknownLabIsAUsageErrorAndStillWritesResults) {
    auto run = run_checker({"grade", "--lab", "nonesuch", "--", solution()});
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find("unknown lab 'nonesuch'"), std::string::npos) << run.output;
    EXPECT_NE(run.results_json.find("unknown lab"), std::string::npos) << run.results_json;
}

TEST(Diagnosis, UnknownTestIsAUsageError) {
    auto run = run_checker({"grade", "--lab", "blocking", "--only", "nonesuch", "--", solution()});
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find("no test 'nonesuch'"), std::string::npos) << run.output;
}

TEST(Diagnosis, NoServerGiven) {
    auto run = run_checker({"grade", "--lab", "blocking"});
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find("no server to grade"), std::string::npos) << run.output;
}

// A server started by hand: tests that need its process are skipped, the rest run.
TEST(Connect, GradesARunningServerAndSkipsWhatNeedsItsProcess) {
    int port = checker::pick_free_port();
    checker::ServerProcess server({solution(), "--port", std::to_string(port)}, {});
    ASSERT_FALSE(server.wait_until_listening(checker::Endpoint{"127.0.0.1", port},
                                             checker::Deadline(std::chrono::seconds(5))));
    auto run = run_checker(
        {"grade", "--lab", "blocking", "--connect", "127.0.0.1:" + std::to_string(port)});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.test_line("sigterm_exit").find("SKIPPED"), std::string::npos) << run.results_json;
    EXPECT_NE(run.test_line("one_line").find("\"status\": \"passed\""), std::string::npos)
        << run.results_json;
}

// "--only TEST --" then a server with options of its own: the "--" still
// starts the server's command (run_checker() would put --json in between).
TEST(CommandLine, OnlyJustBeforeTheServerCommand) {
    checker::ServerProcess run({build_dir() + "/checker", "grade", "--lab", "blocking", "--only",
                                "one_line", "--", solution(), "--workers", "2"},
                               {});
    ASSERT_TRUE(run.wait_for_exit(checker::Deadline(std::chrono::seconds(20))));
    EXPECT_TRUE(WIFEXITED(*run.exit_status()) && WEXITSTATUS(*run.exit_status()) == 0)
        << run.output_tail(20);
}

}  // namespace
