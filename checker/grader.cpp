#include "grader.hpp"

#include "binary_imports.hpp"
#include "diagnosis.hpp"
#include "text.hpp"
#include "io_uring_probe.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <optional>

namespace checker {

namespace {

// Each test starts the server anew (see run_with_own_server), so start-up has
// bounds of its own, apart from the tests' time: one start may take this long
// to listen before the server is called broken...
constexpr Duration kStartupPerStart = 5s;
// ...and all the starts of a lab together this long (a 2 s start in each test
// of a rubric of 30 tests fits). A start needs a whole kStartupPerStart left.
constexpr Duration kStartupPerLab = 75s;
// A start-up this slow is mentioned in the report.
constexpr Duration kNotableStartup = 1s;

// The tests of a lab run within this in all, whatever the server does: a test
// gets at most what is left of it (each test's own timeout is normally far
// shorter). Start-up is not charged to it. So a lab's grading ends within
// kLabBudget + kStartupPerLab, plus the teardown after each test.
constexpr Duration kLabBudget = 27s;
constexpr Duration kSmallestUsefulTest = 500ms;

struct Budgets {
    TimeBudget tests{kLabBudget};
    TimeBudget startup{kStartupPerLab};
    int starts = 0;
    Duration slowest_start{};
    // How the server stalls a connection (diagnosis.hpp), once probed: the
    // probe takes a second or two, charged to the tests, so it runs once a lab.
    std::optional<Stall> stall;
};

long whole_seconds(Duration d) {
    return static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

std::string one_decimal(Duration d) { return fixed(seconds(d), 1); }

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
        if (!failure.cause.empty()) outcome.cause = cause_line(failure.cause);
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
        else if (outcome.message.find(how) == std::string::npos)
            outcome.message += " (" + died + ")";
        outcome.status = Status::Failed;
        outcome.server_died = true;
    }
}

// For a model expected to block: what happened is reported, for no points.
// Blocking means clients wait; a server that dies is no model's behaviour,
// and fails here as anywhere.
void apply_expectation(const RubricEntry& entry, TestOutcome& outcome) {
    if (entry.expect != Expect::Blocks) return;
    if (outcome.server_died) {
        outcome.message =
            "not expected of any model: " + outcome.message +
            ". A model that blocks here leaves clients waiting; its server must not end";
        return;
    }
    outcome.message =
        outcome.status == Status::Failed
            ? "as expected of this model: " + outcome.message
            : "not expected of this model: the probe passed (" + outcome.observed + ")";
    outcome.status = Status::Observed;
}

// Starts the server on a free port and waits until it listens there. The
// port is free when picked, but another program (another grading run, say)
// may take it before the server binds it: then the server is started again
// on another port. Returns why it did not start, if it did not. The time it
// took is charged to the start-up budget, not to the tests'.
std::optional<std::string> start_server(const RubricEntry& entry, const GradeTarget& target,
                                        Budgets& budgets, TestContext& context,
                                        std::optional<ServerProcess>& started,
                                        TestOutcome& outcome) {
    constexpr int kAttempts = 3;
    ServerLimits limits = entry.test.limits;
    if (target.max_memory_bytes > 0) limits.max_memory_bytes = target.max_memory_bytes;
    limits.run_as_uid = target.run_as_uid;
    for (int attempt = 1;; ++attempt) {
        context.server.port = pick_free_port();
        std::vector<std::string> command = target.command;
        command.insert(command.end(), entry.test.arguments.begin(), entry.test.arguments.end());
        command.insert(command.end(), {"--port", std::to_string(context.server.port)});
        Deadline deadline = budgets.startup.deadline(kStartupPerStart);
        Clock::time_point begun = Clock::now();
        started.reset();
        std::optional<std::string> problem;
        try {
            started.emplace(
                command, limits,  // throws if not even exec() worked
                entry.test.environment ? entry.test.environment() : std::vector<std::string>{});
            problem = started->wait_until_listening(context.server, deadline);
        } catch (...) {
            budgets.startup.charge(Clock::now() - begun);
            throw;
        }
        Duration took = Clock::now() - begun;
        budgets.startup.charge(took);
        ++budgets.starts;
        if (!problem) budgets.slowest_start = std::max(budgets.slowest_start, took);
        outcome.startup_seconds += seconds(took);
        if (attempt == kAttempts || !started->port_taken_by_another(context.server.port))
            return problem;
    }
}

// A reply that stopped short, the server still running: was the connection
// served once and never again, or one read at a time? The server is asked
// once a lab (the answer holds for every test), started as the rubric starts
// it (a test's own options, --delay-us say, would slow the probe's replies);
// a failure with a cause of its own is not asked about.
void diagnose_a_stall(const RubricEntry& entry, const TestContext& context, Budgets& budgets,
                      TestOutcome& outcome) {
    if (outcome.status != Status::Failed || !outcome.cause.empty() || outcome.server_died ||
        !entry.test.arguments.empty() || entry.expect == Expect::Blocks ||
        outcome.message.find("the reply stopped short") == std::string::npos)
        return;
    if (!budgets.stall)
        budgets.stall = probe_stall(context.server, *context.process, budgets.tests.deadline(5s));
    if (*budgets.stall == Stall::ServedOnce) outcome.cause = cause_line(causes::served_once);
    if (*budgets.stall == Stall::OneReadPerArrival)
        outcome.cause = cause_line(causes::one_read_per_arrival);
}

// Runs one test against a server the checker starts for this test alone, so
// that what one test does to the server cannot spoil the next.
void run_with_own_server(const RubricEntry& entry, const GradeTarget& target, Budgets& budgets,
                         TestContext& context, TestOutcome& outcome, std::string& startup_error) {
    std::optional<ServerProcess> started;
    std::optional<std::string> problem;
    try {
        problem = start_server(entry, target, budgets, context, started, outcome);
    } catch (const std::runtime_error& error) {  // not even exec() worked
        startup_error = error.what();
        outcome.status = Status::Failed;
        outcome.message = error.what();
        return;
    }
    ServerProcess& server = *started;
    context.process = &server;
    // The binary that runs (a wrapper may have exec()ed it), else the command's.
    context.executable = server.executable();
    if (context.executable.empty()) context.executable = resolve_executable(target.command.front());
    if (problem) {
        startup_error = *problem;
        outcome.status = Status::Failed;
        outcome.message = *problem;
    } else {
        context.deadline = budgets.tests.deadline(entry.timeout);
        Clock::time_point begun = Clock::now();
        run_test(entry, context, outcome);
        diagnose_a_stall(entry, context, budgets, outcome);
        budgets.tests.charge(Clock::now() - begun);
    }
    server.kill_everything();
    if (outcome.status == Status::Failed) outcome.server_output = server.output_tail();
    context.process = nullptr;
}

TestOutcome grade_one(const Lab& lab, const RubricEntry& entry, const GradeTarget& target,
                      Budgets& budgets, std::string& startup_error) {
    TestOutcome outcome;
    outcome.entry = &entry;
    TestContext context;
    context.lab = &lab;
    Clock::time_point start = Clock::now();
    if (!target.connect) {
        run_with_own_server(entry, target, budgets, context, outcome, startup_error);
    } else if (entry.test.needs_process) {
        outcome.status = Status::Skipped;
        outcome.message =
            "needs the server's process: grade with a server command instead of --connect";
    } else if (!entry.test.arguments.empty()) {
        outcome.status = Status::Skipped;
        outcome.message =
            "needs the server started with extra options: grade with a server command instead of "
            "--connect";
    } else {
        context.server = *target.connect;
        context.deadline = budgets.tests.deadline(entry.timeout);
        run_test(entry, context, outcome);
        budgets.tests.charge(Clock::now() - start);
    }
    outcome.observed = context.observed;
    outcome.seconds = std::max(0.0, seconds(Clock::now() - start) - outcome.startup_seconds);
    apply_expectation(entry, outcome);
    if (outcome.status == Status::Failed) {
        // What the server printed as it ended, or how it ended, outweighs what the test inferred.
        if (std::optional<std::string> cause = likely_cause(outcome.message, outcome.server_output))
            outcome.cause = *cause;
        if (!outcome.cause.empty())
            outcome.message =
                outcome.cause + "\n" + outcome.message;  // the mistake, then the test's view
    } else outcome.cause.clear();
    if (outcome.status == Status::Passed) outcome.score = entry.points;
    return outcome;
}

// "a, b and c"
std::string listed(const std::vector<std::string>& names) {
    std::string text;
    for (std::size_t i = 0; i < names.size(); ++i)
        text += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
    return text;
}

// A test that, failing, stops the run: why the tests after it are not run.
struct Gate {
    std::string not_run;      // each test's own line: "not run: ..."
    std::string explanation;  // the report's last words
};

// `waited`: it ran but did not listen (rather than not running at all).
Gate startup_failed(const RubricEntry& entry, const std::string& problem, bool waited) {
    return {
        str("not run: the server did not start (see ", entry.test.name, ")"),
        str("The run stopped at ", entry.test.name, ": the server did not start (", problem,
            "). Every test starts the server anew, so every later test would only fail the same way",
            waited ? str(", each after waiting up to ", whole_seconds(kStartupPerStart),
                         " s for it to listen")
                   : "",
            ". Make the server start, then grade again.")};
}

Gate first_test_failed(const RubricEntry& entry) {
    return {
        str("not run: the server does not echo a single line (see ", entry.test.name, ")"),
        str("The run stopped at ", entry.test.name,
            ", the first test, which failed: the server "
            "does not echo a single line. Every later test needs at least that, so each would only wait for "
            "replies that never come until its time ran out. Make ",
            entry.test.name, " pass, then grade again.")};
}

Gate tests_out_of_time(const RubricEntry& next, const std::vector<std::string>& failed) {
    std::string seconds_text = str(whole_seconds(kLabBudget), " s");
    return {
        str("not run: the lab's test time (", seconds_text,
            ") was used up by tests that waited for "
            "replies in vain: fix those first"),
        str("The run stopped before ", next.test.name, ": the lab's ", seconds_text,
            " of test time were used up",
            failed.empty()
                ? ""
                : str(", mostly by tests that waited in vain for replies (", listed(failed), ")"),
            ". A server that leaves those clients waiting would leave the later tests' clients waiting too, "
            "until their time ran out. Fix those failures first, then grade again.")};
}

Gate startup_out_of_time(const RubricEntry& next, const Budgets& budgets) {
    std::string allowed = str(whole_seconds(kStartupPerLab), " s");
    return {str("not run: starting the server used up the ", allowed, " a lab allows for start-up"),
            str("The run stopped before ", next.test.name, ": starting the server took ",
                one_decimal(budgets.startup.spent()), " s in all (", budgets.starts,
                " starts, the slowest ", one_decimal(budgets.slowest_start),
                " s; each test starts it anew), and a lab allows ", allowed,
                ". Make the server listen within a moment of starting, then grade again.")};
}

// How long the server took to listen, if long enough to say.
std::string startup_note(const Budgets& budgets) {
    if (budgets.starts == 0 || budgets.slowest_start < kNotableStartup) return "";
    return str("Start-up: the server took ", one_decimal(budgets.slowest_start),
               " s to listen; each test starts "
               "it anew (",
               budgets.starts, " starts, ", one_decimal(budgets.startup.spent()),
               " s in all, not counted in the tests' times; a lab allows ",
               whole_seconds(kStartupPerStart), " s for one start, ", whole_seconds(kStartupPerLab),
               " s for all).");
}

}  // namespace

std::optional<std::string> unavailable_here(const Lab& lab) {
    const std::vector<const InterfaceFamily*>& required = lab.interfaces.required;
    if (std::find(required.begin(), required.end(), &interfaces::io_uring_family) != required.end())
        return iolab::io_uring_unavailable();
    return std::nullopt;
}

std::string GradeTarget::describe() const {
    if (connect) return "server at " + connect->str();
    std::string text;
    for (const std::string& word : command) text += (text.empty() ? "" : " ") + word;
    return text;
}

const char* status_name(Status status) {
    switch (status) {
    case Status::Passed: return "PASS";
    case Status::Failed: return "FAIL";
    case Status::Observed: return "OBSERVED";
    case Status::Skipped: return "SKIPPED";
    case Status::NotRun: return "NOT RUN";
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

bool GradeReport::passed() const {
    return score() == max_score() &&
           std::none_of(outcomes.begin(), outcomes.end(), [](const TestOutcome& outcome) {
               return outcome.status == Status::Failed;
           });
}

// Every test skipped, with the reason: no server is started, none can fail.
GradeReport skipped_lab(GradeReport report, const std::vector<std::string>& only,
                        const std::string& reason) {
    for (const RubricEntry& entry : report.lab->rubric) {
        if (!selected(entry, only)) continue;
        TestOutcome outcome;
        outcome.entry = &entry;
        outcome.status = Status::Skipped;  // no message each: the report's last line says why
        report.outcomes.push_back(outcome);
    }
    report.unavailable = str("Lab ", report.lab->name, " skipped: ", reason, ".");
    return report;
}

GradeReport grade(const Lab& lab, const GradeTarget& target, const std::vector<std::string>& only) {
    GradeReport report;
    report.lab = &lab;
    report.target = target.describe();
    // A server started by hand (--connect) runs wherever it runs: not asked.
    if (std::optional<std::string> reason = target.connect ? std::nullopt : unavailable_here(lab))
        return skipped_lab(std::move(report), only, *reason);
    // The first test of every rubric (one line echoed) gates the rest: a
    // server that cannot echo one line would otherwise time out in every test.
    std::optional<Gate> gate;
    std::vector<std::string> failed;
    Budgets budgets;
    for (const RubricEntry& entry : lab.rubric) {
        if (!selected(entry, only)) continue;
        if (!gate && budgets.tests.left() < kSmallestUsefulTest)
            gate = tests_out_of_time(entry, failed);
        if (!gate && !target.connect && budgets.startup.left() < kStartupPerStart)
            gate = startup_out_of_time(entry, budgets);
        if (gate) {
            TestOutcome skipped;
            skipped.entry = &entry;
            skipped.message = gate->not_run;
            report.outcomes.push_back(skipped);
            continue;
        }
        std::string startup_error;
        report.outcomes.push_back(grade_one(lab, entry, target, budgets, startup_error));
        const TestOutcome& outcome = report.outcomes.back();
        if (outcome.status == Status::Failed || outcome.status == Status::Observed)
            failed.push_back(entry.test.name);
        if (!startup_error.empty())
            gate = startup_failed(entry, startup_error, outcome.startup_seconds > 0);
        else if (&entry == &lab.rubric.front() && outcome.status == Status::Failed)
            gate = first_test_failed(entry);
    }
    bool stopped =
        std::any_of(report.outcomes.begin(), report.outcomes.end(),
                    [](const TestOutcome& outcome) { return outcome.status == Status::NotRun; });
    if (gate && stopped) report.stopped_by = gate->explanation;
    report.startup_note = startup_note(budgets);
    return report;
}

}  // namespace checker
