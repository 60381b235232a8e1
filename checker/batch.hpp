// Grading a whole class: `checker batch`. Each subdirectory of the
// submissions directory is one student's copy of labs/ (or a whole handout
// tree). Each student's labs are built in a private copy of the kit and
// graded by `checker grade` subprocesses, a bounded number at a time; what one
// submission does (not compile, hang, fork, fill memory) costs only its grade.
#pragma once

#include <string>
#include <vector>

namespace checker {

struct BatchOptions {
    std::string submissions;          // one subdirectory per student
    std::string out;                  // gradebook.csv and STUDENT.json go here
    std::string kit = ".";            // the kit's top directory: Makefile, labs/common, tools
    std::vector<std::string> labs;    // the labs to grade (empty: all)
    int jobs = 2;                     // builds and grading runs at once
    int lab_timeout_seconds = 120;    // grading one lab of one student
    int build_timeout_seconds = 300;  // building one lab of one student
    // Each server's address space (RLIMIT_AS; 0: no limit). A thread reserves
    // 8 MiB of it for its stack: the threads lab's 500 clients need 4 GiB.
    int max_memory_mib = 8192;
    int max_disk_mib = 512;  // what a submission may write in its tree, a job in its /tmp
    bool no_box = false;     // run submissions as this user, with its view (box.hpp)
    std::string checker;     // this checker's binary, run for `checker grade`
};

// Builds and grades every submission; writes OUT/gradebook.csv (student, lab,
// score, max, failed tests, note) and OUT/STUDENT.json (Gradescope's format,
// all labs). Returns the exit status: 0 done, 2 setup error (said on stderr).
int run_batch(const BatchOptions& options);

// Combines the results.json files of several labs (from `checker grade
// --json`, e.g. make grade's build/grade/labs/*.json) into one, printed on
// stdout: "gradescope" (Gradescope's results.json, as for one student of a
// batch) or "classroom" (GitHub Classroom's runner result, for its grading
// reporter). Returns the exit status: 0, or 2 when a file cannot be read.
int run_combine(const std::vector<std::string>& lab_results, const std::string& format);

}  // namespace checker
