#include "run_checker.hpp"

#include "server_process.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace iolab_test {

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

CheckerRun grade(const std::string& lab, const std::string& server, const std::string& only, double timeout_seconds) {
    std::vector<std::string> arguments{"grade", "--lab", lab};
    if (!only.empty()) arguments.insert(arguments.end(), {"--only", only});
    arguments.insert(arguments.end(), {"--", server});
    return run_checker(arguments, timeout_seconds);
}

CheckerRun run_checker(std::vector<std::string> arguments, double timeout_seconds) {
    char json_path[] = "/tmp/iolab-test-results-XXXXXX";
    int json_fd = ::mkstemp(json_path);
    ::close(json_fd);
    // --json goes before "--" (which starts the server's own command line).
    auto end_of_options = std::find(arguments.begin(), arguments.end(), "--");
    arguments.insert(end_of_options, {"--json", json_path});
    std::vector<std::string> command{build_dir() + "/checker"};
    command.insert(command.end(), arguments.begin(), arguments.end());
    // The server's command line ends with this word (its path, or the script of "sh -c").
    auto separator = std::find(arguments.begin(), arguments.end(), "--");
    bool has_server = separator != arguments.end() && separator + 1 != arguments.end();
    std::string server_path = has_server ? arguments.back() : "";

    CheckerRun run;
    auto start = checker::Clock::now();
    {
        checker::ServerProcess checker_process(command, checker::ServerLimits{.open_files = 20000, .processes = 4096});
        if (checker_process.wait_for_exit(checker::Deadline(std::chrono::duration_cast<checker::Duration>(
                std::chrono::duration<double>(timeout_seconds)))) &&
            WIFEXITED(*checker_process.exit_status()))
            run.exit_code = WEXITSTATUS(*checker_process.exit_status());
        run.output = checker_process.output_tail(200);
        // Before this harness cleans up: did the checker leave anything of the server behind?
        if (!server_path.empty()) run.leftovers = processes_matching(server_path);
    }
    run.seconds = checker::seconds(checker::Clock::now() - start);
    std::ifstream json(json_path);
    run.results_json.assign(std::istreambuf_iterator<char>(json), {});
    ::unlink(json_path);
    return run;
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
        if (std::filesystem::read_symlink("/proc/" + std::string(entry->d_name) + "/cwd", no_throw) != here) continue;
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
