// How a grading run is shown: a table for people, results.json for machines
// (Gradescope's format: https://gradescope-autograders.readthedocs.io).
#pragma once

#include "grader.hpp"

#include <iosfwd>
#include <string>

namespace checker {

void print_report(std::ostream& out, const GradeReport& report);

// Writes Gradescope's results.json. With a setup error and no report (bad
// lab name, say), writes a score of 0 and the error as the output.
void write_results_json(const std::string& path, const GradeReport* report,
                        const std::string& setup_error);

void print_rubric(std::ostream& out, const Lab& lab);

// JSON string literal for `text` (quotes and escapes included).
std::string json_string(std::string_view text);

}  // namespace checker
