// Runs build/checker as a contained child process, with a time bound, the way
// a student or an instructor runs it.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace iolab_test {

// The build directory under test ($IOLAB_BUILD, default "build"), as an absolute path.
std::string build_dir();

// Every model of labs/models.txt, in the order of the course.
std::vector<std::string> model_names();

// Why the lab cannot run on this machine (io_uring switched off, say), if it
// cannot: its tests are then skipped with that reason, as make grade skips it.
std::optional<std::string> lab_unavailable_here(const std::string& lab);

struct CheckerRun {
    int exit_code = -1;  // -1: did not finish in time, or killed
    double seconds = 0;
    std::string output;        // stdout and stderr (the tail)
    std::string results_json;  // what --json wrote
    std::vector<int>
        leftovers;  // processes of the graded server still alive after the checker exited
    // The results.json line of one test ("" if absent).
    std::string test_line(const std::string& test) const;
};

// build/checker grade --lab LAB [--only TEST] --json TMP -- SERVER
CheckerRun grade(const std::string& lab, const std::string& server, const std::string& only = "",
                 double timeout_seconds = 60);

// build/checker ARGUMENTS... --json TMP  (for runs that are not a plain grade)
CheckerRun run_checker(std::vector<std::string> arguments, double timeout_seconds = 60);

// Several runs of build/checker ARGUMENTS... --json TMP, at most `at_once` of
// them at a time (all from this thread: ServerProcess is not thread-safe).
// The results in the order of `runs`.
std::vector<CheckerRun> run_checkers(const std::vector<std::vector<std::string>>& runs,
                                     std::size_t at_once, double timeout_seconds);

// Processes whose command line contains `needle` (other than this one), among
// those started from this directory (other checkouts may run the same tests).
std::vector<int> processes_matching(const std::string& needle);

}  // namespace iolab_test
