#include "batch.hpp"

#include "box.hpp"
#include "report.hpp"
#include "rubric.hpp"
#include "server_process.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

namespace checker {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr auto kPollInterval = 20ms;

// The result of one lab of one student: a row of the gradebook.
struct LabResult {
    std::string student;
    std::string lab;
    int score = 0;
    int max = 0;
    std::vector<std::string> failed_tests;
    std::string note;            // why it was not graded normally ("does not compile: ...")
    Json tests = Json::array();  // the checker's results.json tests, for the student's file
};

struct Submission {
    std::string name;  // the subdirectory's name
    fs::path labs;     // where its LAB/server.cpp are ("" if none found)
    fs::path tree;     // its private build tree
    uid_t uid = 0;     // the user ID its box runs under (BoxLevel::None: unused)
    int jobs_left = 0;
    bool mounted = false;   // its tree is a tmpfs of its own (BoxLevel::Full)
    bool released = false;  // its processes killed and its tree unmounted, after its last job
};

// The kit's parts a student's tree needs, shown in the box at their own
// paths; `linked` ones are links in the tree (tools/models.sh finds the list
// through tools/..).
struct KitPart {
    const char* path;
    bool linked;
};
constexpr KitPart kKitParts[] = {
    {"Makefile", true},         {"tools", true},
    {"labs/common", true},      {"labs/models.txt", false},
    {"build/libiolab.a", true}, {"build/obj/labs/common", true},
};

// A directory under /tmp, removed with everything in it.
class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "iolab-batch-XXXXXX").string();
        if (!::mkdtemp(pattern.data()))
            throw std::system_error(errno, std::generic_category(), "mkdtemp");
        path_ = pattern;
        // Each box's user passes through to its own tree, lists nothing.
        fs::permissions(path_,
                        fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

std::atomic<bool> interrupted{false};

void on_interrupt(int) { interrupted = true; }

// Ctrl-C or SIGTERM stops the batch cleanly: running jobs are killed, the
// temporary trees removed.
void catch_interrupts() {
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
}

bool has_lab_dirs(const fs::path& dir) {
    std::error_code error;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir, error))
        if (entry.is_directory() && fs::is_regular_file(entry.path() / "server.cpp")) return true;
    return false;
}

// A handout tree has labs/LAB/server.cpp; a copy of labs/ has LAB/server.cpp.
fs::path find_labs(const fs::path& submission) {
    if (has_lab_dirs(submission / "labs")) return submission / "labs";
    if (has_lab_dirs(submission)) return submission;
    return {};
}

std::vector<Submission> find_submissions(const fs::path& dir) {
    std::vector<Submission> found;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
        std::string name = entry.path().filename().string();
        if (!entry.is_directory() || name.empty() || name[0] == '.') continue;
        found.push_back({name, find_labs(entry.path()), {}});
    }
    std::sort(found.begin(), found.end(),
              [](const Submission& a, const Submission& b) { return a.name < b.name; });
    return found;
}

// Copies a student's lab directory: regular files and directories only (a
// symbolic link could point anywhere on the grading machine).
void copy_lab(const fs::path& from, const fs::path& to) {
    fs::create_directories(to);
    for (const fs::directory_entry& entry : fs::directory_iterator(from)) {
        if (entry.is_symlink()) continue;
        if (entry.is_directory()) copy_lab(entry.path(), to / entry.path().filename());
        else if (entry.is_regular_file()) fs::copy_file(entry.path(), to / entry.path().filename());
    }
}

void touch(const fs::path& file) {
    fs::create_directories(file.parent_path());
    std::ofstream{file};
}

// `make` as the kit runs it, without sanitizers, and without what an outer
// make (make test, make sanitize) passes down through the environment.
std::vector<std::string> make_command(const fs::path& tree, const std::string& target) {
    return {"make",      "-s",  "--no-print-directory", "-C", tree.string(), "BUILD=build",
            "SANITIZE=", target};
}

void forget_outer_make() {
    for (const char* variable : {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"})
        ::unsetenv(variable);
}

std::string first_error(const std::string& build_output) {
    std::istringstream lines(build_output);
    std::string last;
    for (std::string line; std::getline(lines, line);) {
        if (line.find("error") != std::string::npos) return line;
        if (!line.empty()) last = line;
    }
    return last;
}

// The parts every student tree shares: the kit's Makefile, tools and
// labs/common with its library, built once in the kit (make does nothing when
// it is up to date). Student trees link to them and build only their labs.
fs::path prepare_kit(const fs::path& kit_dir, int timeout_seconds) {
    fs::path kit = fs::absolute(kit_dir).lexically_normal();
    for (const char* needed : {"Makefile", "labs/common", "tools/ensure-deps.sh"})
        if (!fs::exists(kit / needed))
            throw std::runtime_error(
                "no " + std::string(needed) + " in " + kit.string() +
                ": run checker batch from the kit's top directory, or give --kit DIR");
    ServerProcess make(make_command(kit, "build/libiolab.a"),
                       ServerLimits{.open_files = 4096, .processes = 4096});
    if (!make.wait_for_exit(Deadline(std::chrono::seconds(timeout_seconds))) ||
        *make.exit_status() != 0)
        throw std::runtime_error("the kit's labs/common does not build: " +
                                 first_error(make.output()));
    return kit;
}

// Gives `dir` and everything in it to `uid` (links themselves, not what they point to).
void give_to(const fs::path& dir, uid_t uid) {
    if (::lchown(dir.c_str(), uid, uid) < 0)
        throw std::system_error(errno, std::generic_category(), "lchown " + dir.string());
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir))
        if (::lchown(entry.path().c_str(), uid, uid) < 0)
            throw std::system_error(errno, std::generic_category(),
                                    "lchown " + entry.path().string());
}

// A student's private tree: the kit's parts as links, the student's labs as
// copies; in a box, a tmpfs of its own (bounded), owned by its user.
void make_tree(Submission& submission, const fs::path& kit_in_box,
               const std::vector<std::string>& labs, BoxLevel box, long long max_disk_bytes) {
    fs::create_directories(submission.tree);
    if (box == BoxLevel::Full) {
        mount_private_tmpfs(submission.tree, submission.uid, max_disk_bytes);
        submission.mounted = true;
    }
    fs::create_directories(submission.tree / "labs");
    fs::create_directories(submission.tree / "build/obj/labs");
    for (const KitPart& part : kKitParts)
        if (part.linked) fs::create_symlink(kit_in_box / part.path, submission.tree / part.path);
    touch(submission.tree / "build/.deps-ok");  // the dependencies are installed: the kit was built
    for (const std::string& lab : labs)
        if (!submission.labs.empty() && fs::is_directory(submission.labs / lab) &&
            !fs::is_symlink(submission.labs / lab))
            copy_lab(submission.labs / lab, submission.tree / "labs" / lab);
    if (box != BoxLevel::None) {
        give_to(submission.tree, submission.uid);
        fs::permissions(submission.tree, fs::perms::owner_all);
    }
}

// After a submission's last job: nothing of its user survives, and its tree's memory is freed.
void release(Submission& submission, BoxLevel box) {
    if (submission.released) return;
    submission.released = true;
    if (box != BoxLevel::None) kill_every_process_of(submission.uid);
    if (submission.mounted) ::umount2(submission.tree.c_str(), MNT_DETACH);
    submission.mounted = false;
}

// What a job sees of the files (box.hpp): its tree, the kit's parts it needs
// (and for grading, the checker and its results directory), nothing of the
// kit's solutions, the other submissions or the results.
// In the box, the kit's parts and the checker are shown under the batch's
// temporary directory (TEMP/kit), whose directories are root's and open to
// all: a kit in /root, say, whose directories the box's user cannot pass
// through, still builds.
struct Paths {
    fs::path kit, submissions, out, temp, checker;
    fs::path kit_in_box{};      // where a job finds the kit's parts (the tree's links point there)
    fs::path checker_in_box{};  // and the checker, with its shim beside it

    void place(BoxLevel box) {
        kit_in_box = box == BoxLevel::Full ? temp / "kit" : kit;
        checker_in_box =
            box == BoxLevel::Full ? temp / "kit/checker" / checker.filename() : checker;
    }
};

fs::path shim_beside(const fs::path& checker) { return checker.parent_path() / "short_io_shim.so"; }

FileView job_view(const Paths& paths, const fs::path& tree, const fs::path& results,
                  long long scratch_bytes) {
    FileView::Spec spec;
    spec.tree = tree.string();
    spec.scratch_bytes = scratch_bytes;
    for (const KitPart& part : kKitParts)
        spec.shown.push_back(
            {(paths.kit / part.path).string(), (paths.kit_in_box / part.path).string()});
    if (!results.empty()) {
        spec.writable.push_back(results.string());
        spec.shown.push_back({paths.checker.string(), paths.checker_in_box.string()});
        if (fs::exists(shim_beside(paths.checker)))
            spec.shown.push_back(
                {shim_beside(paths.checker).string(), shim_beside(paths.checker_in_box).string()});
    }
    for (const fs::path& hidden : {paths.kit, paths.submissions, paths.out, paths.temp})
        spec.hidden.push_back(hidden.string());
    return FileView(spec);
}

int max_points(const std::string& lab) {
    int total = 0;
    if (const Lab* found = find_lab(lab))
        for (const RubricEntry& entry : found->rubric) total += entry.points;
    return total;
}

// Reads what `checker grade --json` wrote into the result.
void read_checker_results(const fs::path& json_path, LabResult& result) {
    std::ifstream in(json_path);
    Json results = Json::parse(in, nullptr, false);
    if (results.is_discarded() || !results.contains("tests")) {
        result.note = "the checker wrote no results";
        return;
    }
    result.score = results.value("score", 0);
    result.max = results.value("max_score", result.max);
    if (results["tests"].empty()) result.note = results.value("output", "");
    for (Json& test : results["tests"]) {
        if (test.value("status", "") == "failed")
            result.failed_tests.push_back(test.value("name", "?"));
        test["name"] = result.lab + ": " + test.value("name", "?");
        result.tests.push_back(test);
    }
}

// How every job of the batch is run: where things are, and the box.
struct Setting {
    const BatchOptions& options;
    Paths paths;
    BoxLevel box = BoxLevel::None;
    bool private_network = false;
    long long max_disk_bytes() const { return static_cast<long long>(options.max_disk_mib) << 20; }
};

// One lab of one student, built then graded, each step a contained subprocess.
class Job {
public:
    enum class Step { Build, Grade, Done };

    Job(const Setting& setting, Submission& submission, const std::string& lab,
        const fs::path& results)
        : setting_(setting),
          submission_(submission),
          results_dir_(results / (submission.name + "." + lab)),
          json_path_(results_dir_ / "results.json") {
        result_.student = submission.name;
        result_.lab = lab;
        result_.max = max_points(lab);
        ++submission.jobs_left;
    }

    // Starts the first step (or finishes at once when there is nothing to build).
    void start() {
        if (!fs::is_regular_file(submission_.tree / "labs" / result_.lab / "server.cpp")) {
            result_.note = "no " + result_.lab + "/server.cpp in the submission";
            step_ = Step::Done;
            return;
        }
        // Only root reads or writes the results: the box's user cannot.
        fs::create_directories(results_dir_);
        fs::permissions(results_dir_, fs::perms::owner_all);
        if (setting_.box == BoxLevel::Full) {
            build_view_.emplace(
                job_view(setting_.paths, submission_.tree, {}, setting_.max_disk_bytes()));
            grade_view_.emplace(job_view(setting_.paths, submission_.tree, results_dir_,
                                         setting_.max_disk_bytes()));
        }
        ServerLimits limits{.open_files = 4096,
                            .processes = 4096,
                            .private_network = setting_.private_network,
                            .working_directory = submission_.tree.string(),
                            .view = build_view_ ? &*build_view_ : nullptr,
                            .run_as_uid = boxed() ? static_cast<int>(submission_.uid) : -1};
        run(make_command(submission_.tree, "build/labs/" + result_.lab),
            setting_.options.build_timeout_seconds, limits);
        step_ = Step::Build;
    }

    // Moves the job on if its step ended or ran out of time. True once done.
    bool poll() {
        if (step_ == Step::Done) return true;
        bool ended = !process_->running();
        if (!ended && !deadline_->passed()) return false;
        if (step_ == Step::Build) finish_build(ended);
        else finish_grade(ended);
        if (step_ == Step::Done) note_full_disk();
        return step_ == Step::Done;
    }

    void stop() { process_.reset(); }
    const LabResult& result() const { return result_; }
    Submission& submission() { return submission_; }

private:
    bool boxed() const { return setting_.box != BoxLevel::None; }

    void run(const std::vector<std::string>& command, int timeout_seconds, ServerLimits limits) {
        process_.reset();
        process_ = std::make_unique<ServerProcess>(command, limits);
        deadline_.emplace(std::chrono::seconds(timeout_seconds));
    }

    bool succeeded() const {
        return process_->exit_status() && WIFEXITED(*process_->exit_status()) &&
               WEXITSTATUS(*process_->exit_status()) == 0;
    }

    // The grading checker runs as root (in the job's view and network), and
    // runs each server under the submission's user ID.
    std::vector<std::string> grade_command() const {
        std::string server = (submission_.tree / "build/labs" / result_.lab).string();
        std::vector<std::string> command{setting_.paths.checker_in_box.string(),
                                         "grade",
                                         "--lab",
                                         result_.lab,
                                         "--json",
                                         json_path_.string(),
                                         "--max-memory",
                                         std::to_string(setting_.options.max_memory_mib)};
        if (boxed()) command.insert(command.end(), {"--run-as", std::to_string(submission_.uid)});
        command.insert(command.end(), {"--", server});
        return command;
    }

    void finish_build(bool ended) {
        if (!ended) {
            result_.note = "the build took longer than " +
                           std::to_string(setting_.options.build_timeout_seconds) + " s";
        } else if (!succeeded()) {
            result_.note = "does not compile: " + first_error(process_->output());
        } else {
            // The grading checker starts the server in its own network
            // namespace where it can: ports of parallel jobs cannot collide.
            run(grade_command(), setting_.options.lab_timeout_seconds,
                ServerLimits{.open_files = 20000,
                             .processes = 4096,
                             .private_network = setting_.private_network,
                             .working_directory = submission_.tree.string(),
                             .view = grade_view_ ? &*grade_view_ : nullptr});
            step_ = Step::Grade;
            return;
        }
        process_.reset();
        step_ = Step::Done;
    }

    void finish_grade(bool ended) {
        if (!ended) {
            result_.note = "grading took longer than " +
                           std::to_string(setting_.options.lab_timeout_seconds) + " s: stopped";
        } else {
            read_checker_results(json_path_, result_);
        }
        process_.reset();  // kills whatever is left of the checker and the server
        step_ = Step::Done;
    }

    // A full tree explains a build that failed, or a server that could not
    // write: the gradebook says so.
    void note_full_disk() {
        struct statvfs tree {};
        if (!submission_.mounted || ::statvfs(submission_.tree.c_str(), &tree) < 0) return;
        if (tree.f_bavail * tree.f_frsize >= (1u << 20) && tree.f_favail > 0) return;
        result_.note += std::string(result_.note.empty() ? "" : "; ") + "its files filled the " +
                        std::to_string(setting_.options.max_disk_mib) +
                        " MiB its box may write (--max-disk)";
    }

    const Setting& setting_;
    Submission& submission_;
    fs::path results_dir_;
    fs::path json_path_;
    LabResult result_;
    Step step_ = Step::Build;
    std::optional<FileView> build_view_, grade_view_;
    std::unique_ptr<ServerProcess> process_;
    std::optional<Deadline> deadline_;
};

// Runs the jobs, at most `parallel` at a time. False if interrupted.
bool run_jobs(std::vector<std::unique_ptr<Job>>& jobs, int parallel, BoxLevel box) {
    std::size_t next = 0, done = 0;
    std::vector<Job*> running;
    while (done < jobs.size()) {
        if (interrupted) {
            for (Job* job : running) job->stop();
            return false;
        }
        while (static_cast<int>(running.size()) < parallel && next < jobs.size()) {
            jobs[next]->start();
            running.push_back(jobs[next++].get());
        }
        for (auto it = running.begin(); it != running.end();) {
            if (!(*it)->poll()) {
                ++it;
                continue;
            }
            const LabResult& result = (*it)->result();
            std::cout << "  " << result.student << " / " << result.lab << ": " << result.score
                      << "/" << result.max << (result.note.empty() ? "" : "  (" + result.note + ")")
                      << "\n"
                      << std::flush;
            ++done;
            if (--(*it)->submission().jobs_left == 0) release((*it)->submission(), box);
            it = running.erase(it);
        }
        std::this_thread::sleep_for(kPollInterval);
    }
    return true;
}

std::string csv_field(const std::string& text) {
    if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
    std::string quoted = "\"";
    for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
}

void write_gradebook(const fs::path& path, const std::vector<LabResult>& results) {
    std::ofstream out(path);
    out << "student,lab,score,max,failed_tests,note\n";
    for (const LabResult& result : results) {
        std::string failed;
        for (const std::string& test : result.failed_tests)
            failed += (failed.empty() ? "" : ";") + test;
        out << csv_field(result.student) << "," << csv_field(result.lab) << "," << result.score
            << "," << result.max << "," << csv_field(failed) << "," << csv_field(result.note)
            << "\n";
    }
}

// One student's results.json, in Gradescope's format: every lab's tests, or
// one failed entry for a lab that could not be graded.
Json student_results(const std::vector<const LabResult*>& labs) {
    int score = 0, max = 0;
    std::string summary;
    Json tests = Json::array();
    for (const LabResult* lab : labs) {
        score += lab->score;
        max += lab->max;
        summary += "Lab " + lab->lab + ": " + std::to_string(lab->score) + "/" +
                   std::to_string(lab->max) + (lab->note.empty() ? "" : " (" + lab->note + ")") +
                   "\n";
        if (!lab->tests.empty()) {
            for (const Json& test : lab->tests) tests.push_back(test);
        } else {
            tests.push_back({{"name", lab->lab},
                             {"score", 0},
                             {"max_score", lab->max},
                             {"status", "failed"},
                             {"output", lab->note}});
        }
    }
    return {{"score", score}, {"max_score", max}, {"output", summary}, {"tests", tests}};
}

void write_student_files(const fs::path& out, const std::vector<Submission>& submissions,
                         const std::vector<LabResult>& results) {
    std::cout << "\n" << std::left;
    for (const Submission& submission : submissions) {
        std::vector<const LabResult*> labs;
        for (const LabResult& result : results)
            if (result.student == submission.name) labs.push_back(&result);
        Json json = student_results(labs);
        std::ofstream(out / (submission.name + ".json")) << json.dump(2) << "\n";
        std::cout << "  " << submission.name << ": " << json["score"].get<int>() << "/"
                  << json["max_score"].get<int>() << "\n";
    }
}

std::vector<std::string> labs_to_grade(const std::vector<std::string>& wanted) {
    std::vector<std::string> labs;
    for (const Lab& lab : all_labs())
        if (wanted.empty() || std::find(wanted.begin(), wanted.end(), lab.name) != wanted.end())
            labs.push_back(lab.name);
    for (const std::string& name : wanted)
        if (!find_lab(name))
            throw std::runtime_error("unknown lab '" + name + "' (see: checker list)");
    return labs;
}

// GitHub Classroom's runner result (what its autograding-grading-reporter
// decodes): points are the sum of the tests' scores.
Json classroom_results(const Json& combined) {
    Json tests = Json::array();
    for (const Json& test : combined["tests"])
        tests.push_back({{"name", test.value("name", "?")},
                         {"status", test.value("status", "") == "passed" ? "pass" : "fail"},
                         {"score", test.value("score", 0)},
                         {"message", test.value("output", "")},
                         {"line_no", 0},
                         {"execution_time", "0s"}});
    bool full = combined.value("score", 0) == combined.value("max_score", 0);
    return {{"version", 1},
            {"status", full ? "pass" : "fail"},
            {"max_score", combined.value("max_score", 0)},
            {"tests", tests}};
}

}  // namespace

int run_combine(const std::vector<std::string>& lab_results, const std::string& format) {
    if (format != "gradescope" && format != "classroom") {
        std::cerr << "checker combine: --format is gradescope or classroom, not '" << format
                  << "'\n";
        return 2;
    }
    std::vector<LabResult> results;
    for (const std::string& path : lab_results) {
        LabResult result;
        result.lab = fs::path(path).stem().string();  // make grade writes LAB.json
        result.max = max_points(result.lab);
        if (!fs::is_regular_file(path)) {
            std::cerr << "checker combine: no file " << path << " (run make grade first)\n";
            return 2;
        }
        read_checker_results(path, result);
        results.push_back(std::move(result));
    }
    std::vector<const LabResult*> labs;
    for (const LabResult& result : results) labs.push_back(&result);
    Json combined = student_results(labs);
    std::cout << (format == "classroom" ? classroom_results(combined) : combined).dump(2) << "\n";
    return 0;
}

// Finds the box this machine allows, and says so in one line.
BoxSupport set_up_box(const BatchOptions& options, std::size_t students) {
    BoxSupport box = probe_box(!options.no_box);
    if (box.level == BoxLevel::Full) {
        try {
            enter_private_mounts();  // the trees' tmpfs mounts: the batch's and its jobs' only
        } catch (const std::system_error& error) {
            box = {BoxLevel::UserOnly, error.what()};
        }
    }
    for (std::size_t n = 0; box.level != BoxLevel::None && n < students; ++n)
        if (const passwd* account = ::getpwuid(kFirstBoxUid + static_cast<uid_t>(n)))
            throw std::runtime_error("user ID " + std::to_string(kFirstBoxUid + n) +
                                     ", which the box uses, belongs to the account " +
                                     account->pw_name + " (docs/instructors.md)");
    return box;
}

// What a job needs of the kit, and whether the box's user can read it there
// (a kit whose files only root may read would fail every build). Tried in a
// child, in the view of a grading job. Returns the first path it cannot read.
std::optional<std::string> unreadable_in_box(const Paths& paths, BoxLevel box,
                                             const fs::path& results) {
    std::optional<FileView> view;
    if (box == BoxLevel::Full)
        view.emplace(job_view(paths, paths.temp / "students", results, 1 << 20));
    std::vector<std::string> needed, named;  // where the job sees each, and what it is
    auto need = [&](const fs::path& in_box, const fs::path& real) {
        needed.push_back(in_box.string());
        named.push_back(real.string());
    };
    for (const KitPart& part : kKitParts) need(paths.kit_in_box / part.path, paths.kit / part.path);
    need(paths.checker_in_box, paths.checker);
    if (fs::exists(shim_beside(paths.checker)))
        need(shim_beside(paths.checker_in_box), shim_beside(paths.checker));
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) < 0) return "pipe2: " + std::string(std::strerror(errno));
    pid_t child = ::fork();
    if (child == 0) {
        std::string answer;
        if (view && view->enter() != 0) answer = "the view: " + std::string(std::strerror(errno));
        else if (become_user(kFirstBoxUid) != 0) answer = "setresuid";
        for (std::size_t i = 0; answer.empty() && i < needed.size(); ++i)
            if (::access(needed[i].c_str(), R_OK) < 0)
                answer = named[i] + " (" + std::strerror(errno) + ")";
        [[maybe_unused]] ssize_t ignored = ::write(pipe_fds[1], answer.data(), answer.size());
        ::_exit(0);
    }
    ::close(pipe_fds[1]);
    std::string answer;
    char buffer[512];
    for (ssize_t got; child > 0 && (got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
        answer.append(buffer, static_cast<std::size_t>(got));
    ::close(pipe_fds[0]);
    if (child > 0)
        while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
        }
    if (child < 0) return "fork: " + std::string(std::strerror(errno));
    return answer.empty() ? std::nullopt : std::optional<std::string>(answer);
}

void say_box(const BoxSupport& box, const BatchOptions& options) {
    std::string first = std::to_string(kFirstBoxUid);
    if (box.level == BoxLevel::Full)
        std::cout << "Each submission in a box: user ID " << first
                  << " + n, its own tree and /tmp (" << options.max_disk_mib
                  << " MiB each), the kit without solutions/, no other submission, no results\n";
    else if (box.level == BoxLevel::UserOnly)
        std::cout << "Each submission under a user ID of its own (" << first
                  << " + n), but seeing the machine's files (" << box.reason
                  << "): grade untrusted code where mount namespaces are allowed\n";
    else
        std::cout << "No box (" << box.reason
                  << "): submissions run as this user and see its files; grade untrusted code as "
                     "root (docs/instructors.md)\n";
}

// Releases every submission's box, however the batch ends.
struct ReleaseAll {
    std::vector<Submission>& submissions;
    BoxLevel box;
    ~ReleaseAll() {
        for (Submission& submission : submissions) release(submission, box);
    }
};

int run_batch(const BatchOptions& options) {
    try {
        if (!fs::is_directory(options.submissions))
            throw std::runtime_error("--submissions " + options.submissions +
                                     " is not a directory");
        if (options.jobs < 1) throw std::runtime_error("--jobs must be at least 1");
        std::vector<std::string> labs = labs_to_grade(options.labs);
        std::vector<Submission> submissions = find_submissions(options.submissions);
        if (submissions.empty())
            throw std::runtime_error(options.submissions + " holds no submission directories");
        fs::create_directories(options.out);
        forget_outer_make();
        catch_interrupts();

        fs::path kit = prepare_kit(options.kit, options.build_timeout_seconds);
        Setting setting{.options = options, .paths = {}};
        BoxSupport box = set_up_box(options, submissions.size());
        TempDir temp;
        setting.paths = {.kit = kit,
                         .submissions = fs::absolute(options.submissions).lexically_normal(),
                         .out = fs::absolute(options.out).lexically_normal(),
                         .temp = temp.path(),
                         .checker = options.checker};
        fs::path results_dir = temp.path() / "results";
        fs::create_directories(results_dir);
        fs::permissions(results_dir, fs::perms::owner_all);
        fs::create_directories(temp.path() / "students");
        fs::permissions(temp.path() / "students",
                        fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
        setting.paths.place(box.level);
        if (box.level != BoxLevel::None)
            if (std::optional<std::string> unreadable =
                    unreadable_in_box(setting.paths, box.level, results_dir)) {
                box = {BoxLevel::None, "its user cannot read " + *unreadable +
                                           ": make the kit readable by all, chmod -R o+rX"};
                setting.paths.place(box.level);
            }
        setting.box = box.level;
        say_box(box, options);
        ReleaseAll release_all{submissions, setting.box};
        for (std::size_t n = 0; n < submissions.size(); ++n) {
            submissions[n].tree = temp.path() / "students" / submissions[n].name;
            submissions[n].uid = kFirstBoxUid + static_cast<uid_t>(n);
            make_tree(submissions[n], setting.paths.kit_in_box, labs, setting.box,
                      setting.max_disk_bytes());
        }

        std::vector<std::unique_ptr<Job>> jobs;
        for (Submission& submission : submissions)
            for (const std::string& lab : labs)
                jobs.push_back(std::make_unique<Job>(setting, submission, lab, results_dir));
        setting.private_network = private_network_available();
        std::cout << "Grading " << submissions.size() << " submissions x " << labs.size()
                  << " labs, " << options.jobs << " at a time"
                  << (setting.private_network ? ", each in its own network namespace" : "") << "\n"
                  << std::flush;
        if (!run_jobs(jobs, options.jobs, setting.box)) {
            std::cerr << "checker batch: interrupted; no gradebook written\n";
            return 130;
        }

        std::vector<LabResult> results;
        for (const auto& job : jobs) results.push_back(job->result());
        write_gradebook(fs::path(options.out) / "gradebook.csv", results);
        write_student_files(options.out, submissions, results);
        std::cout << "\nGradebook: " << (fs::path(options.out) / "gradebook.csv").string() << "\n";
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "checker batch: " << error.what() << "\n";
        return 2;
    }
}

}  // namespace checker
