#include "report.hpp"
#include "text.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <vector>

namespace checker {

namespace {

std::string indented(const std::string& text, const std::string& prefix) {
    std::string out;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) out += prefix + line + "\n";
    return out;
}

std::string outcome_text(const TestOutcome& outcome) {
    std::string text = outcome.message;
    if (!outcome.observed.empty() && outcome.status != Status::Observed)
        text += (text.empty() ? "" : "\n") + std::string("observed: ") + outcome.observed;
    if (!outcome.server_output.empty() && outcome.status == Status::Failed)
        text += "\nthe server's last output:\n" + indented(outcome.server_output, "  | ");
    return text;
}

// The report's last words: how long the server took to start, and which
// failure stopped the run (the gate), if one did.
std::vector<std::string> closing_lines(const GradeReport& report) {
    std::vector<std::string> lines;
    if (!report.unavailable.empty()) lines.push_back(report.unavailable);
    if (!report.startup_note.empty()) lines.push_back(report.startup_note);
    std::size_t not_run = 0;
    for (const TestOutcome& outcome : report.outcomes) not_run += outcome.status == Status::NotRun;
    if (not_run > 0)
        lines.push_back(
            str(not_run, not_run == 1 ? " more test was" : " more tests were", " not run. ",
                report.stopped_by.empty() ? "Fix the first failure above, then grade again."
                                          : report.stopped_by));
    return lines;
}

int explanation_rank(const TestOutcome& outcome) {
    if (outcome.status != Status::Failed) return 2;
    return outcome.cause.empty() ? 1 : 0;
}

std::size_t failures(const GradeReport& report) {
    std::size_t count = 0;
    for (const TestOutcome& outcome : report.outcomes) count += outcome.status == Status::Failed;
    return count;
}

}  // namespace

std::vector<const TestOutcome*> explained_in_order(const GradeReport& report) {
    std::vector<const TestOutcome*> explained;
    for (const TestOutcome& outcome : report.outcomes)
        if (outcome.status != Status::Passed && outcome.status != Status::NotRun &&
            !outcome.message.empty())
            explained.push_back(&outcome);
    std::stable_sort(explained.begin(), explained.end(),
                     [](const TestOutcome* a, const TestOutcome* b) {
                         return explanation_rank(*a) < explanation_rank(*b);
                     });
    return explained;
}

std::string may_follow_line(const GradeReport& report) {
    std::vector<const TestOutcome*> explained = explained_in_order(report);
    std::size_t others = failures(report) - (explained.empty() ? 0 : 1);
    if (explained.empty() || explanation_rank(*explained.front()) != 0 || others == 0) return "";
    return str("The ", others == 1 ? "other failure" : str(others, " other failures"),
               " may follow from this one (", explained.front()->entry->test.name,
               "): fix it first, then grade again.");
}

void print_report(std::ostream& out, const GradeReport& report) {
    out << "Lab " << report.lab->name << " (" << report.lab->model << ")\n"
        << "server: " << report.target << "\n\n";
    out << "  " << std::left << std::setw(9) << "result" << std::setw(8) << "points"
        << std::setw(22) << "test" << std::setw(13) << "category"
        << "time\n";
    for (const TestOutcome& outcome : report.outcomes) {
        std::string points = str(outcome.score, "/", outcome.entry->points);
        out << "  " << std::setw(9) << status_name(outcome.status) << std::setw(8) << points
            << std::setw(22) << outcome.entry->test.name << std::setw(13)
            << category_name(outcome.entry->test.category) << fixed(outcome.seconds, 1) << " s";
        if (!outcome.observed.empty() &&
            (outcome.status == Status::Passed || outcome.status == Status::Observed))
            out << "   " << outcome.observed;
        out << "\n";
    }
    out << "\nScore: " << report.score() << "/" << report.max_score() << "\n";
    // The mistake named first; tests not run are not explained (the gate's own failure says why).
    std::vector<const TestOutcome*> explained = explained_in_order(report);
    for (const TestOutcome* outcome : explained) {
        out << "\n"
            << status_name(outcome->status) << " " << outcome->entry->test.name << ": "
            << outcome->entry->test.checks << "\n"
            << indented(outcome_text(*outcome), "  ");
        if (outcome == explained.front())
            if (std::string line = may_follow_line(report); !line.empty())
                out << "\n" << line << "\n";
    }
    for (const std::string& line : closing_lines(report)) out << "\n" << line << "\n";
}

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (unsigned char c : text) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default:
            if (c < 0x20) {
                char hex[8];
                std::snprintf(hex, sizeof hex, "\\u%04x", c);
                out += hex;
            } else out += static_cast<char>(c);  // UTF-8 passes through
        }
    }
    return out + "\"";
}

void write_results_json(const std::string& path, const GradeReport* report,
                        const std::string& setup_error) {
    std::ofstream out(path);
    out << "{\n";
    if (!report) {
        out << "  \"score\": 0,\n  \"output\": " << json_string(setup_error)
            << ",\n  \"tests\": []\n}\n";
        return;
    }
    std::string summary =
        str("Lab ", report->lab->name, ": ", report->score(), "/", report->max_score());
    // Gradescope shows this above the tests (kept in rubric order): the mistake named first.
    std::vector<const TestOutcome*> explained = explained_in_order(*report);
    if (!explained.empty() && !explained.front()->cause.empty()) {
        summary += str("\nFirst fix ", explained.front()->entry->test.name, ". ",
                       explained.front()->cause);
        if (std::string line = may_follow_line(*report); !line.empty()) summary += "\n" + line;
    }
    for (const std::string& line : closing_lines(*report)) summary += "\n" + line;
    out << "  \"score\": " << report->score() << ",\n"
        << "  \"max_score\": " << report->max_score() << ",\n"
        << "  \"output\": " << json_string(summary) << ",\n"
        << "  \"tests\": [\n";
    for (std::size_t i = 0; i < report->outcomes.size(); ++i) {
        const TestOutcome& outcome = report->outcomes[i];
        bool passed = outcome.status == Status::Passed || outcome.status == Status::Observed ||
                      outcome.status == Status::Skipped;
        std::string text =
            std::string(status_name(outcome.status)) + ": " + outcome.entry->test.checks;
        if (!outcome.message.empty() || !outcome.observed.empty())
            text += "\n" + outcome_text(outcome);
        out << "    {\"name\": " << json_string(outcome.entry->test.name)
            << ", \"score\": " << outcome.score << ", \"max_score\": " << outcome.entry->points
            << ", \"status\": \"" << (passed ? "passed" : "failed") << "\", \"tags\": ["
            << json_string(category_name(outcome.entry->test.category))
            << "], \"output\": " << json_string(text) << "}"
            << (i + 1 < report->outcomes.size() ? "," : "") << "\n";
    }
    out << "  ]\n}\n";
}

void print_rubric(std::ostream& out, const Lab& lab) {
    out << "Lab " << lab.name << " (" << lab.model << ")\n";
    for (const RubricEntry& entry : lab.rubric) {
        out << "  " << std::left << std::setw(22) << entry.test.name << std::setw(13)
            << category_name(entry.test.category) << std::right << std::setw(3) << entry.points
            << " pts  " << std::setw(5) << fixed(seconds(entry.timeout), 1) << " s  "
            << (entry.expect == Expect::Blocks ? "[reported only: this model blocks here] " : "")
            << entry.test.checks << "\n";
    }
}

}  // namespace checker
