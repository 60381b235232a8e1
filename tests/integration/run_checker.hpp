// Runs build/checker as a contained child process, with a time bound, the way
// a student or an instructor runs it.
#pragma once

#include <string>
#include <vector>

namespace iolab_test {

// The build directory under test ($IOLAB_BUILD, default "build").
std::string build_dir();

struct CheckerRun {
    int exit_code = -1;         // -1: did not finish in time, or killed
    double seconds = 0;
    std::string output;         // stdout and stderr (the tail)
    std::string results_json;   // what --json wrote
    // The results.json line of one test ("" if absent).
    std::string test_line(const std::string& test) const;
};

// build/checker grade --lab LAB [--only TEST] --json TMP -- SERVER
CheckerRun grade(const std::string& lab, const std::string& server, const std::string& only = "",
                 double timeout_seconds = 60);

// build/checker ARGUMENTS... --json TMP  (for runs that are not a plain grade)
CheckerRun run_checker(std::vector<std::string> arguments, double timeout_seconds = 60);

// Processes whose command line contains `needle` (other than this one),
// among those that run in this process's working directory.
std::vector<int> processes_matching(const std::string& needle);

}  // namespace iolab_test
