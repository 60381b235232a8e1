// The checker: grades any server that speaks the kit's line-echo protocol.
//
//   checker grade --lab MODEL [--json FILE] [--only TEST]... -- SERVER_CMD [ARGS...]
//   checker grade --lab MODEL --connect HOST:PORT
//   checker list [--lab MODEL]
//   checker combine [--format gradescope|classroom] LAB.json...                       (one results file)
//   checker batch --submissions DIR --out DIR [--jobs N] [--labs A,B] [--timeout S]   (a whole class: batch.hpp)
//   checker bench [--connections N] [--size B] [--duration S] ... -- SERVER_CMD [ARGS...]
//   checker talk --port P [--host H] [--wait S]                                        (try a server by hand)
//   checker bench-report --csv FILE --out DIR [--pairs FILE] [--cpu-pairs FILE] [--churn-pairs FILE]
//
// Exit status: 0 full marks (and no test failed), 1 points missing or a test failed, 2 usage or
// setup error.
// The only translation unit of the checker that includes CLI11.
#include "batch.hpp"
#include "bench/bench.hpp"
#include "bench/compare_report.hpp"
#include "report.hpp"
#include "talk.hpp"

#include <CLI/CLI.hpp>

#include <signal.h>
#include <unistd.h>

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
    int run_as_uid = -1;
    std::vector<std::string> command;
};

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
        if (!found)
            return setup_error(arguments, "lab " + lab->name + " has no test '" + name +
                                              "' (see: checker list --lab " + lab->name + ")");
    }
    GradeTarget target;
    if (!arguments.connect.empty()) {
        target.connect = parse_endpoint(arguments.connect);
        if (!target.connect)
            return setup_error(arguments, "--connect wants HOST:PORT, e.g. 127.0.0.1:8080");
    } else if (arguments.command.empty()) {
        return setup_error(arguments,
                           "no server to grade: give its command after --, or --connect HOST:PORT");
    }
    target.command = arguments.command;
    target.max_memory_bytes = arguments.max_memory_mib << 20;
    target.run_as_uid = arguments.run_as_uid;
    try {
        GradeReport report = grade(*lab, target, arguments.only);
        print_report(std::cout, report);
        if (!arguments.json.empty()) write_results_json(arguments.json, &report, "");
        return report.passed() ? 0 : 1;
    } catch (const std::exception& error) {
        return setup_error(arguments, error.what());
    }
}

// checker bench and bench-report (checker/bench/): their options.
void add_bench_commands(CLI::App& app, bench::BenchCommandLine& bench,
                        bench::ReportCommandLine& report) {
    CLI::App* b =
        app.add_subcommand("bench",
                           "benchmark one server: throughput, latency percentiles, CPU and memory "
                           "per request, every reply verified (docs/compare.md)");
    bench::BenchOptions& o = bench.options;
    b->add_option("--connections,-c", o.load.connections,
                  "connections held open (with --churn: clients at once)")
        ->capture_default_str()
        ->check(CLI::Range(1, 19000));
    b->add_option("--active", o.load.active,
                  "only N of the connections carry the load; the others, opened first, are an "
                  "idle crowd (each answered once, then silent)")
        ->check(CLI::Range(1, 19000));
    b->add_option("--size", o.load.line_bytes, "bytes per request line, its newline included")
        ->capture_default_str()
        ->check(CLI::Range(2, 65537));
    b->add_option("--duration", bench.duration, "seconds measured")
        ->capture_default_str()
        ->check(CLI::Range(0.05, 3600.0));
    b->add_option("--warmup", bench.warmup, "seconds of load before measuring, not measured")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 600.0));
    b->add_option("--pipeline", o.load.pipeline, "requests in flight per connection (closed loop)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));
    b->add_option("--rate", o.load.rate,
                  "open loop: requests per second over all connections, sent on schedule "
                  "(latency counts from the scheduled time)")
        ->check(CLI::Range(1.0, 1e8));
    b->add_flag("--churn", bench.churn,
                "each connection: connect, one request, close (the cost of a connection)");
    b->add_option("--stall", bench.stall,
                  "stop ramping connections in after this many seconds without progress")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 60.0));
    b->add_option("--delay-us", o.delay_us,
                  "passed to the server: simulated blocking call per request")
        ->check(CLI::Range(0L, 60'000'000L));
    b->add_option("--compute-us", o.compute_us,
                  "passed to the server: simulated CPU work per request")
        ->check(CLI::Range(0L, 60'000'000L));
    b->add_option("--workers", o.workers, "passed to the server: worker threads")
        ->check(CLI::Range(0, 4096));
    b->add_flag("--syscalls", bench.syscalls,
                "count the server's system calls per request with strace (slows it down: a run "
                "for counting only)");
    b->add_option("--connect", bench.connect,
                  "benchmark a server already running at HOST:PORT (started by hand, on this or "
                  "another machine) instead of starting one; its CPU and memory are not measured");
    b->add_option("--model", o.model,
                  "name shown in the reports (default: the server's file name)");
    b->add_option("--scenario", o.scenario, "scenario name shown in the reports");
    b->add_option("--csv", bench.csv,
                  "append one row to this CSV file (the header too if it is new)");
    b->add_option("--json", bench.json, "write the result as JSON to this file");
    b->add_flag("--brief", bench.brief, "print one line instead of the table");
    b->add_option("--calibrate", bench.calibrate,
                  "measure what verifying costs the load generator: N pairs of it and a minimal "
                  "client run in turn against one server, and the ratio of their throughputs")
        ->check(CLI::Range(1, 100));
    b->add_flag("--no-pin", bench.no_pin,
                "do not pin the server and the load generator to different CPUs");
    b->add_option("command", o.command, "the server command, after --; --port P is appended");

    CLI::App* r = app.add_subcommand(
        "bench-report", "turn the CSV of make compare into a Markdown report and gnuplot plots");
    r->add_option("--csv", report.csv, "rows written by checker bench --csv")->required();
    r->add_option("--out", report.out, "directory for report.md, the plot data and plots.gp")
        ->required();
    r->add_option("--title", report.title, "the report's title");
    r->add_option("--pairs", report.pairs,
                  "rows of the reference epoll server and the baseline run in turn, for the bar "
                  "(make compare writes pairs.csv)");
    r->add_option("--cpu-pairs", report.cpu_pairs,
                  "rows of uring and the baseline run in turn, for the CPU goal "
                  "(make compare writes cpu-pairs.csv)");
    r->add_option("--churn-pairs", report.churn_pairs,
                  "rows of each pool and its per-client sibling run in turn, connection churn "
                  "(make compare writes churn-pairs.csv)");
    r->add_option("--workers", report.workers,
                  "rows of the pool models at several --workers (make compare writes "
                  "workers.csv)");
    r->add_option("--syscalls", report.syscalls,
                  "rows of checker bench --syscalls, one per model (make compare writes "
                  "syscalls.csv)");
}

}  // namespace

int main(int argc, char** argv) {
    // The checker's own writes to a server that vanished must fail with EPIPE, not kill it.
    ::signal(SIGPIPE, SIG_IGN);
    become_subreaper();
    kill_servers_when_interrupted();

    CLI::App app{
        "iolab checker: grades a line-echo server for correctness, concurrency, robustness, resources "
        "and conformance to its I/O model"};
    app.require_subcommand(1);

    GradeArguments arguments;
    CLI::App* grade_command = app.add_subcommand("grade", "grade one server on one lab's rubric");
    grade_command->add_option("--lab", arguments.lab, "the lab (I/O model) to grade against")
        ->required();
    grade_command->add_option("--json", arguments.json,
                              "also write Gradescope's results.json here");
    // One name per --only, so that a "--" right after it still starts the server command.
    grade_command->add_option("--only", arguments.only, "run only this test (repeatable)")
        ->allow_extra_args(false);
    grade_command->add_option(
        "--connect", arguments.connect,
        "grade a server already running at HOST:PORT (tests that need its process are skipped)");
    grade_command->add_option("command", arguments.command,
                              "the server command, after --; --port P is appended");

    grade_command->add_option(
        "--max-memory", arguments.max_memory_mib,
        "limit the server's address space to this many MiB (RLIMIT_AS; not for ASan builds)");
    grade_command
        ->add_option("--run-as", arguments.run_as_uid,
                     "run the server under this user ID (as root; checker batch's box does)")
        ->check(CLI::Range(0, 2147483647));

    BatchOptions batch;
    CLI::App* batch_command =
        app.add_subcommand("batch", "build and grade a whole class: one subdirectory per student");
    batch_command
        ->add_option("--submissions", batch.submissions,
                     "one subdirectory per student (a copy of labs/, or a handout tree)")
        ->required();
    batch_command
        ->add_option("--out", batch.out, "where gradebook.csv and STUDENT.json are written")
        ->required();
    batch_command->add_option("--jobs", batch.jobs, "builds and grading runs at once")
        ->capture_default_str();
    batch_command->add_option("--labs", batch.labs, "only these labs (comma-separated)")
        ->delimiter(',');
    batch_command->add_option("--kit", batch.kit, "the kit's top directory (Makefile, labs/common)")
        ->capture_default_str();
    batch_command
        ->add_option("--timeout", batch.lab_timeout_seconds,
                     "seconds to grade one lab of one student")
        ->capture_default_str();
    batch_command
        ->add_option("--build-timeout", batch.build_timeout_seconds,
                     "seconds to build one lab of one student")
        ->capture_default_str();
    batch_command
        ->add_option("--max-memory", batch.max_memory_mib,
                     "each server's address space in MiB (0: no limit)")
        ->capture_default_str();
    batch_command
        ->add_option("--max-disk", batch.max_disk_mib,
                     "MiB each submission may write in its tree, and each job in its /tmp")
        ->capture_default_str()
        ->check(CLI::Range(16, 65536));
    batch_command->add_flag("--no-box", batch.no_box,
                            "run every submission as this user, seeing the machine's files "
                            "(the box needs root: docs/instructors.md)");

    std::vector<std::string> combine_files;
    std::string combine_format = "gradescope";
    CLI::App* combine_command = app.add_subcommand(
        "combine", "combine the results.json of several labs into one, on stdout");
    combine_command
        ->add_option("--format", combine_format,
                     "gradescope or classroom (GitHub Classroom's reporter)")
        ->capture_default_str();
    combine_command->add_option("files", combine_files, "LAB.json files written by grade --json")
        ->required();

    std::string list_lab;
    CLI::App* list_command = app.add_subcommand("list", "list the labs and their tests");
    list_command->add_option("--lab", list_lab, "only this lab");

    TalkOptions talk_options;
    double reply_wait_seconds = 3;
    CLI::App* talk_command = app.add_subcommand(
        "talk", "try a server by hand: send the lines you type, show each reply and its time");
    talk_command->add_option("--port", talk_options.server.port, "the server's port")
        ->required()
        ->check(CLI::Range(1, 65535));
    talk_command->add_option("--host", talk_options.server.host, "the server's IPv4 address")
        ->capture_default_str();
    talk_command->add_option("--wait", reply_wait_seconds, "seconds to wait for each reply")
        ->capture_default_str()
        ->check(CLI::Range(0.05, 600.0));

    bench::BenchCommandLine bench_command_line;
    bench::ReportCommandLine report_command_line;
    add_bench_commands(app, bench_command_line, report_command_line);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        if (error.get_exit_code() == 0) return app.exit(error);
        std::cerr << "checker: " << error.what() << " (try --help)\n";
        return 2;
    }
    if (*app.get_subcommand("bench")) return bench::run_bench_command(bench_command_line);
    if (*app.get_subcommand("bench-report")) return bench::run_report_command(report_command_line);
    if (*grade_command) return run_grade(arguments);
    if (*talk_command) {
        talk_options.reply_wait =
            std::chrono::duration_cast<Duration>(std::chrono::duration<double>(reply_wait_seconds));
        return talk(talk_options, STDIN_FILENO, std::cout, std::cerr);
    }
    if (*combine_command) return run_combine(combine_files, combine_format);
    if (*batch_command) {
        batch.checker = std::filesystem::read_symlink("/proc/self/exe").string();
        return run_batch(batch);
    }
    for (const Lab& lab : all_labs())
        if (list_lab.empty() || lab.name == list_lab) print_rubric(std::cout, lab);
    return 0;
}
