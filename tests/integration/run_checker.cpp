#include "run_checker.hpp"

#include "grader.hpp"
#include "models.hpp"
#include "server_process.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

namespace iolab_test {

std::vector<std::string> model_names() {
    std::vector<std::string> names;
    for (const checker::Model& model : checker::all_models()) names.push_back(model.name);
    return names;
}

std::optional<std::string> lab_unavailable_here(const std::string& lab) {
    const checker::Lab* found = checker::find_lab(lab);
    return found ? checker::unavailable_here(*found) : std::nullopt;
}

std::string build_dir() {
    // Absolute, so that looking for leftover processes by path cannot mistake
    // another checkout's processes for this one's.
    const char* dir = std::getenv("IOLAB_BUILD");
    return std::filesystem::absolute(dir && *dir ? dir : "build").lexically_normal().string();
}

std::string CheckerRun::test_line(const std::string& test) const {
    std::istringstream lines(results_json);
    for (std::string line; std::getline(lines, line);)
        if (line.find("\"name\": \"" + test + "\"") != std::string::npos) return line;
    return "";
}

CheckerRun grade(const std::string& lab, const std::string& server, const std::string& only,
                 double timeout_seconds) {
    std::vector<std::string> arguments{"grade", "--lab", lab};
    if (!only.empty()) arguments.insert(arguments.end(), {"--only", only});
    arguments.insert(arguments.end(), {"--", server});
    return run_checker(arguments, timeout_seconds);
}

namespace {

// One checker run under way.
class PendingRun {
public:
    PendingRun(std::vector<std::string> arguments, double timeout_seconds)
        : deadline_(std::chrono::duration_cast<checker::Duration>(
              std::chrono::duration<double>(timeout_seconds))) {
        int json_fd = ::mkstemp(json_path_);
        ::close(json_fd);
        // --json goes before "--" (which starts the server's own command line).
        auto end_of_options = std::find(arguments.begin(), arguments.end(), "--");
        arguments.insert(end_of_options, {"--json", json_path_});
        std::vector<std::string> command{build_dir() + "/checker"};
        command.insert(command.end(), arguments.begin(), arguments.end());
        // The server's command line ends with this word (its path, or the script of "sh -c").
        auto separator = std::find(arguments.begin(), arguments.end(), "--");
        bool has_server = separator != arguments.end() && separator + 1 != arguments.end();
        server_path_ = has_server ? arguments.back() : "";
        process_.emplace(command, checker::ServerLimits{.open_files = 20000, .processes = 4096});
    }
    PendingRun(const PendingRun&) = delete;
    PendingRun& operator=(const PendingRun&) = delete;
    ~PendingRun() { ::unlink(json_path_); }

    bool done() { return !process_->running() || deadline_.passed(); }

    // Once done(): what it did; the checker is killed if it is still running.
    CheckerRun finish() {
        CheckerRun run;
        if (!process_->running() && WIFEXITED(*process_->exit_status()))
            run.exit_code = WEXITSTATUS(*process_->exit_status());
        // The whole report (a full lab's failures, each with the server's last lines).
        run.output = process_->output_tail(20000, 4 << 20);
        // Before this harness cleans up: did the checker leave anything of the server behind?
        if (!server_path_.empty()) run.leftovers = processes_matching(server_path_);
        process_.reset();
        run.seconds = checker::seconds(checker::Clock::now() - start_);
        std::ifstream json(json_path_);
        run.results_json.assign(std::istreambuf_iterator<char>(json), {});
        return run;
    }

private:
    char json_path_[32] = "/tmp/iolab-test-results-XXXXXX";
    checker::Clock::time_point start_ = checker::Clock::now();
    checker::Deadline deadline_;
    std::string server_path_;
    std::optional<checker::ServerProcess> process_;
};

}  // namespace

std::vector<CheckerRun> run_checkers(const std::vector<std::vector<std::string>>& runs,
                                     std::size_t at_once, double timeout_seconds) {
    std::vector<CheckerRun> results(runs.size());
    std::map<std::size_t, std::unique_ptr<PendingRun>> running;
    std::size_t next = 0;
    while (next < runs.size() || !running.empty()) {
        for (; next < runs.size() && running.size() < std::max<std::size_t>(at_once, 1); ++next)
            running[next] = std::make_unique<PendingRun>(runs[next], timeout_seconds);
        for (auto it = running.begin(); it != running.end();) {
            if (!it->second->done()) {
                ++it;
                continue;
            }
            results[it->first] = it->second->finish();
            it = running.erase(it);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return results;
}

CheckerRun run_checker(std::vector<std::string> arguments, double timeout_seconds) {
    return run_checkers({std::move(arguments)}, 1, timeout_seconds).front();
}

std::vector<int> processes_matching(const std::string& needle) {
    std::vector<int> found;
    // Only processes started from this directory: other checkouts of the kit
    // on the same machine run servers of the same names.
    std::error_code no_throw;
    std::filesystem::path here = std::filesystem::current_path(no_throw);
    DIR* proc = ::opendir("/proc");
    while (dirent* entry = proc ? ::readdir(proc) : nullptr) {
        int pid = std::atoi(entry->d_name);
        if (pid <= 0 || pid == ::getpid()) continue;
        if (std::filesystem::read_symlink("/proc/" + std::string(entry->d_name) + "/cwd",
                                          no_throw) != here)
            continue;
        std::ifstream cmdline("/proc/" + std::string(entry->d_name) + "/cmdline");
        std::string text((std::istreambuf_iterator<char>(cmdline)), {});
        if (text.find(needle) == std::string::npos) continue;
        // Only servers this test run started: they share its working directory
        // (other checkouts on the machine may be testing the same fixtures).
        std::error_code error;
        if (std::filesystem::read_symlink("/proc/" + std::string(entry->d_name) + "/cwd", error) !=
            std::filesystem::current_path(error))
            continue;
        found.push_back(pid);
    }
    if (proc) ::closedir(proc);
    return found;
}

}  // namespace iolab_test
