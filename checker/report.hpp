// How a grading run is shown: a table for people, results.json for machines
// (Gradescope's format: https://gradescope-autograders.readthedocs.io).
#pragma once

#include "grader.hpp"

#include <iosfwd>
#include <string>
#include <vector>

namespace checker {

void print_report(std::ostream& out, const GradeReport& report);

// The outcomes the report explains (every one but those passed or not run),
// in the order it explains them: first the failures whose symptom names their
// cause (the other failures may follow from them), then the other failures,
// then what was observed or skipped; rubric order within each.
std::vector<const TestOutcome*> explained_in_order(const GradeReport& report);

// The line that follows the first explanation when it names a cause and other
// failures follow: they may be its consequences. "" otherwise.
std::string may_follow_line(const GradeReport& report);

// Writes Gradescope's results.json. With a setup error and no report (bad
// lab name, say), writes a score of 0 and the error as the output.
void write_results_json(const std::string& path, const GradeReport* report,
                        const std::string& setup_error);

void print_rubric(std::ostream& out, const Lab& lab);

// JSON string literal for `text` (quotes and escapes included).
std::string json_string(std::string_view text);

}  // namespace checker
