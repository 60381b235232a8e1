// Where io_uring is switched off, the uring lab says so instead of failing:
// its server exits at once with one line saying why and what to do, and the
// checker reports the lab as skipped with the same reason. Here io_uring is
// switched off by a seccomp filter (build/fixtures/without_io_uring), as
// Docker's default profile does.
#include "commands.hpp"
#include "run_checker.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace iolab_test;

std::string without_io_uring() { return build_dir() + "/fixtures/without_io_uring"; }

TEST(UringUnavailable, TheServerExitsAtOnceSayingWhyAndWhatToDo) {
    CommandRun run =
        run_command({without_io_uring(), build_dir() + "/solutions/uring", "--port", "0"}, 10);
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_LT(run.seconds, 5) << run.output;
    EXPECT_NE(run.output.find("uring: io_uring is not available: io_uring_setup failed with "
                              "Function not implemented. A seccomp filter blocks the call"),
              std::string::npos)
        << run.output;
    EXPECT_NE(run.output.find("--security-opt seccomp=unconfined"), std::string::npos)
        << run.output;
}

TEST(UringUnavailable, GradingReportsTheLabSkippedWithTheReason) {
    CommandRun run = run_command({without_io_uring(), build_dir() + "/checker", "grade", "--lab",
                                  "uring", "--", build_dir() + "/solutions/uring"},
                                 30);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_LT(run.seconds, 5) << run.output;
    EXPECT_NE(run.output.find("Score: 0/0"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("Lab uring skipped: io_uring is not available: io_uring_setup "
                              "failed with Function not implemented. A seccomp filter"),
              std::string::npos)
        << run.output;
    EXPECT_EQ(run.output.find("FAIL"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("SKIPPED"), std::string::npos) << run.output;
}

TEST(UringUnavailable, MakeGradeListsTheLabAsSkippedWithTheReason) {
    CommandRun run = run_command({without_io_uring(), "tools/grade.sh", "solutions", "uring"}, 120,
                                 {}, {"BUILD=" + build_dir()});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find("uring        skipped   io_uring is not available"),
              std::string::npos)
        << run.output;
    EXPECT_NE(run.output.find("total            0/0"), std::string::npos) << run.output;
}

// The same filter leaves every other lab alone: only the model that needs
// io_uring is skipped.
TEST(UringUnavailable, OtherLabsAreGradedAsUsual) {
    CommandRun run =
        run_command({without_io_uring(), build_dir() + "/checker", "grade", "--lab", "poll",
                     "--only", "one_line", "--", build_dir() + "/solutions/poll"},
                    30);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find("PASS"), std::string::npos) << run.output;
    EXPECT_EQ(run.output.find("skipped"), std::string::npos) << run.output;
}

}  // namespace
