// checker bench: one benchmark run of one server. Starts the server contained
// (ServerProcess), pins it and the load generator to different CPUs where
// there are two or more, ramps the connections in, loads it (load_generator),
// samples its processes from /proc meanwhile, stops it, and reports: a table
// for people, a CSV row and a JSON object for make compare.
#pragma once

#include "load_generator.hpp"
#include "server_process.hpp"

#include <cmath>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace checker::bench {

struct BenchOptions {
    std::vector<std::string> command;  // the server; "--port P" and the work options are appended
    std::string model;                 // label for the reports (default: the command's file name)
    std::string scenario;              // label for the reports
    LoadSpec load;                     // load.server is filled in by run_bench
    long delay_us = 0;                 // passed to the server as --delay-us
    long compute_us = 0;               // passed to the server as --compute-us
    int workers = -1;                  // passed as --workers when >= 0
    bool pin = true;  // server and load generator on different CPUs (unless the machine is busy)
    // A server already running (checker bench --connect): not started, not
    // stopped, not sampled; `command` is then empty.
    std::optional<Endpoint> connect;
    // Count the server's system calls over the window (strace): a run that
    // counts is slowed down, and is for counting only.
    bool count_syscalls = false;
};

struct BenchResult {
    BenchOptions options;
    LoadResult load;
    std::string not_run;  // the run was not attempted (too many connections for this machine)
    std::string
        setup_error;  // the server could not be started or never listened: nothing was measured
    std::string server_failure;  // the server died during the run
    std::string server_output;   // the tail of its output, when something went wrong

    // The server, during the measured window.
    double server_cpu_seconds = 0;
    long long server_context_switches = -1;
    // The server's peaks over the run (memory is Pss summed over its processes).
    ResourceUsage server_peak;
    int server_cpus = 0;  // CPUs the server was allowed to run on
    int client_cpu = -1;  // the load generator's CPU (-1: not pinned)
    std::string
        not_pinned;  // why server and load generator were not pinned, if they could have been
    double other_cpus = 0;              // CPUs the rest of the machine kept busy during the window
    double syscalls_per_request = NAN;  // with options.count_syscalls
    std::string syscalls_not_counted;   // why not, when it was asked for

    double requests_per_second() const;
    double per_connection_rate(std::uint64_t replies) const;  // replies / the window's seconds
    double server_cpu_share() const;                          // in CPUs
    double client_cpu_share() const;                          // of its one CPU
    double cpu_us_per_request() const;                        // NaN if no request was answered
    bool all_served() const;    // every connection answered under load (after the ramp-in)
    bool client_bound() const;  // the load generator, not the server, was the limit
    bool machine_busy() const;  // other processes took enough CPU to distort the figures
    // "ok", "partial" (not every connection served), "corrupt", "server died", "did not start", "not run".
    std::string status() const;
    // What became of the connections when not all were served, in one line ("" when all were).
    std::string connections_note() const;
};

BenchResult run_bench(const BenchOptions& options);

// `checker bench --calibrate`: what verifying every reply costs the load
// generator. It and a minimal client (checker/bench/minimal_client.hpp) load
// one server in turn, `pairs` times, order alternating; the ratio of their
// throughputs, near 1 when the server is the limit, falls as the generator
// becomes the limit.
struct CalibrationPair {
    double verifying = 0, minimal = 0;  // requests/s
    bool verifying_first = true;
    std::uint64_t corrupt_replies = 0;
    double ratio() const;  // verifying / minimal
};
struct Calibration {
    std::string setup_error;
    std::string server_failure;
    std::vector<CalibrationPair> pairs;
};
constexpr double kCalibrationGoal = 0.95;  // of the minimal client's throughput
Calibration run_calibration(const BenchOptions& options, int pairs);
void print_calibration(std::ostream& out, const BenchOptions& options,
                       const Calibration& calibration);

// `checker bench`, as main.cpp parsed its command line.
struct BenchCommandLine {
    BenchOptions options;
    double duration = 2, warmup = 0.5, stall = 1;  // seconds
    bool churn = false, brief = false, no_pin = false, syscalls = false;
    int calibrate = 0;      // > 0: that many pairs of --calibrate instead of one run
    std::string csv, json;  // files to write, if given
    std::string connect;    // HOST:PORT of a server started by hand
};

// Runs it, prints, writes the files. Exit status: 0 measured and verified
// (also when the model could not hold every connection), 1 a reply was
// corrupt or the server died, 2 not run, did not start, or a usage error.
int run_bench_command(BenchCommandLine& command_line);

void print_bench(std::ostream& out, const BenchResult& result);
std::string summary_line(const BenchResult& result);  // one line, for make compare's progress
void append_csv(const std::string& path,
                const BenchResult& result);  // writes the header first if new
void write_json(const std::string& path, const BenchResult& result);

// The CSV columns, in order (the compare report reads them by name).
const std::vector<std::string>& csv_columns();

// "12,345"; "27.5 µs", "1.31 ms", "2.00 s"; "1.6 MiB".
std::string format_count(double value);
std::string format_latency(double nanoseconds);
std::string format_bytes(double bytes);

}  // namespace checker::bench
