// The report of make compare: reads the CSV rows that `checker bench --csv`
// wrote (one per model and scenario) and writes
//   report.md      the throughput table (scenario x model), one detailed table
//                  per scenario, who won each scenario and by how much, the
//                  reference epoll server against the epoll baseline, and the
//                  load generator's own CPU share;
//   plots.gp       a gnuplot script drawing requests/s, p99 latency and memory
//                  against connections, one line per model, as SVG and PNG;
//   plot-data/     the numbers it plots.
// Every statement in the report is computed from the rows, never assumed.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace checker::bench {

// One CSV row, by column name.
struct BenchRow {
    std::map<std::string, std::string> fields;
    std::string text(const std::string& column) const;
    double number(const std::string& column) const;  // NaN when empty or absent
};

std::vector<BenchRow> read_bench_csv(const std::string& path);

// The server compared against the reference epoll server (tests/bench/epoll_baseline.cpp).
inline constexpr const char* kBaselineModel = "epoll-baseline";
inline constexpr const char* kReferenceModel = "epoll";
// The completion model done in the kernel, judged on CPU rather than throughput
// (the load generator limits every fast server on a 2-CPU machine): requests
// per server CPU-second, as a multiple of the baseline's.
inline constexpr const char* kCpuModel = "uring";

// One scenario at one number of connections: a row of the throughput table.
struct Cell {
    std::string scenario;
    int connections = 0;
    std::string label() const;  // "echo 64 B, 100 connections"
};

std::vector<Cell> cells_of(const std::vector<BenchRow>& rows);  // in the order they were run
std::vector<std::string> models_of(
    const std::vector<BenchRow>& rows);  // in the order they were run

// "echo 64 B, 100 connections: poll won with 71,234 requests/s, 1.12x select (63,500)." Open-loop
// scenarios are won on p99 latency (the rate is the same for all). Only runs that served every
// connection and verified every reply can win; the baseline is not a contestant.
std::string winner_sentence(const std::vector<BenchRow>& rows, const Cell& cell);

// The median of `values` (not empty), and its lowest and highest: how a ratio
// of repeated pairs is quoted.
struct Spread {
    double median, lowest, highest;
};
Spread spread_of(std::vector<double> values);

// The reference epoll server's throughput as a multiple of the baseline's, in every cell both ran.
std::vector<std::string> baseline_comparison(const std::vector<BenchRow>& rows);

// The bar judged on repeated runs: `pairs` holds rows of the reference epoll
// server and of the baseline, run in turn in one cell, the k-th of each model
// making the k-th pair. "5 pairs ...: 0.78x, 0.81x, ...; median 0.81x (the bar is
// 0.80x: met)", or empty when there is no complete pair.
std::string bar_from_pairs(const std::vector<BenchRow>& pairs);

// The CPU goal judged on repeated runs: `cpu_pairs` holds rows of kCpuModel
// and of the baseline run in turn, at one or more connection counts; the k-th
// of each model at a count makes the k-th pair there. One line per count:
// "100 connections: 5 pairs: 1.02x, 0.97x, ...; median 1.00x, spread
// 0.95x-1.06x (the goal is 1.10x: NOT met)". Empty without a complete pair.
std::vector<std::string> cpu_goal_from_pairs(const std::vector<BenchRow>& cpu_pairs);

// Connection churn, a pool made in advance against the model that makes a
// process or thread per client: `churn_pairs` holds rows run in turn, each
// scenario ("churn: prefork vs fork") one pair of models, the pool named
// first; the k-th row of each model there makes the k-th pair. One line per
// scenario: the pool's connections/s and its server CPU per connection as
// multiples of the other's, each pair's, the median and the spread. Empty
// without a complete pair.
std::vector<std::string> churn_from_pairs(const std::vector<BenchRow>& churn_pairs);

// The runs of make compare besides its matrix, each from a CSV of its own
// (any may be empty): the bar's pairs (bar_from_pairs), the CPU goal's
// (cpu_goal_from_pairs), the churn pairs (churn_from_pairs), one counting run
// per model (checker bench --syscalls), and the sweep of --workers.
struct ExtraRuns {
    std::vector<BenchRow> pairs = {};
    std::vector<BenchRow> cpu_pairs = {};
    std::vector<BenchRow> churn_pairs = {};
    std::vector<BenchRow> syscalls = {};
    std::vector<BenchRow> workers = {};
};

// Throughput against --workers: one line per model of `workers` rows, its
// requests/s at each --workers in increasing order, and each as a multiple
// of its one-worker figure. "reactors: 1 → 8,000, 2 → 8,100 (1.01×), ...".
std::vector<std::string> workers_sweep(const std::vector<BenchRow>& workers);

// The throughput table for the lecture, one slide per seven models at most
// (the baseline on each): throughput.md, throughput-2.md, ...
std::vector<std::string> throughput_slides(const std::vector<BenchRow>& rows);

// Without extra.pairs the bar is judged on the one run of the matrix.
std::string markdown_report(const std::vector<BenchRow>& rows, const std::string& title,
                            const ExtraRuns& extra = {});

// `checker bench-report`, as main.cpp parsed its command line: the matrix's
// CSV, and the CSV of each of the extra runs ("" where there is none).
struct ReportCommandLine {
    std::string csv, out, title, pairs, cpu_pairs, churn_pairs, syscalls, workers;
};

// Writes report.md (the whole report), throughput.md (its throughput table
// alone, sized for the lecture's slide), plot-data/ and plots.gp into
// `command_line.out` (created if needed).
void write_compare_report(const ReportCommandLine& command_line);

// Exit status: 0 written, 2 the CSV could not be read or the report not written.
int run_report_command(const ReportCommandLine& command_line);

}  // namespace checker::bench
