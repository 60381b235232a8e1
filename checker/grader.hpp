// Runs a lab's rubric against one server and collects the outcomes.
#pragma once

#include "rubric.hpp"

#include <optional>
#include <string>
#include <vector>

namespace checker {

// The server to grade: a command the checker starts itself (once per test,
// with "--port P" appended), or a server already running at an address.
struct GradeTarget {
    std::vector<std::string> command;
    std::optional<Endpoint> connect;
    long long max_memory_bytes = 0;  // the server's RLIMIT_AS (0: none)
    int run_as_uid = -1;             // the user ID the server runs under (checker batch's box)
    std::string describe() const;
};

enum class Status { Passed, Failed, Observed, Skipped, NotRun };
const char* status_name(Status status);

struct TestOutcome {
    const RubricEntry* entry = nullptr;
    Status status = Status::NotRun;
    int score = 0;
    std::string message;         // why it failed, or what was observed (the cause first, if known)
    std::string cause;           // "Likely cause: ...", when the symptom names the mistake
    std::string observed;        // figures measured along the way
    std::string server_output;   // the tail of the server's output, when it failed
    double seconds = 0;          // the test's own time, the server's start-up not included
    double startup_seconds = 0;  // how long the server took to listen (0 with --connect)
    bool server_died = false;    // the server ended during the test, and the test did not stop it
};

struct GradeReport {
    const Lab* lab = nullptr;
    std::string target;
    std::vector<TestOutcome> outcomes;
    std::string setup_error;   // grading could not start at all (only then)
    std::string stopped_by;    // why the tests NotRun were not run (the gate's failure), in words
    std::string startup_note;  // how long the server took to listen, when that is worth saying
    std::string unavailable;   // why no test could run here (a kernel feature switched off), if so
    int score() const;
    int max_score() const;
    // Full marks, and no test failed (a crash fails even a test worth no points).
    bool passed() const;
};

// Why this machine cannot run the model of `lab` at all, if it cannot: a
// kernel feature switched off (io_uring in a container, say). grade() then
// skips every test and says why, in its report's last line.
std::optional<std::string> unavailable_here(const Lab& lab);

// Grades `target` on `lab`. `only`, if not empty, names the tests to run.
GradeReport grade(const Lab& lab, const GradeTarget& target, const std::vector<std::string>& only);

}  // namespace checker
