// Helpers for the tests of the instructor tools: run a command (make, a
// script, the checker) as a contained child process with a time bound, in a
// temporary directory that is removed afterwards.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace iolab_test {

struct CommandRun {
    int exit_code = -1;  // -1: did not finish in time, or was killed
    double seconds = 0;
    std::string output;  // stdout and stderr (the first MiB)
};

// Runs `command` in `directory` (the kit's top directory if empty), without
// what an outer make (make test, make sanitize) passes down in MAKEFLAGS.
// Extra environment variables: "NAME=value".
CommandRun run_command(const std::vector<std::string>& command, double timeout_seconds,
                       const std::filesystem::path& directory = {},
                       const std::vector<std::string>& environment = {});

// A fresh directory under /tmp, removed with its contents.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& text);

// The labs that have a reference solution (solutions/*/server.cpp), sorted.
std::vector<std::string> solution_labs();

// The stub make-stub.awk generates from `solution` (as labs/MODEL/server.cpp).
CommandRun generate_stub(const std::filesystem::path& solution, const std::string& stub_path,
                         int level = 1);

// The lines inside the LAB regions of every solution that the kit does not
// ship anyway (outside regions, in labs/common or the checker): trimmed, at
// least 12 characters, not comments. Any of them in a handout is a leak.
std::vector<std::string> solution_secret_lines();

}  // namespace iolab_test
