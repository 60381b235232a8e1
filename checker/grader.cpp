#include "grader.hpp"

#include "binary_imports.hpp"

#include <algorithm>
#include <exception>
#include <optional>

namespace checker {

namespace {

constexpr Duration kStartupBudget = 5s;

// A whole lab grades within this, whatever the server does: a test gets at
// most what is left of it (each test's own timeout is normally far shorter).
constexpr Duration kLabBudget = 27s;
constexpr Duration kSmallestUsefulTest = 500ms;

bool selected(const RubricEntry& entry, const std::vector<std::string>& only) {
    return only.empty() || std::find(only.begin(), only.end(), entry.test.name) != only.end();
}

// Runs one test's function, turning its verdict into an outcome.
void run_test(const RubricEntry& entry, TestContext& context, TestOutcome& outcome) {
    try {
        entry.test.run(context);
        outcome.status = Status::Passed;
    } catch (const TestFailure& failure) {
        outcome.status = Status::Failed;
        outcome.message = failure.what();
    } catch (const std::exception& error) {
        outcome.status = Status::Failed;
        outcome.message = std::string("the checker could not run this test: ") + error.what();
    }
    // A server that died makes its clients fail: it may still be exiting, its
    // connections already closed, when the test ends.
    if (outcome.status == Status::Failed && context.process && !context.server_stop_expected)
        context.process->wait_for_exit(Deadline(100ms));
    if (context.process && !context.server_stop_expected && !context.process->running()) {
        // What the clients saw (a closed connection) has this cause, unless the test said so itself.
        std::string how = context.process->exit_description();
        std::string died = "the server " + how + " during this test";
        if (outcome.status == Status::Passed) outcome.message = died;
        else if (outcome.message.find(how) == std::string::npos) outcome.message += " (" + died + ")";
        outcome.status = Status::Failed;
    }
}

// For a model expected to block: what happened is reported, for no points.
void apply_expectation(const RubricEntry& entry, TestOutcome& outcome) {
    if (entry.expect != Expect::Blocks) return;
    outcome.message = outcome.status == Status::Failed
                          ? "as expected of this model: " + outcome.message
                          : "not expected of this model: the probe passed (" + outcome.observed + ")";
    outcome.status = Status::Observed;
}

// Starts the server on a free port and waits until it listens there. The
// port is free when picked, but another program (another grading run, say)
// may take it before the server binds it: then the server is started again
// on another port. Returns why it did not start, if it did not.
std::optional<std::string> start_server(const RubricEntry& entry, const GradeTarget& target, Deadline lab_deadline,
                                        TestContext& context, std::optional<ServerProcess>& started) {
    constexpr int kAttempts = 3;
    ServerLimits limits = entry.test.limits;
    if (target.max_memory_bytes > 0) limits.max_memory_bytes = target.max_memory_bytes;
    for (int attempt = 1;; ++attempt) {
        context.server.port = pick_free_port();
        std::vector<std::string> command = target.command;
        command.insert(command.end(), entry.test.arguments.begin(), entry.test.arguments.end());
        command.insert(command.end(), {"--port", std::to_string(context.server.port)});
        started.reset();
        started.emplace(command, limits,   // throws if not even exec() worked
                        entry.test.environment ? entry.test.environment() : std::vector<std::string>{});
        auto problem = started->wait_until_listening(context.server, lab_deadline.sooner(kStartupBudget));
        if (attempt == kAttempts || !started->port_taken_by_another(context.server.port)) return problem;
    }
}

// Runs one test against a server the checker starts for this test alone, so
// that what one test does to the server cannot spoil the next.
void run_with_own_server(const RubricEntry& entry, const GradeTarget& target, Deadline lab_deadline,
                         TestContext& context, TestOutcome& outcome, std::string& startup_error) {
    std::optional<ServerProcess> started;
    std::optional<std::string> problem;
    try {
        problem = start_server(entry, target, lab_deadline, context, started);
    } catch (const std::runtime_error& error) {   // not even exec() worked
        startup_error = error.what();
        outcome.status = Status::Failed;
        outcome.message = error.what();
        return;
    }
    ServerProcess& server = *started;
    context.process = &server;
    context.executable = resolve_executable(target.command.front());
    if (problem) {
        startup_error = *problem;
        outcome.status = Status::Failed;
        outcome.message = *problem;
    } else {
        context.deadline = lab_deadline.sooner(entry.timeout);
        run_test(entry, context, outcome);
    }
    server.kill_everything();
    if (outcome.status == Status::Failed) outcome.server_output = server.output_tail();
    context.process = nullptr;
}

TestOutcome grade_one(const Lab& lab, const RubricEntry& entry, const GradeTarget& target, Deadline lab_deadline,
                      std::string& startup_error) {
    TestOutcome outcome;
    outcome.entry = &entry;
    TestContext context;
    context.lab = &lab;
    Clock::time_point start = Clock::now();
    if (!target.connect) {
        run_with_own_server(entry, target, lab_deadline, context, outcome, startup_error);
    } else if (entry.test.needs_process) {
        outcome.status = Status::Skipped;
        outcome.message = "needs the server's process: grade with a server command instead of --connect";
    } else if (!entry.test.arguments.empty()) {
        outcome.status = Status::Skipped;
        outcome.message = "needs the server started with extra options: grade with a server command instead of "
                          "--connect";
    } else {
        context.server = *target.connect;
        context.deadline = lab_deadline.sooner(entry.timeout);
        run_test(entry, context, outcome);
    }
    outcome.observed = context.observed;
    outcome.seconds = seconds(Clock::now() - start);
    apply_expectation(entry, outcome);
    if (outcome.status == Status::Passed) outcome.score = entry.points;
    return outcome;
}

}  // namespace

std::string GradeTarget::describe() const {
    if (connect) return "server at " + connect->str();
    std::string text;
    for (const std::string& word : command) text += (text.empty() ? "" : " ") + word;
    return text;
}

const char* status_name(Status status) {
    switch (status) {
    case Status::Passed:   return "PASS";
    case Status::Failed:   return "FAIL";
    case Status::Observed: return "OBSERVED";
    case Status::Skipped:  return "SKIPPED";
    case Status::NotRun:   return "NOT RUN";
    }
    return "?";
}

int GradeReport::score() const {
    int total = 0;
    for (const TestOutcome& outcome : outcomes) total += outcome.score;
    return total;
}

int GradeReport::max_score() const {
    int total = 0;
    for (const TestOutcome& outcome : outcomes)
        if (outcome.status != Status::Skipped) total += outcome.entry->points;
    return total;
}

GradeReport grade(const Lab& lab, const GradeTarget& target, const std::vector<std::string>& only) {
    GradeReport report;
    report.lab = &lab;
    report.target = target.describe();
    // The first test of every rubric (one line echoed) gates the rest: a
    // server that cannot echo one line would otherwise time out in every test.
    std::string gate_failure;
    Deadline lab_deadline(kLabBudget);
    for (const RubricEntry& entry : lab.rubric) {
        if (!selected(entry, only)) continue;
        if (gate_failure.empty() && lab_deadline.remaining() < kSmallestUsefulTest)
            gate_failure = "not run: the lab's grading time (" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kLabBudget).count()) +
                           " s) was used up by tests that waited for replies in vain: fix those first";
        if (!gate_failure.empty()) {
            TestOutcome skipped;
            skipped.entry = &entry;
            skipped.message = gate_failure;
            report.outcomes.push_back(skipped);
            continue;
        }
        std::string startup_error;
        report.outcomes.push_back(grade_one(lab, entry, target, lab_deadline, startup_error));
        const TestOutcome& outcome = report.outcomes.back();
        if (!startup_error.empty())
            gate_failure = "not run: the server did not start (see " + std::string(entry.test.name) + ")";
        else if (&entry == &lab.rubric.front() && outcome.status == Status::Failed)
            gate_failure = "not run: the server does not echo a single line (see " + std::string(entry.test.name) + ")";
    }
    return report;
}

}  // namespace checker
