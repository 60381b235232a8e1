// make handout gives students everything they need and no solution code;
// make gradescope gives Gradescope an autograder that writes results.json;
// the handout's GitHub Classroom workflow grades with make grade. Each is
// unpacked into a temporary directory and used there, as a student, Gradescope
// or GitHub would.
#include "commands.hpp"
#include "run_checker.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace {

namespace fs = std::filesystem;
using namespace iolab_test;

// These tests build and run plain copies of the kit, whatever this test binary
// was built with: under the sanitizers they would only repeat themselves.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitizerBuild = true;
#else
constexpr bool kSanitizerBuild = false;
#endif
#define SKIP_UNDER_SANITIZERS() \
    if (kSanitizerBuild)        \
    GTEST_SKIP() << "packaging tests build their own plain copies: run by make test"

std::vector<fs::path> files_under(const fs::path& dir) {
    std::vector<fs::path> files;
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir))
        if (entry.is_regular_file()) files.push_back(entry.path());
    return files;
}

class Handout : public testing::Test {
protected:
    static void SetUpTestSuite() {
        if (kSanitizerBuild) return;
        dir_ = new TempDir;
        make_ = new CommandRun(run_command({"make", "-s", "BUILD=" + build_dir(), "handout"}, 120));
        untar_ = new CommandRun(run_command(
            {"tar", "-xzf", fs::absolute(build_dir() + "/handout/iolab-handout.tar.gz").string(),
             "-C", dir_->path().string()},
            60));
        build_ = new CommandRun(run_command({"make", "-j2"}, 900, tree()));
    }
    static void TearDownTestSuite() {
        delete build_;
        delete untar_;
        delete make_;
        delete dir_;
    }
    void SetUp() override {
        SKIP_UNDER_SANITIZERS();
        ASSERT_EQ(make_->exit_code, 0) << make_->output;
        ASSERT_EQ(untar_->exit_code, 0) << untar_->output;
    }
    static fs::path tree() { return dir_->path() / "iolab-handout"; }

    static inline TempDir* dir_ = nullptr;
    static inline CommandRun* make_ = nullptr;
    static inline CommandRun* untar_ = nullptr;
    static inline CommandRun* build_ = nullptr;
};

TEST_F(Handout, HoldsEveryLabsStubAndWhatMakeNeeds) {
    for (const std::string& lab : solution_labs())
        EXPECT_EQ(read_file(tree() / "labs" / lab / "server.cpp"),
                  read_file("labs/" + lab + "/server.cpp"))
            << lab;
    for (const char* needed :
         {"Makefile", "labs/common/server_main.cpp", "checker/main.cpp", "tools/grade.sh",
          "tools/ensure-deps.sh", ".github/workflows/classroom.yml"})
        EXPECT_TRUE(fs::exists(tree() / needed)) << needed;
}

TEST_F(Handout, HoldsNoSolutionCode) {
    EXPECT_FALSE(fs::exists(tree() / "solutions"));
    EXPECT_FALSE(fs::exists(tree() / "docs/instructors.md"));
    std::vector<std::string> secret = solution_secret_lines();
    ASSERT_FALSE(secret.empty()) << "the solutions' LAB regions hold no code to look for";
    for (const fs::path& file : files_under(tree())) {
        std::string text = read_file(file);
        EXPECT_EQ(text.find("// BEGIN LAB"), std::string::npos) << file;
        for (const std::string& line : secret)
            EXPECT_EQ(text.find(line), std::string::npos) << file << ": " << line;
    }
}

TEST_F(Handout, BuildsAndGradesEveryLabZeroInBoundedTime) {
    ASSERT_EQ(build_->exit_code, 0) << build_->output;
    CommandRun grade = run_command({"make", "grade"}, 300, tree());
    EXPECT_EQ(grade.exit_code, 2) << grade.output;  // make: grade.sh failed, not full marks
    EXPECT_LT(grade.seconds, 60 * static_cast<double>(solution_labs().size())) << grade.output;
    for (const std::string& lab : solution_labs())
        EXPECT_NE(grade.output.find("==================== labs/" + lab), std::string::npos)
            << lab << grade.output;
    std::size_t total = grade.output.find("\ntotal ");
    ASSERT_NE(total, std::string::npos) << grade.output;
    std::string total_line =
        grade.output.substr(total + 1, grade.output.find('\n', total + 1) - total - 1);
    EXPECT_NE(total_line.find(" 0/"), std::string::npos) << total_line;
}

TEST_F(Handout, TargetsThatNeedSolutionsSaySoInOneLine) {
    EXPECT_EQ(run_command({"make", "help"}, 30, tree()).exit_code, 0);
    for (const char* target : {"test", "stubs", "handout", "compare"}) {
        CommandRun run = run_command({"make", target}, 30, tree());
        EXPECT_NE(run.exit_code, 0) << target;
        EXPECT_NE(run.output.find("needs the kit's solutions/"), std::string::npos) << run.output;
        EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1) << run.output;
    }
}

// Every path and command the handout's documents quote is in the handout
// (tools/check-handout-docs.sh, which make handout runs too), and what is the
// kit's own was stripped: the instructors' README sections, the KIT ONLY passages.
TEST_F(Handout, DocumentsQuoteOnlyWhatItHolds) {
    CommandRun check = run_command({"tools/check-handout-docs.sh", tree().string()}, 120);
    EXPECT_EQ(check.exit_code, 0) << check.output;
    EXPECT_EQ(check.output, "");
    std::string readme = read_file(tree() / "README.md");
    EXPECT_NE(readme.find("## For students"), std::string::npos) << readme;
    EXPECT_NE(readme.find("build/checker talk --port 8080"), std::string::npos) << readme;
    EXPECT_NE(readme.find("--security-opt seccomp=unconfined"), std::string::npos) << readme;
    EXPECT_EQ(readme.find("## For instructors"), std::string::npos) << readme;
    EXPECT_FALSE(fs::exists(tree() / "docs/compare.md"));
    for (const fs::path& file : files_under(tree())) {
        if (file.extension() != ".md") continue;
        EXPECT_EQ(read_file(file).find("KIT ONLY"), std::string::npos) << file;
    }
}

// The check's own broken fixture: a copy of the handout with bad quotes planted,
// each reported on one line naming the document, the line and what is missing.
TEST_F(Handout, DocumentsCheckNamesEachBadQuote) {
    TempDir copy;
    for (const char* part :
         {"Makefile", "README.md", "labs", "checker", "tools", "docs", ".devcontainer"})
        fs::copy(tree() / part, copy.path() / part, fs::copy_options::recursive);
    fs::path readme = copy.path() / "labs/poll/README.md";
    std::string text = read_file(readme);
    int line = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 2;
    write_file(readme, text +
                           "\n    diff solutions/select/server.cpp labs/poll/server.cpp\n"
                           "Run `make test`, then `build/checker frobnicate`; see "
                           "[the notes](../../docs/instructors.md).\n");
    CommandRun check = run_command({"tools/check-handout-docs.sh", copy.path().string()}, 120);
    EXPECT_EQ(check.exit_code, 1) << check.output;
    std::string at = "labs/poll/README.md:" + std::to_string(line);
    std::string next = "labs/poll/README.md:" + std::to_string(line + 1);
    for (const std::string& expected :
         {at + ": solutions/select/server.cpp: not in the handout\n",
          next + ": `make test`: the handout cannot run it",
          next + ": `checker frobnicate`: the checker has no subcommand frobnicate\n",
          next + ": link to ../../docs/instructors.md: not in the handout\n"})
        EXPECT_NE(check.output.find(expected), std::string::npos) << expected << "\n"
                                                                  << check.output;
    EXPECT_EQ(std::count(check.output.begin(), check.output.end(), '\n'), 4) << check.output;
}

// make handout strips the KIT ONLY passages of a copy of the kit, and refuses
// to pack when a document still quotes what the handout does not hold: one
// line names the document, the line and the path.
TEST(HandoutBuild, RefusesADocumentThatQuotesWhatItDoesNotHold) {
    SKIP_UNDER_SANITIZERS();
    TempDir kit;
    for (const char* part : {"Makefile", ".gitignore", "README.md", ".devcontainer", "labs",
                             "solutions", "checker", "tools", "docs"})
        fs::copy(part, kit.path() / part, fs::copy_options::recursive);
    fs::remove_all(kit.path() / "build");
    fs::path readme = kit.path() / "labs/select/README.md";
    std::string text = read_file(readme);
    int line = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 6;
    write_file(readme, text +
                           "\n<!-- BEGIN KIT ONLY -->\n    diff solutions/select/server.cpp "
                           "solutions/poll/server.cpp\n<!-- END KIT ONLY -->\n\n"
                           "Compare with `solutions/poll/server.cpp`.\n");
    CommandRun make =
        run_command({"tools/make-handout.sh", (kit.path() / "out").string()}, 120, kit.path());
    EXPECT_NE(make.exit_code, 0) << make.output;
    EXPECT_EQ(make.output, "labs/select/README.md:" + std::to_string(line) +
                               ": solutions/poll/server.cpp: not in the handout\n");
    EXPECT_FALSE(fs::exists(kit.path() / "out/iolab-handout.tar.gz"));
}

// The dev container installs what tools/ensure-deps.sh installs, by running it,
// and gives io_uring the system calls Docker's default seccomp profile refuses.
TEST_F(Handout, ShipsADevContainerThatRunsEnsureDeps) {
    std::string dockerfile = read_file(tree() / ".devcontainer/Dockerfile");
    EXPECT_NE(dockerfile.find("FROM debian:12\n"), std::string::npos) << dockerfile;
    EXPECT_NE(dockerfile.find("COPY tools/ensure-deps.sh /usr/local/bin/iolab-ensure-deps\n"),
              std::string::npos)
        << dockerfile;
    EXPECT_NE(dockerfile.find("RUN iolab-ensure-deps"), std::string::npos) << dockerfile;
    EXPECT_EQ(dockerfile.find("apt-get install"), std::string::npos)
        << "a second package list: " << dockerfile;
    nlohmann::json container = nlohmann::json::parse(
        read_file(tree() / ".devcontainer/devcontainer.json"), nullptr, false);
    ASSERT_FALSE(container.is_discarded());
    EXPECT_EQ(container["build"]["dockerfile"], "Dockerfile");
    EXPECT_EQ(container["build"]["context"], "..");
    EXPECT_EQ(container["runArgs"], nlohmann::json({"--security-opt", "seccomp=unconfined"}));
}

// What the Classroom workflow's grading step runs, with GitHub's step output file.
TEST_F(Handout, ClassroomWorkflowReportsTheScoreOfMakeGrade) {
    ASSERT_EQ(build_->exit_code, 0) << build_->output;
    std::string workflow = read_file(tree() / ".github/workflows/classroom.yml");
    ASSERT_NE(workflow.find("run: tools/classroom-grade.sh"), std::string::npos) << workflow;
    ASSERT_NE(workflow.find("runners: iolab"), std::string::npos) << workflow;
    ASSERT_NE(workflow.find("IOLAB_RESULTS: ${{ steps.iolab.outputs.result }}"), std::string::npos)
        << workflow;

    fs::path output = dir_->path() / "github_output";
    CommandRun run = run_command({"tools/classroom-grade.sh"}, 300, tree(),
                                 {"GITHUB_OUTPUT=" + output.string()});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    CommandRun decoded =
        run_command({"sh", "-c", "sed -n 's/^result=//p' \"$0\" | base64 -d", output.string()}, 30);
    nlohmann::json result = nlohmann::json::parse(decoded.output, nullptr, false);
    ASSERT_FALSE(result.is_discarded()) << decoded.output;
    EXPECT_EQ(result["version"], 1);
    EXPECT_EQ(result["status"], "fail");
    EXPECT_GT(result["max_score"].get<int>(), 0);
    int points = 0;
    for (const auto& test : result["tests"]) points += test["score"].get<int>();
    EXPECT_EQ(points, 0);
    EXPECT_GE(result["tests"].size(), solution_labs().size());
}

// make handout LEVEL=2 and LEVEL=3. Levels above 1 are generated, never
// committed: this is their drift test. Each lab's stub is what its solution
// generates at that level and leaves more to the student than the level below;
// labs/common holds what that level gives; every lab builds and scores 0 fast.
class HandoutLevel : public testing::TestWithParam<int> {};

TEST_P(HandoutLevel, IsGeneratedFromTheSolutionsBuildsAndScoresZeroFast) {
    SKIP_UNDER_SANITIZERS();
    const int level = GetParam();
    TempDir dir;
    CommandRun make = run_command(
        {"tools/make-handout.sh", (dir.path() / "out").string(), std::to_string(level)}, 120);
    ASSERT_EQ(make.exit_code, 0) << make.output;
    ASSERT_NE(make.output.find("(level " + std::to_string(level) + ")"), std::string::npos)
        << make.output;
    CommandRun untar =
        run_command({"tar", "-xzf", (dir.path() / "out/iolab-handout.tar.gz").string(), "-C",
                     dir.path().string()},
                    60);
    ASSERT_EQ(untar.exit_code, 0) << untar.output;
    const fs::path tree = dir.path() / "iolab-handout";

    std::vector<std::string> targets;
    for (const std::string& lab : solution_labs()) {
        const std::string solution = "solutions/" + lab + "/server.cpp";
        const std::string stub_path = "labs/" + lab + "/server.cpp";
        CommandRun here = generate_stub(solution, stub_path, level);
        CommandRun below = generate_stub(solution, stub_path, level - 1);
        ASSERT_EQ(here.exit_code, 0) << here.output;
        EXPECT_TRUE(read_file(tree / stub_path) == here.output) << stub_path << " is not generated";
        EXPECT_TRUE(here.output != below.output)
            << solution << " has no // BEGIN LAB " << level << " region";
        targets.push_back("build/labs/" + lab);
    }
    for (const fs::directory_entry& entry : fs::directory_iterator("labs/common")) {
        std::string text = read_file(entry.path());
        std::size_t omit = text.find("// OMIT FROM LEVEL ");
        bool omitted = omit != std::string::npos &&
                       text[omit + std::string("// OMIT FROM LEVEL ").size()] - '0' <= level;
        EXPECT_EQ(fs::exists(tree / "labs/common" / entry.path().filename()), !omitted)
            << entry.path();
    }

    // Each lab's README keeps only this level's paragraph of its Levels section.
    for (const std::string& lab : solution_labs()) {
        std::string readme = read_file(tree / "labs" / lab / "README.md");
        for (int other = 1; other <= 3; ++other)
            EXPECT_EQ(readme.find("- **Level " + std::to_string(other) + "**") != std::string::npos,
                      other == level)
                << lab << " README, level " << other;
    }

    std::vector<std::string> build{"make", "-s", "-j2"};
    build.insert(build.end(), targets.begin(), targets.end());
    CommandRun built = run_command(build, 900, tree);
    ASSERT_EQ(built.exit_code, 0) << built.output;
    for (const std::string& lab : solution_labs()) {
        if (iolab_test::lab_unavailable_here(lab)) continue;
        auto run = grade(lab, (tree / "build/labs" / lab).string());
        EXPECT_EQ(run.exit_code, 1) << lab << run.output;
        EXPECT_NE(run.results_json.find("\"score\": 0,"), std::string::npos) << lab;
        EXPECT_LT(run.seconds, 10) << lab << run.output;
        EXPECT_NE(run.output.find("not implemented yet"), std::string::npos) << lab << run.output;
        EXPECT_TRUE(run.leftovers.empty()) << lab;
    }
}

INSTANTIATE_TEST_SUITE_P(Levels, HandoutLevel, testing::Values(2, 3),
                         [](const testing::TestParamInfo<int>& p) {
                             return "level" + std::to_string(p.param);
                         });

TEST(Gradescope, AutograderWritesResultsJsonForASubmission) {
    SKIP_UNDER_SANITIZERS();
    CommandRun make = run_command({"make", "-s", "BUILD=" + build_dir(), "gradescope"}, 180);
    ASSERT_EQ(make.exit_code, 0) << make.output;
    TempDir dir;
    fs::path root = dir.path() / "autograder";  // stands in for /autograder
    fs::create_directories(root);
    CommandRun unzip = run_command(
        {"unzip", "-q", fs::absolute(build_dir() + "/gradescope/iolab-autograder.zip").string(),
         "-d", (root / "source").string()},
        60);
    ASSERT_EQ(unzip.exit_code, 0) << unzip.output;
    EXPECT_FALSE(fs::exists(root / "source/solutions"));

    std::vector<std::string> environment{"AUTOGRADER_ROOT=" + root.string()};
    CommandRun setup =
        run_command({"bash", (root / "source/setup.sh").string()}, 900, {}, environment);
    ASSERT_EQ(setup.exit_code, 0) << setup.output;

    // The student uploaded the handout repository: one lab partly right.
    write_file(root / "submission/labs/blocking/server.cpp",
               read_file("tests/fixtures/first_line_only.cpp"));
    write_file(root / "submission/labs/blocking/fixture.hpp",
               read_file("tests/fixtures/fixture.hpp"));
    CommandRun grade =
        run_command({(root / "source/run_autograder").string()}, 600, root / "source", environment);
    EXPECT_EQ(grade.exit_code, 0) << grade.output;

    nlohmann::json results =
        nlohmann::json::parse(read_file(root / "results/results.json"), nullptr, false);
    ASSERT_FALSE(results.is_discarded()) << grade.output;
    int points = 0, blocking_max = 0;
    bool pipelined_failed = false;
    for (const auto& test : results["tests"]) {
        std::string name = test["name"];
        points += test["score"].get<int>();
        if (name.rfind("blocking: ", 0) == 0) blocking_max += test["max_score"].get<int>();
        if (name == "blocking: pipelined_lines") pipelined_failed = test["status"] == "failed";
    }
    EXPECT_EQ(results["score"], points);
    EXPECT_GT(points, 0) << results.dump(2);
    EXPECT_LT(points, blocking_max) << results.dump(2);
    EXPECT_TRUE(pipelined_failed) << results.dump(2);
}

}  // namespace
