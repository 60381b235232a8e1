// The checker: grades any server that speaks the kit's line-echo protocol.
//
//   checker grade --lab MODEL [--json FILE] [--only TEST]... -- SERVER_CMD [ARGS...]
//   checker grade --lab MODEL --connect HOST:PORT
//   checker list [--lab MODEL]
//   checker combine [--format gradescope|classroom] LAB.json...                       (one results file)
//   checker batch --submissions DIR --out DIR [--jobs N] [--labs A,B] [--timeout S]   (a whole class: batch.hpp)
//
// Exit status: 0 full marks, 1 points missing, 2 usage or setup error.
// The only translation unit of the checker that includes CLI11.
#include "batch.hpp"
#include "report.hpp"

#include <CLI/CLI.hpp>

#include <signal.h>

#include <filesystem>
#include <iostream>

namespace {

using namespace checker;

struct GradeArguments {
    std::string lab;
    std::string json;
    std::vector<std::string> only;
    std::string connect;
    long long max_memory_mib = 0;
    std::vector<std::string> command;
};

std::optional<Endpoint> parse_endpoint(const std::string& text) {
    std::size_t colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    try {
        return Endpoint{text.substr(0, colon), std::stoi(text.substr(colon + 1))};
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// A usage or setup error: one line, results.json still written, exit 2.
int setup_error(const GradeArguments& arguments, const std::string& message) {
    std::cerr << "checker: " << message << "\n";
    if (!arguments.json.empty()) write_results_json(arguments.json, nullptr, message);
    return 2;
}

int run_grade(const GradeArguments& arguments) {
    const Lab* lab = find_lab(arguments.lab);
    if (!lab) {
        std::string known;
        for (const Lab& each : all_labs()) known += (known.empty() ? "" : ", ") + each.name;
        return setup_error(arguments, "unknown lab '" + arguments.lab + "' (labs: " + known + ")");
    }
    for (const std::string& name : arguments.only) {
        bool found = false;
        for (const RubricEntry& entry : lab->rubric) found = found || name == entry.test.name;
        if (!found) return setup_error(arguments, "lab " + lab->name + " has no test '" + name + "' (see: checker list --lab " + lab->name + ")");
    }
    GradeTarget target;
    if (!arguments.connect.empty()) {
        target.connect = parse_endpoint(arguments.connect);
        if (!target.connect) return setup_error(arguments, "--connect wants HOST:PORT, e.g. 127.0.0.1:8080");
    } else if (arguments.command.empty()) {
        return setup_error(arguments, "no server to grade: give its command after --, or --connect HOST:PORT");
    }
    target.command = arguments.command;
    target.max_memory_bytes = arguments.max_memory_mib << 20;
    try {
        GradeReport report = grade(*lab, target, arguments.only);
        print_report(std::cout, report);
        if (!arguments.json.empty()) write_results_json(arguments.json, &report, "");
        return report.score() == report.max_score() ? 0 : 1;
    } catch (const std::exception& error) {
        return setup_error(arguments, error.what());
    }
}

}  // namespace

int main(int argc, char** argv) {
    // The checker's own writes to a server that vanished must fail with EPIPE, not kill it.
    ::signal(SIGPIPE, SIG_IGN);
    become_subreaper();
    kill_servers_when_interrupted();

    CLI::App app{"iolab checker: grades a line-echo server for correctness, concurrency, robustness, resources "
                 "and conformance to its I/O model"};
    app.require_subcommand(1);

    GradeArguments arguments;
    CLI::App* grade_command = app.add_subcommand("grade", "grade one server on one lab's rubric");
    grade_command->add_option("--lab", arguments.lab, "the lab (I/O model) to grade against")->required();
    grade_command->add_option("--json", arguments.json, "also write Gradescope's results.json here");
    // One name per --only, so that a "--" right after it still starts the server command.
    grade_command->add_option("--only", arguments.only, "run only this test (repeatable)")->allow_extra_args(false);
    grade_command->add_option("--connect", arguments.connect,
                              "grade a server already running at HOST:PORT (tests that need its process are skipped)");
    grade_command->add_option("command", arguments.command, "the server command, after --; --port P is appended");

    grade_command->add_option("--max-memory", arguments.max_memory_mib,
                              "limit the server's address space to this many MiB (RLIMIT_AS; not for ASan builds)");

    BatchOptions batch;
    CLI::App* batch_command = app.add_subcommand("batch", "build and grade a whole class: one subdirectory per student");
    batch_command->add_option("--submissions", batch.submissions, "one subdirectory per student (a copy of labs/, or a handout tree)")->required();
    batch_command->add_option("--out", batch.out, "where gradebook.csv and STUDENT.json are written")->required();
    batch_command->add_option("--jobs", batch.jobs, "builds and grading runs at once")->capture_default_str();
    batch_command->add_option("--labs", batch.labs, "only these labs (comma-separated)")->delimiter(',');
    batch_command->add_option("--kit", batch.kit, "the kit's top directory (Makefile, labs/common)")->capture_default_str();
    batch_command->add_option("--timeout", batch.lab_timeout_seconds, "seconds to grade one lab of one student")->capture_default_str();
    batch_command->add_option("--build-timeout", batch.build_timeout_seconds, "seconds to build one lab of one student")->capture_default_str();
    batch_command->add_option("--max-memory", batch.max_memory_mib, "each server's address space in MiB (0: no limit)")->capture_default_str();

    std::vector<std::string> combine_files;
    std::string combine_format = "gradescope";
    CLI::App* combine_command =
        app.add_subcommand("combine", "combine the results.json of several labs into one, on stdout");
    combine_command->add_option("--format", combine_format, "gradescope or classroom (GitHub Classroom's reporter)")
        ->capture_default_str();
    combine_command->add_option("files", combine_files, "LAB.json files written by grade --json")->required();

    std::string list_lab;
    CLI::App* list_command = app.add_subcommand("list", "list the labs and their tests");
    list_command->add_option("--lab", list_lab, "only this lab");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        if (error.get_exit_code() == 0) return app.exit(error);
        std::cerr << "checker: " << error.what() << " (try --help)\n";
        return 2;
    }
    if (*grade_command) return run_grade(arguments);
    if (*combine_command) return run_combine(combine_files, combine_format);
    if (*batch_command) {
        batch.checker = std::filesystem::read_symlink("/proc/self/exe").string();
        return run_batch(batch);
    }
    for (const Lab& lab : all_labs())
        if (list_lab.empty() || lab.name == list_lab) print_rubric(std::cout, lab);
    return 0;
}
