// What the checker grades: test cases (defined once, in the *_tests.cpp
// files) and, for each lab, a rubric table that says which tests apply to
// that model, for how many points, within what time, and with which outcome
// expected of the model. Each lab's table lives in checker/rubrics/LAB.cpp.
#pragma once

#include "connection.hpp"
#include "deadline.hpp"
#include "interfaces.hpp"
#include "server_process.hpp"

#include <string>
#include <vector>

namespace checker {

enum class Category { Correctness, Concurrency, Robustness, Resources, Conformance };
const char* category_name(Category category);

// What the model is expected to do in a test.
enum class Expect {
    Pass,    // the model must pass; worth its points
    Blocks,  // the model blocks here by design: the test only reports what it observed, for 0 points
};

struct Lab;

struct TestContext {
    const Lab* lab = nullptr;  // the lab being graded
    Endpoint server;
    ServerProcess* process = nullptr;  // null when grading a server started by hand (--connect)
    std::string executable;  // the server's binary (resolved from the command), "" with --connect
    Deadline deadline{0s};   // the test's time budget
    std::string observed;    // figures the test measured, printed with its result
    bool server_stop_expected = false;  // the test stops the server itself (e.g. SIGTERM)
};

// A test throws TestFailure to fail; returning means it passed.
using TestFunction = void (*)(TestContext& context);
// Variables ("NAME=value") added to the server's environment for a test.
using EnvironmentFunction = std::vector<std::string> (*)();

struct TestCase {
    const char* name;
    Category category;
    const char* checks;  // one line: what the test does
    TestFunction run;
    bool needs_process = false;                 // needs the server's process (/proc, signals)
    ServerLimits limits{};                      // how the server is started for this test
    EnvironmentFunction environment = nullptr;  // and with what added to its environment
    std::vector<std::string> arguments{};  // and with these options too (e.g. --delay-us 100000)
};

struct RubricEntry {
    const TestCase& test;
    int points;
    Duration timeout;
    Expect expect = Expect::Pass;
};

struct Lab {
    std::string name;                 // "blocking": labs/blocking, solutions/blocking
    std::string model;                // one line: the I/O model
    std::vector<RubricEntry> rubric;  // the first entry gates the rest (see grader.cpp)
    InterfaceRules
        interfaces{};  // what the server binary must and must not import (system_interfaces)
};

const std::vector<Lab>& all_labs();
const Lab* find_lab(const std::string& name);

}  // namespace checker
