// checker bench's own machinery: the latency histogram's percentiles, the
// number formats, the CSV it writes and reads back, and the verdicts of the
// compare report (who won, the baseline ratio), on rows made up here.
#include "bench/bench.hpp"
#include "bench/compare_report.hpp"
#include "bench/histogram.hpp"
#include "bench/syscall_counter.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace {

using namespace checker::bench;

// strace -c's summary, as strace 6.1 writes it: the calls of the "total" line,
// whether or not its errors column is blank.
TEST(SyscallSummary, TheTotalLineGivesTheCalls) {
    const char* with_errors =
        "% time     seconds  usecs/call     calls    errors syscall\n"
        "------ ----------- ----------- --------- --------- ----------------\n"
        " 60.00    0.006000           3      2000           sendto\n"
        " 40.00    0.004000           2      2010        10 recvfrom\n"
        "------ ----------- ----------- --------- --------- ----------------\n"
        "100.00    0.010000           2      4010        10 total\n";
    EXPECT_EQ(total_calls(with_errors), 4010);
    const char* without_errors =
        "------ ----------- ----------- --------- --------- ----------------\n"
        "100.00    0.000120          12        10           total\n";
    EXPECT_EQ(total_calls(without_errors), 10);
    EXPECT_FALSE(total_calls("strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted\n"));
}

TEST(Histogram, EmptyReportsZero) {
    LatencyHistogram histogram;
    EXPECT_EQ(histogram.count(), 0u);
    EXPECT_EQ(histogram.percentile(50), 0u);
    EXPECT_EQ(histogram.percentile(99.9), 0u);
    EXPECT_EQ(histogram.max(), 0u);
    EXPECT_EQ(histogram.mean(), 0);
}

TEST(Histogram, SmallValuesAreExact) {
    LatencyHistogram histogram;
    for (std::uint64_t v = 1; v <= 100; ++v) histogram.record(v);
    EXPECT_EQ(histogram.count(), 100u);
    EXPECT_EQ(histogram.min(), 1u);
    EXPECT_EQ(histogram.max(), 100u);
    EXPECT_EQ(histogram.percentile(50), 50u);
    EXPECT_EQ(histogram.percentile(90), 90u);
    EXPECT_EQ(histogram.percentile(99), 99u);
    EXPECT_EQ(histogram.percentile(99.9), 100u);  // the 99.9th of 100 values is the 100th
    EXPECT_EQ(histogram.percentile(100), 100u);
    EXPECT_DOUBLE_EQ(histogram.mean(), 50.5);
}

TEST(Histogram, PercentilesOfAWideRangeAreWithinOnePercent) {
    // 1 µs .. 1 s in nanoseconds, uniformly: the p-th percentile is p% of 1 s.
    LatencyHistogram histogram;
    for (std::uint64_t i = 1; i <= 100'000; ++i) histogram.record(i * 10'000);
    for (double p : {50.0, 90.0, 99.0, 99.9}) {
        double expected = p / 100 * 1e9;
        EXPECT_NEAR(static_cast<double>(histogram.percentile(p)), expected, expected * 0.01)
            << "p" << p;
    }
    EXPECT_EQ(histogram.percentile(100), 1'000'000'000u);
}

TEST(Histogram, ASingleOutlierShowsOnlyInTheTail) {
    LatencyHistogram histogram;
    histogram.record(50'000, 9'990);      // 9,990 replies in 50 µs
    histogram.record(2'000'000'000, 10);  // 10 stalled for 2 s
    EXPECT_NEAR(static_cast<double>(histogram.percentile(99)), 50'000, 500);
    EXPECT_NEAR(static_cast<double>(histogram.percentile(99.95)), 2e9, 2e7);
    EXPECT_EQ(histogram.max(), 2'000'000'000u);
}

TEST(Histogram, EveryValueLiesInItsBucketAndBucketsAreNarrow) {
    for (std::uint64_t v = 0; v < (std::uint64_t{1} << 40); v = v * 3 / 2 + 1) {
        int bucket = LatencyHistogram::bucket_of(v);
        EXPECT_LE(LatencyHistogram::bucket_lowest(bucket), v);
        EXPECT_GE(LatencyHistogram::bucket_highest(bucket), v);
        double width = static_cast<double>(LatencyHistogram::bucket_highest(bucket) -
                                           LatencyHistogram::bucket_lowest(bucket) + 1);
        EXPECT_LE(width, std::max(1.0, static_cast<double>(v) / 128)) << v;
        if (v > 0) {
            EXPECT_LE(LatencyHistogram::bucket_of(v - 1), bucket);  // monotonic
        }
    }
}

TEST(Histogram, AddingEqualsRecordingTogether) {
    LatencyHistogram a, b, both;
    for (std::uint64_t v = 1; v < 5000; v += 7) {
        a.record(v * 1000);
        both.record(v * 1000);
    }
    for (std::uint64_t v = 1; v < 900; v += 3) {
        b.record(v * 50'000);
        both.record(v * 50'000);
    }
    a.add(b);
    EXPECT_EQ(a.count(), both.count());
    EXPECT_EQ(a.min(), both.min());
    EXPECT_EQ(a.max(), both.max());
    for (double p : {10.0, 50.0, 99.0, 99.9}) EXPECT_EQ(a.percentile(p), both.percentile(p));
}

TEST(Format, CountsLatenciesAndBytes) {
    EXPECT_EQ(format_count(0), "0");
    EXPECT_EQ(format_count(999), "999");
    EXPECT_EQ(format_count(1234567), "1,234,567");
    EXPECT_EQ(format_count(NAN), "-");
    EXPECT_EQ(format_latency(27'450), "27.4 µs");
    EXPECT_EQ(format_latency(1'310'000), "1.31 ms");
    EXPECT_EQ(format_latency(2e9), "2.00 s");
    EXPECT_EQ(format_bytes(1.5 * 1024 * 1024), "1.5 MiB");
}

// ---- the compare report, on rows made up here ----------------------------------

BenchRow row(const std::string& model, const std::string& scenario, int connections, double rate,
             const std::string& status = "ok", const std::string& mode = "closed loop",
             double p99_us = 100) {
    BenchRow r;
    r.fields = {{"model", model},
                {"scenario", scenario},
                {"connections", std::to_string(connections)},
                {"requests_per_s", std::to_string(rate)},
                {"status", status},
                {"mode", mode},
                {"p99_us", std::to_string(p99_us)},
                {"served", status == "ok" ? std::to_string(connections) : "1"},
                {"line_bytes", "64"},
                {"pipeline", "1"},
                {"delay_us", "0"},
                {"compute_us", "0"},
                {"client_bound", "no"},
                {"memory_bytes", "1048576"},
                {"anon_memory_bytes", "262144"},
                {"window_s", "1.0"},
                {"server_cpus", "1"}};
    return r;
}

TEST(CompareReport, TheFastestModelThatServedEveryConnectionWins) {
    std::vector<BenchRow> rows = {
        row("blocking", "echo 64 B", 100, 90'000,
            "partial"),  // fast, but served 1 of 100: cannot win
        row("poll", "echo 64 B", 100, 50'000), row("select", "echo 64 B", 100, 40'000),
        row(kBaselineModel, "echo 64 B", 100, 80'000),  // the yardstick is not a contestant
    };
    std::string sentence = winner_sentence(rows, Cell{"echo 64 B", 100});
    EXPECT_NE(sentence.find("**poll** with 50,000 requests/s, 1.25× select (40,000)"),
              std::string::npos)
        << sentence;
}

TEST(CompareReport, OpenLoopIsWonOnLatency) {
    std::vector<BenchRow> rows = {
        row("threads", "open loop", 100, 10'000, "ok", "open loop", 300),
        row("poll", "open loop", 100, 10'000, "ok", "open loop", 100),
    };
    std::string sentence = winner_sentence(rows, Cell{"open loop", 100});
    EXPECT_NE(sentence.find("**poll** with p99 100 µs, 3.00× lower than threads"),
              std::string::npos)
        << sentence;
}

TEST(CompareReport, ListsTheSystemCallsOfTheCountingRuns) {
    std::vector<BenchRow> rows = {row("poll", "echo 64 B", 100, 50'000)};
    BenchRow poll = row("poll", "echo 64 B", 100, 9'000);
    poll.fields["syscalls_per_request"] = "2.03";
    BenchRow aio = row("aio", "echo 64 B", 100, 0, "did not start");
    aio.fields["note"] = "strace wrote no summary";
    std::string report = markdown_report(rows, "", {.syscalls = {poll, aio}});
    EXPECT_NE(report.find("## System calls per request"), std::string::npos) << report;
    EXPECT_NE(report.find("| poll | 2.03 |"), std::string::npos) << report;
    EXPECT_NE(report.find("| aio | not counted: strace wrote no summary |"), std::string::npos)
        << report;
    EXPECT_EQ(markdown_report(rows, "").find("System calls"), std::string::npos)
        << "no section without counting runs";
}

// Throughput against --workers: each model's runs in increasing --workers,
// each a multiple of its one-worker figure; a failed run is left out.
TEST(CompareReport, TheWorkersSweepIsAMultipleOfOneWorker) {
    std::vector<BenchRow> runs;
    for (auto [workers, rate] : {std::pair{4, 18'000.0}, {1, 10'000.0}, {2, 15'000.0}}) {
        runs.push_back(row("reactors", "compute 100 µs", 100, rate));
        runs.back().fields["workers"] = std::to_string(workers);
    }
    runs.push_back(row("prethread", "compute 100 µs", 100, 9'000, "server died"));
    runs.back().fields["workers"] = "1";
    std::vector<std::string> lines = workers_sweep(runs);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0], "reactors: 1 → 10,000, 2 → 15,000 (1.50×), 4 → 18,000 (1.80×) requests/s");
    std::string report =
        markdown_report({row("poll", "echo 64 B", 100, 50'000)}, "test", {.workers = runs});
    EXPECT_NE(report.find("## Throughput against --workers"), std::string::npos) << report;
    EXPECT_NE(report.find("had one CPU (the load generator the other)"), std::string::npos)
        << report;
}

// Twelve models and the baseline do not fit one slide: two slides of six,
// in the order of the run, the baseline on both.
TEST(CompareReport, TheThroughputTableIsSplitIntoSlidesThatFit) {
    std::vector<BenchRow> rows;
    for (int i = 1; i <= 12; ++i)
        rows.push_back(row("model" + std::to_string(i), "echo 64 B", 100, 1'000.0 * i));
    rows.push_back(row(kBaselineModel, "echo 64 B", 100, 99'000));
    std::vector<std::string> slides = throughput_slides(rows);
    ASSERT_EQ(slides.size(), 2u);
    EXPECT_NE(slides[0].find("| scenario | model1 | model2 | model3 | model4 | model5 | model6 | " +
                             std::string(kBaselineModel) + " |"),
              std::string::npos)
        << slides[0];
    EXPECT_NE(slides[1].find("| scenario | model7 |"), std::string::npos) << slides[1];
    EXPECT_NE(slides[1].find("2 of 2"), std::string::npos) << slides[1];
    EXPECT_NE(slides[1].find("| 99,000 |"), std::string::npos) << slides[1];
    rows.resize(3);
    EXPECT_EQ(throughput_slides(rows).size(), 1u);
}

// Beside throughput, requests per server CPU-second: 5 µs per request is
// 200,000 a CPU-second, whoever set the pace.
TEST(CompareReport, RanksTheModelsOnRequestsPerServerCpuSecond) {
    BenchRow poll = row("poll", "echo 64 B", 100, 90'000);
    poll.fields["cpu_us_per_request"] = "5.0";
    poll.fields["client_bound"] = "yes";
    BenchRow blocking = row("blocking", "echo 64 B", 100, 20'000, "partial");
    blocking.fields["cpu_us_per_request"] = "19.0";
    std::string report = markdown_report({poll, blocking}, "test");
    std::size_t section = report.find("## Requests per server CPU-second");
    ASSERT_NE(section, std::string::npos) << report;
    std::string table = report.substr(section, report.find("## Who won") - section);
    EXPECT_NE(table.find("| echo 64 B, 100 connections | 200,000 | 1 of 100 served |"),
              std::string::npos)
        << table;
}

TEST(CompareReport, SaysWhenNoModelServedEveryConnection) {
    std::vector<BenchRow> rows = {row("blocking", "echo 64 B", 10'000, 30'000, "partial")};
    EXPECT_NE(
        winner_sentence(rows, Cell{"echo 64 B", 10'000}).find("no model served every connection"),
        std::string::npos);
}

TEST(CompareReport, GivesTheReferenceServersRatioToTheBaseline) {
    std::vector<BenchRow> rows = {row(kReferenceModel, "echo 64 B", 100, 70'000),
                                  row(kBaselineModel, "echo 64 B", 100, 100'000)};
    std::vector<std::string> lines = baseline_comparison(rows);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("**0.70×**"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find("NOT met"), std::string::npos) << lines[0];
    rows[0].fields["requests_per_s"] = "85000";
    EXPECT_NE(baseline_comparison(rows)[0].find(": met"), std::string::npos);
    EXPECT_TRUE(baseline_comparison({row(kBaselineModel, "echo 64 B", 100, 100'000)}).empty());
}

TEST(CompareReport, JudgesTheBarOnTheMedianOfRepeatedPairs) {
    std::vector<BenchRow> pairs = {
        row(kBaselineModel, "echo 64 B", 100, 100'000),
        row(kReferenceModel, "echo 64 B", 100, 70'000),  // 0.70
        row(kReferenceModel, "echo 64 B", 100, 90'000),
        row(kBaselineModel, "echo 64 B", 100, 100'000),  // 0.90
        row(kBaselineModel, "echo 64 B", 100, 100'000),
        row(kReferenceModel, "echo 64 B", 100, 82'000),  // 0.82
    };
    std::string verdict = bar_from_pairs(pairs);
    EXPECT_NE(verdict.find("3 pairs"), std::string::npos) << verdict;
    EXPECT_NE(verdict.find("0.70×, 0.90×, 0.82×; median **0.82×**"), std::string::npos) << verdict;
    EXPECT_NE(verdict.find(": met"), std::string::npos) << verdict;
    pairs[5].fields["requests_per_s"] =
        "75000";  // 0.70, 0.90, 0.75: the median falls below the bar
    EXPECT_NE(bar_from_pairs(pairs).find("median **0.75×** (the bar is 0.80×: **NOT met**)"),
              std::string::npos)
        << bar_from_pairs(pairs);
    pairs[1].fields["status"] =
        "server died";  // a failed run is not a measurement: its pair is left out
    EXPECT_NE(bar_from_pairs(pairs).find("2 pairs"), std::string::npos) << bar_from_pairs(pairs);
    EXPECT_EQ(bar_from_pairs({row(kBaselineModel, "echo 64 B", 100, 100'000)}), "");
    EXPECT_NE(markdown_report({row(kReferenceModel, "echo 64 B", 100, 70'000),
                               row(kBaselineModel, "echo 64 B", 100, 100'000)},
                              "test", {.pairs = pairs})
                  .find("judged on runs repeated side by side: 2 pairs"),
              std::string::npos);
}

BenchRow churn_row(const std::string& model, const std::string& scenario, double connections_per_s,
                   double cpu_us_per_connection) {
    BenchRow r = row(model, scenario, 10, connections_per_s);
    r.fields["cpu_us_per_request"] = std::to_string(cpu_us_per_connection);
    return r;
}

TEST(CompareReport, ChurnPairsGiveEachPoolsMultipleOfItsPerClientSibling) {
    const std::string forks = "churn: prefork vs fork", threads = "churn: prethread vs threads";
    std::vector<BenchRow> pairs = {
        churn_row("fork", forks, 1'000, 400),
        churn_row("prefork", forks, 4'000, 40),  // 4, 10
        churn_row("prefork", forks, 6'000, 50),
        churn_row("fork", forks, 2'000, 400),  // 3, 8
        churn_row("fork", forks, 1'000, 300),
        churn_row("prefork", forks, 5'000, 50),  // 5, 6
        churn_row("threads", threads, 4'000, 80),
        churn_row("prethread", threads, 6'000, 40),  // 1.5, 2
    };
    std::vector<std::string> lines = churn_from_pairs(pairs);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find("prefork against fork, 3 pairs of runs in turn"), std::string::npos)
        << lines[0];
    EXPECT_NE(lines[0].find("connections/s: median **4.00×**, spread 3.00×–5.00×"),
              std::string::npos)
        << lines[0];
    EXPECT_NE(lines[0].find("server CPU per connection: median **8.00× less**, spread 6.00×–10.0×"),
              std::string::npos)
        << lines[0];
    EXPECT_NE(lines[1].find("prethread against threads, 1 pairs"), std::string::npos) << lines[1];
    pairs[7].fields["status"] = "server died";  // no measurement: no line for prethread
    EXPECT_EQ(churn_from_pairs(pairs).size(), 1u);
    std::string report =
        markdown_report({row("fork", "churn", 10, 1'000)}, "test", {.churn_pairs = pairs});
    EXPECT_NE(
        report.find("## Connection churn: a pool made in advance against a worker per client"),
        std::string::npos)
        << report;
    EXPECT_EQ(markdown_report({row("fork", "churn", 10, 1'000)}, "test").find("Connection churn:"),
              std::string::npos);
}

BenchRow cpu_row(const std::string& model, int connections, double cpu_us_per_request) {
    BenchRow r = row(model, "echo 64 B", connections, 100'000);
    r.fields["cpu_us_per_request"] = std::to_string(cpu_us_per_request);
    return r;
}

TEST(CompareReport, TheCpuGoalIsJudgedOnPairsAtEachConnectionCount) {
    std::vector<BenchRow> pairs = {
        cpu_row(kBaselineModel, 100, 8.0),  cpu_row(kCpuModel, 100, 8.0),       // 1.00
        cpu_row(kCpuModel, 100, 6.4),       cpu_row(kBaselineModel, 100, 8.0),  // 1.25
        cpu_row(kBaselineModel, 100, 8.0),  cpu_row(kCpuModel, 100, 7.0),       // 1.14
        cpu_row(kBaselineModel, 1000, 9.0), cpu_row(kCpuModel, 1000, 10.0),     // 0.90
    };
    std::vector<std::string> lines = cpu_goal_from_pairs(pairs);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find("100 connections: 3 pairs of runs in turn: 1.00×, 1.25×, 1.14×; "
                            "median **1.14×**, spread 1.00×–1.25× (the goal is 1.10×: met)"),
              std::string::npos)
        << lines[0];
    EXPECT_NE(lines[1].find("1000 connections: 1 pairs"), std::string::npos) << lines[1];
    EXPECT_NE(lines[1].find("(the goal is 1.10×: **NOT met**)"), std::string::npos) << lines[1];
    pairs[7].fields["status"] = "server died";  // no measurement: no line for 1,000
    EXPECT_EQ(cpu_goal_from_pairs(pairs).size(), 1u);
    std::string report = markdown_report({cpu_row(kCpuModel, 100, 5.0), cpu_row("epoll", 100, 6.0)},
                                         "test", {.cpu_pairs = pairs});
    EXPECT_NE(report.find("## uring against the baseline: requests per server CPU-second"),
              std::string::npos)
        << report;
    EXPECT_NE(report.find("echo 64 B, 100 connections: uring, 5.0 CPU µs/request"),
              std::string::npos)
        << report;
}

TEST(CompareReport, TableShowsWhatAModelCouldNotHold) {
    std::vector<BenchRow> rows = {row("blocking", "echo 64 B", 100, 30'000, "partial"),
                                  row("poll", "echo 64 B", 100, 50'000)};
    std::string report = markdown_report(rows, "test");
    EXPECT_NE(report.find("| echo 64 B, 100 connections | 1 of 100 served | 50,000 |"),
              std::string::npos)
        << report;
    EXPECT_NE(report.find("## Who won"), std::string::npos);
}

TEST(CompareReport, ReadsBackTheCsvThatBenchWrites) {
    BenchResult result;
    result.options.model = "threads";
    result.options.scenario = "echo 4 KiB, \"quoted\"";
    result.options.load.connections = 10;
    result.setup_error =
        "the server exited with status 1, before it accepted a connection";  // commas in a field
    std::string path = "/tmp/iolab-bench-test-" + std::to_string(::getpid()) + ".csv";
    std::filesystem::remove(path);
    append_csv(path, result);
    append_csv(path, result);
    std::vector<BenchRow> rows = read_bench_csv(path);
    std::filesystem::remove(path);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].text("model"), "threads");
    EXPECT_EQ(rows[0].text("scenario"), "echo 4 KiB, \"quoted\"");
    EXPECT_EQ(rows[0].text("status"), "did not start");
    EXPECT_EQ(rows[0].text("note"), result.setup_error);
    EXPECT_EQ(rows[1].number("connections"), 10);
    EXPECT_TRUE(std::isnan(rows[0].number("requests_per_s")));
}

}  // namespace
