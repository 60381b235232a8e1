// checker batch grades a class: one sample submission of each kind a class
// produces, built in a temporary directory, graded in parallel; each costs
// only its own grade, and nothing is left behind.
#include "box.hpp"
#include "commands.hpp"
#include "run_checker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <map>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using namespace iolab_test;

// Accepts every client and never answers (and never returns from main).
const char* const kHangingServer = R"(#include "server_main.hpp"
#include <vector>
void run(iolab::Listener& listener, const iolab::Options&) {
    std::vector<iolab::UniqueFd> held;
    for (;;)
        if (iolab::UniqueFd client = listener.accept()) held.push_back(std::move(client));
}
int main(int argc, char** argv) { return iolab::server_main(argc, argv, {"blocking", "hangs"}, run); }
)";

// A correct server, but first it touches 1.5 GiB of memory: only the batch's
// memory limit (--max-memory) stops it, and then it scores 0.
const char* const kMemoryHog = R"(#include "blocking_session.hpp"
#include "server_main.hpp"
#include "shutdown.hpp"
#include <cstring>
#include <memory>
#include <vector>
void run(iolab::Listener& listener, const iolab::Options& options) {
    while (!iolab::shutdown_requested())
        if (iolab::UniqueFd client = listener.accept()) iolab::serve_until_eof(client, options);
}
int main(int argc, char** argv) {
    std::vector<std::unique_ptr<char[]>> hoard;
    for (int chunk = 0; chunk < 24; ++chunk) {
        hoard.emplace_back(new char[64 << 20]);
        std::memset(hoard.back().get(), 1, 64 << 20);
    }
    return iolab::server_main(argc, argv, {"blocking", "hog"}, run);
}
)";

struct Row {
    int score = -1;
    int max = -1;
    std::string failed;
    std::string note;
};

// Splits one CSV line (fields quoted with "" when they hold commas or quotes).
std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> fields(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
            fields.back() += '"';
            ++i;
        } else if (c == '"') quoted = !quoted;
        else if (c == ',' && !quoted) fields.emplace_back();
        else fields.back() += c;
    }
    return fields;
}

// gradebook.csv, by "student/lab".
std::map<std::string, Row> read_gradebook(const fs::path& path, std::string& header) {
    std::map<std::string, Row> rows;
    std::istringstream lines(read_file(path));
    std::getline(lines, header);
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> f = csv_fields(line);
        if (f.size() != 6) {
            ADD_FAILURE() << "gradebook row with " << f.size() << " fields: " << line;
            continue;
        }
        rows[f[0] + "/" + f[1]] = {std::stoi(f[2]), std::stoi(f[3]), f[4], f[5]};
    }
    return rows;
}

std::vector<std::string> batch_temp_dirs() {
    std::vector<std::string> dirs;
    for (const fs::directory_entry& entry : fs::directory_iterator(fs::temp_directory_path()))
        if (entry.path().filename().string().rfind("iolab-batch-", 0) == 0)
            dirs.push_back(entry.path().string());
    return dirs;
}

void copy_dir(const fs::path& from, const fs::path& to) {
    fs::create_directories(to);
    fs::copy(from, to, fs::copy_options::recursive);
}

CommandRun run_batch(const fs::path& submissions, const fs::path& out,
                     const std::vector<std::string>& extra) {
    std::vector<std::string> command{fs::absolute(build_dir() + "/checker").string(),
                                     "batch",
                                     "--submissions",
                                     submissions.string(),
                                     "--out",
                                     out.string(),
                                     "--jobs",
                                     "2",
                                     "--labs",
                                     "blocking"};
    command.insert(command.end(), extra.begin(), extra.end());
    return run_command(command, 400);
}

class Batch : public testing::Test {
protected:
    // One batch run over all samples, shared by the tests below.
    static void SetUpTestSuite() {
        dir_ = new TempDir;
        fs::path subs = dir_->path() / "submissions";
        // A copy of labs/ holding the reference solutions.
        for (const std::string& lab : solution_labs())
            copy_dir("solutions/" + lab, subs / "reference" / lab);
        // A whole handout tree holding the stubs.
        copy_dir("labs", subs / "stubs/labs");
        write_file(subs / "stubs/Makefile", read_file("Makefile"));
        write_file(subs / "does_not_compile/blocking/server.cpp",
                   "int main() { return missing_name; }\n");
        write_file(subs / "hangs/blocking/server.cpp", kHangingServer);
        // Passes some tests: a fixture that answers only the first line of each recv().
        write_file(subs / "partial/blocking/server.cpp",
                   read_file("tests/fixtures/first_line_only.cpp"));
        write_file(subs / "partial/blocking/fixture.hpp", read_file("tests/fixtures/fixture.hpp"));
        write_file(subs / "memory_hog/blocking/server.cpp", kMemoryHog);
        temp_dirs_before_ = new std::vector<std::string>(batch_temp_dirs());
        run_ = new CommandRun(run_batch(subs, dir_->path() / "out", {"--max-memory", "1024"}));
        std::string header;
        rows_ = new std::map<std::string, Row>(
            read_gradebook(dir_->path() / "out/gradebook.csv", header));
        header_ = new std::string(header);
    }
    static void TearDownTestSuite() {
        delete header_;
        delete rows_;
        delete run_;
        delete temp_dirs_before_;
        delete dir_;
    }

    static Row row(const std::string& student) {
        auto found = rows_->find(student + "/blocking");
        EXPECT_NE(found, rows_->end()) << "no gradebook row for " << student << "\n"
                                       << run_->output;
        return found == rows_->end() ? Row{} : found->second;
    }

    static inline TempDir* dir_ = nullptr;
    static inline CommandRun* run_ = nullptr;
    static inline std::map<std::string, Row>* rows_ = nullptr;
    static inline std::string* header_ = nullptr;
    static inline std::vector<std::string>* temp_dirs_before_ = nullptr;
};

TEST_F(Batch, FinishesAndWritesOneRowPerStudentAndLab) {
    EXPECT_EQ(run_->exit_code, 0) << run_->output;
    EXPECT_EQ(*header_, "student,lab,score,max,failed_tests,note");
    EXPECT_EQ(rows_->size(), 6u) << run_->output;
}

TEST_F(Batch, ReferenceSolutionsEarnFullMarks) {
    Row r = row("reference");
    EXPECT_GT(r.max, 0);
    EXPECT_EQ(r.score, r.max) << r.failed << " " << r.note << "\n" << run_->output;
    EXPECT_EQ(r.failed, "");
}

TEST_F(Batch, StubsInAHandoutTreeScoreZero) {
    Row r = row("stubs");
    EXPECT_EQ(r.score, 0);
    EXPECT_NE(r.failed.find("one_line"), std::string::npos) << r.failed;
    EXPECT_EQ(r.note, "");  // it compiled and was graded
}

TEST_F(Batch, ASubmissionThatDoesNotCompileShowsTheCompilersFirstError) {
    Row r = row("does_not_compile");
    EXPECT_EQ(r.score, 0);
    EXPECT_GT(r.max, 0);
    EXPECT_EQ(r.note.rfind("does not compile: ", 0), 0u) << r.note;
    EXPECT_NE(r.note.find("missing_name"), std::string::npos) << r.note;
}

TEST_F(Batch, AHangingServerScoresZero) {
    Row r = row("hangs");
    EXPECT_EQ(r.score, 0);
    EXPECT_NE(r.failed.find("one_line"), std::string::npos) << r.failed;
}

TEST_F(Batch, APartlyCorrectServerGetsPartialCredit) {
    Row r = row("partial");
    EXPECT_GT(r.score, 0);
    EXPECT_LT(r.score, r.max);
    EXPECT_NE(r.failed.find("pipelined_lines"), std::string::npos) << r.failed;
}

TEST_F(Batch, AServerThatFillsMemoryIsStoppedByTheLimit) {
    Row r = row("memory_hog");
    EXPECT_EQ(r.score, 0);
    EXPECT_NE(r.failed.find("one_line"), std::string::npos) << r.failed;
}

TEST_F(Batch, WritesEachStudentsResultsInGradescopesFormat) {
    for (const char* student :
         {"reference", "stubs", "does_not_compile", "hangs", "partial", "memory_hog"}) {
        fs::path path = dir_->path() / "out" / (std::string(student) + ".json");
        nlohmann::json results = nlohmann::json::parse(read_file(path), nullptr, false);
        ASSERT_FALSE(results.is_discarded()) << path;
        Row r = row(student);
        EXPECT_EQ(results["score"], r.score) << student;
        ASSERT_TRUE(results["tests"].is_array() && !results["tests"].empty()) << student;
        int sum = 0;
        for (const auto& test : results["tests"]) {
            EXPECT_EQ(test["name"].get<std::string>().rfind("blocking", 0), 0u) << test;
            sum += test["score"].get<int>();
        }
        EXPECT_EQ(sum, r.score) << student;
    }
}

TEST_F(Batch, LeavesNoTemporaryFilesNorProcesses) {
    // No directory the batch made is left: every one now was there before
    // (another run, interrupted, may have left one, and may even be cleaned meanwhile).
    for (const std::string& dir : batch_temp_dirs())
        EXPECT_NE(std::find(temp_dirs_before_->begin(), temp_dirs_before_->end(), dir),
                  temp_dirs_before_->end())
            << dir << " was left behind";
    EXPECT_TRUE(processes_matching(dir_->path().string()).empty());
    EXPECT_TRUE(processes_matching("/build/labs/blocking").empty());
}

TEST(BatchTimeout, StopsALabThatGradesTooLong) {
    TempDir dir;
    write_file(dir.path() / "submissions/hangs/blocking/server.cpp", kHangingServer);
    CommandRun run = run_batch(dir.path() / "submissions", dir.path() / "out", {"--timeout", "2"});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    std::string header;
    auto rows = read_gradebook(dir.path() / "out/gradebook.csv", header);
    ASSERT_EQ(rows.count("hangs/blocking"), 1u) << run.output;
    EXPECT_EQ(rows["hangs/blocking"].score, 0);
    EXPECT_NE(rows["hangs/blocking"].note.find("took longer than 2 s"), std::string::npos)
        << rows["hangs/blocking"].note;
    EXPECT_TRUE(processes_matching(dir.path().string()).empty());
}

// ---- the box: each attacker is graded beside a correct submission

constexpr int kBoxDiskMiB = 32;  // the batch's --max-disk for these tests

// The attacks of tests/fixtures/box/attacks.hpp, each a submission of its own.
const char* const kAttacks[] = {"reads_another_submission", "reads_the_solutions",
                                "writes_outside_its_tree",  "kills_the_grader",
                                "fills_the_disk",           "leaves_a_process"};

// Processes whose command line holds `needle`, wherever they run.
std::vector<int> processes_anywhere(const std::string& needle) {
    std::vector<int> found;
    for (const fs::directory_entry& entry : fs::directory_iterator("/proc")) {
        int pid = std::atoi(entry.path().filename().c_str());
        if (pid <= 0 || pid == ::getpid()) continue;
        std::string cmdline = read_file(entry.path() / "cmdline");
        if (cmdline.find(needle) != std::string::npos) found.push_back(pid);
    }
    return found;
}

class BatchBox : public testing::Test {
protected:
    static void SetUpTestSuite() {
        checker::BoxSupport box = checker::probe_box(true);
        if (box.level != checker::BoxLevel::Full) {
            skipped_ = new std::string("no box here (" + box.reason + "): run as root");
            return;
        }
        dir_ = new TempDir;
        fs::path subs = dir_->path() / "submissions";
        copy_dir("solutions/blocking", subs / "victim/blocking");
        planted_ = new std::string("iolab-planted-" + dir_->path().filename().string());
        std::string solution = read_file("solutions/blocking/server.cpp");
        for (const char* attack : kAttacks) {
            fs::path lab = subs / attack / "blocking";
            write_file(lab / "attacks.hpp", read_file("tests/fixtures/box/attacks.hpp"));
            write_file(
                lab / "attack.hpp",
                "constexpr const char* kSubmissions = \"" + subs.string() + "\";\n" +
                    "constexpr const char* kOut = \"" + (dir_->path() / "out").string() + "\";\n" +
                    "constexpr const char* kKit = \"" + fs::current_path().string() + "\";\n" +
                    "constexpr const char* kPlanted = \"" + *planted_ + "\";\n" +
                    "constexpr const char* kVictim = \"victim\";\n" +
                    "constexpr long long kFillBytes = " + std::to_string(2LL * kBoxDiskMiB << 20) +
                    ";\n" + "#include \"attacks.hpp\"\n" +
                    "static const bool attacked = (box_attack::" + attack + "(), true);\n");
            write_file(lab / "server.cpp", "#include \"attack.hpp\"\n" + solution);
        }
        victim_source_ = new std::string(read_file(subs / "victim/blocking/server.cpp"));
        run_ = new CommandRun(
            run_batch(subs, dir_->path() / "out", {"--max-disk", std::to_string(kBoxDiskMiB)}));
        left_behind_ = new std::vector<int>(processes_anywhere("students/leaves_a_process/"));
        for (int pid : *left_behind_) ::kill(pid, SIGKILL);  // so that a failure leaks nothing
        std::string header;
        rows_ = new std::map<std::string, Row>(
            read_gradebook(dir_->path() / "out/gradebook.csv", header));
    }
    static void TearDownTestSuite() {
        for (int pid : processes_anywhere("students/leaves_a_process/")) ::kill(pid, SIGKILL);
        delete rows_;
        delete left_behind_;
        delete victim_source_;
        delete run_;
        delete planted_;
        delete dir_;
        delete skipped_;
    }
    void SetUp() override {
        if (skipped_) GTEST_SKIP() << *skipped_;
    }

    // The attacker's row, and its results (where an attack that succeeded says so).
    static void expect_full_marks(const std::string& student) {
        auto found = rows_->find(student + "/blocking");
        ASSERT_NE(found, rows_->end()) << "no gradebook row for " << student << "\n"
                                       << run_->output;
        std::string results = read_file(dir_->path() / "out" / (student + ".json"));
        EXPECT_EQ(results.find("attack succeeded"), std::string::npos) << results;
        EXPECT_GT(found->second.max, 0);
        EXPECT_EQ(found->second.score, found->second.max)
            << found->second.failed << " " << found->second.note << "\n"
            << results.substr(0, 4000);
    }

    static inline TempDir* dir_ = nullptr;
    static inline CommandRun* run_ = nullptr;
    static inline std::map<std::string, Row>* rows_ = nullptr;
    static inline std::string* planted_ = nullptr;
    static inline std::string* victim_source_ = nullptr;
    static inline std::vector<int>* left_behind_ = nullptr;
    static inline std::string* skipped_ = nullptr;
};

TEST_F(BatchBox, CompletesAndTheCorrectSubmissionKeepsFullMarks) {
    EXPECT_EQ(run_->exit_code, 0) << run_->output;
    EXPECT_NE(run_->output.find("Each submission in a box: user ID 1800000000 + n"),
              std::string::npos)
        << run_->output;
    EXPECT_EQ(rows_->size(), std::size(kAttacks) + 1) << run_->output;
    expect_full_marks("victim");
}

TEST_F(BatchBox, AnotherSubmissionCannotBeRead) { expect_full_marks("reads_another_submission"); }

TEST_F(BatchBox, TheSolutionsCannotBeReadThroughTheKitsLinks) {
    expect_full_marks("reads_the_solutions");
}

TEST_F(BatchBox, NothingOutsideItsTreeIsWritten) {
    expect_full_marks("writes_outside_its_tree");
    for (const fs::path& dir : {dir_->path() / "submissions", dir_->path() / "out",
                                fs::temp_directory_path(), dir_->path()})
        EXPECT_FALSE(fs::exists(dir / *planted_)) << dir / *planted_;
    EXPECT_EQ(read_file(dir_->path() / "submissions/victim/blocking/server.cpp"), *victim_source_);
}

TEST_F(BatchBox, TheGraderCannotBeSignalled) {
    EXPECT_EQ(run_->exit_code, 0) << run_->output;
    expect_full_marks("kills_the_grader");
}

TEST_F(BatchBox, WritesStopAtTheDiskLimitAndTheGradebookSaysSo) {
    expect_full_marks("fills_the_disk");
    Row r = (*rows_)["fills_the_disk/blocking"];
    EXPECT_NE(r.note.find("its files filled the " + std::to_string(kBoxDiskMiB) + " MiB"),
              std::string::npos)
        << r.note;
}

TEST_F(BatchBox, NoProcessOfItsUserSurvivesItsJobs) {
    expect_full_marks("leaves_a_process");
    EXPECT_TRUE(left_behind_->empty())
        << left_behind_->size() << " left, pid " << left_behind_->front();
}

// A kit of links to this one, in a directory that only root may enter (as a
// kit in /root is): `make_file` names a part given as a copy instead.
fs::path kit_of_links(const fs::path& dir, const std::string& copied = "") {
    fs::path kit = dir / "kit";
    fs::create_directories(kit);
    fs::permissions(dir, fs::perms::owner_all);
    for (const char* part : {"Makefile", "tools", "labs", "build"}) {
        if (part == copied) fs::copy_file(part, kit / part);
        else fs::create_symlink(fs::current_path() / part, kit / part);
    }
    return kit;
}

Row batch_of_one_reference(const fs::path& dir, const fs::path& kit, CommandRun& run) {
    copy_dir("solutions/blocking", dir / "submissions/reference/blocking");
    run = run_batch(dir / "submissions", dir / "out", {"--kit", kit.string()});
    std::string header;
    auto rows = read_gradebook(dir / "out/gradebook.csv", header);
    EXPECT_EQ(rows.count("reference/blocking"), 1u) << run.output;
    return rows["reference/blocking"];
}

// A directory only root may enter, which the box neither hides nor makes
// anew (not under /tmp, the kit, the submissions or the results), as /root is.
struct RootOnlyDir {
    fs::path path;
    RootOnlyDir() {
        char pattern[] = "/run/iolab-test-XXXXXX";
        if (::mkdtemp(pattern)) path = pattern;
    }
    ~RootOnlyDir() {
        std::error_code ignored;
        if (!path.empty()) fs::remove_all(path, ignored);
    }
};

TEST(BatchBoxKit, AKitInADirectoryOnlyRootMayEnterStillBuildsInTheBox) {
    if (checker::probe_box(true).level != checker::BoxLevel::Full) GTEST_SKIP() << "no box here";
    RootOnlyDir kit_dir;
    if (kit_dir.path.empty()) GTEST_SKIP() << "no /run here";
    TempDir dir;
    CommandRun run;
    Row r = batch_of_one_reference(dir.path(), kit_of_links(kit_dir.path), run);
    EXPECT_NE(run.output.find("Each submission in a box"), std::string::npos) << run.output;
    EXPECT_EQ(r.score, r.max) << r.note << "\n" << run.output;
}

TEST(BatchBoxKit, AKitItsUserCannotReadMeansNoBoxAndSaysWhy) {
    if (checker::probe_box(true).level != checker::BoxLevel::Full) GTEST_SKIP() << "no box here";
    TempDir dir;
    fs::path kit = kit_of_links(dir.path(), "Makefile");
    fs::permissions(kit / "Makefile", fs::perms::owner_read | fs::perms::owner_write);
    CommandRun run;
    Row r = batch_of_one_reference(dir.path(), kit, run);
    EXPECT_EQ(run.output.rfind("No box (its user cannot read " + (kit / "Makefile").string() +
                                   " (Permission denied): make the kit readable by all",
                               0),
              0u)
        << run.output;
    EXPECT_EQ(r.score, r.max) << r.note << "\n" << run.output;  // graded all the same
}

// A thread per client reserves 8 MiB of address space per thread: the
// batch's default memory limit must leave room for the threads lab's 500.
TEST(BatchMemoryLimit, LeavesRoomForAThreadPerClient) {
    TempDir dir;
    copy_dir("solutions/threads", dir.path() / "submissions/reference/threads");
    std::vector<std::string> command{build_dir() + "/checker",
                                     "batch",
                                     "--submissions",
                                     (dir.path() / "submissions").string(),
                                     "--out",
                                     (dir.path() / "out").string(),
                                     "--labs",
                                     "threads"};
    CommandRun run = run_command(command, 300);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    std::string header;
    auto rows = read_gradebook(dir.path() / "out/gradebook.csv", header);
    ASSERT_EQ(rows.count("reference/threads"), 1u) << run.output;
    Row r = rows["reference/threads"];
    EXPECT_EQ(r.score, r.max) << r.failed << "\n" << run.output;
}

TEST(BatchUsage, SaysWhatIsWrongInOneLine) {
    TempDir dir;
    CommandRun run =
        run_command({build_dir() + "/checker", "batch", "--submissions",
                     (dir.path() / "none").string(), "--out", (dir.path() / "out").string()},
                    30);
    EXPECT_EQ(run.exit_code, 2);
    EXPECT_EQ(run.output, "checker batch: --submissions " + (dir.path() / "none").string() +
                              " is not a directory\n");
}

}  // namespace
