#include "commands.hpp"

#include "server_process.hpp"

#include <stdlib.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

namespace iolab_test {

namespace fs = std::filesystem;

CommandRun run_command(const std::vector<std::string>& command, double timeout_seconds,
                       const fs::path& directory, const std::vector<std::string>& environment) {
    std::vector<std::string> full{"env", "-u", "MAKEFLAGS", "-u", "MFLAGS", "-u", "MAKELEVEL"};
    if (!directory.empty()) full.insert(full.end(), {"-C", directory.string()});
    full.insert(full.end(), environment.begin(), environment.end());
    full.insert(full.end(), command.begin(), command.end());

    CommandRun run;
    auto start = checker::Clock::now();
    checker::ServerProcess process(full,
                                   checker::ServerLimits{.open_files = 20000, .processes = 4096});
    auto budget = std::chrono::duration_cast<checker::Duration>(
        std::chrono::duration<double>(timeout_seconds));
    if (process.wait_for_exit(checker::Deadline(budget)) && WIFEXITED(*process.exit_status()))
        run.exit_code = WEXITSTATUS(*process.exit_status());
    run.output = process.output();
    run.seconds = checker::seconds(checker::Clock::now() - start);
    return run;
}

TempDir::TempDir() {
    std::string pattern = (fs::temp_directory_path() / "iolab-test-XXXXXX").string();
    if (!::mkdtemp(pattern.data()))
        throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
}

std::vector<std::string> solution_labs() {
    std::vector<std::string> labs;
    for (const fs::directory_entry& entry : fs::directory_iterator("solutions"))
        if (fs::is_regular_file(entry.path() / "server.cpp"))
            labs.push_back(entry.path().filename().string());
    std::sort(labs.begin(), labs.end());
    return labs;
}

CommandRun generate_stub(const fs::path& solution, const std::string& stub_path, int level) {
    return run_command(
        {"awk", "-v", "STUB_PATH=" + stub_path, "-v", "LEVEL=" + std::to_string(level), "-f",
         "tools/make-stub.awk", solution.string()},
        10);
}

namespace {

std::string trimmed(const std::string& line) {
    std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos) return "";
    return line.substr(first, line.find_last_not_of(" \t") - first + 1);
}

bool is_marker(const std::string& line, const char* marker) {
    return trimmed(line).rfind(marker, 0) == 0;
}

}  // namespace

std::vector<std::string> solution_secret_lines() {
    std::set<std::string> inside, shipped;
    for (const std::string& lab : solution_labs()) {
        std::istringstream lines(read_file("solutions/" + lab + "/server.cpp"));
        bool in_region = false;
        for (std::string line; std::getline(lines, line);) {
            if (is_marker(line, "// BEGIN LAB:")) {
                in_region = true;
                continue;
            }
            if (is_marker(line, "// END LAB")) {
                in_region = false;
                continue;
            }
            if (in_region) {
                inside.insert(trimmed(line));
                continue;
            }
            shipped.insert(trimmed(line));
            // The same code without its trailing comment is given code too.
            std::size_t comment = line.find("//");
            if (comment != std::string::npos) shipped.insert(trimmed(line.substr(0, comment)));
        }
    }
    for (const char* dir : {"labs/common", "checker"})
        for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
            if (!entry.is_regular_file()) continue;
            std::istringstream lines(read_file(entry.path()));
            for (std::string line; std::getline(lines, line);) shipped.insert(trimmed(line));
        }
    std::vector<std::string> secret;
    for (const std::string& line : inside)
        if (line.size() >= 12 && line.rfind("//", 0) != 0 && !shipped.count(line))
            secret.push_back(line);
    return secret;
}

}  // namespace iolab_test
