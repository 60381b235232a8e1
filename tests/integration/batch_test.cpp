// checker batch grades a class: one sample submission of each kind a class
// produces, built in a temporary directory, graded in parallel; each costs
// only its own grade, and nothing is left behind.
#include "commands.hpp"
#include "run_checker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

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
