// checker bench measures real servers, verifies every reply byte, says what a
// model could not hold, and never hangs. Short runs; no figure is asserted,
// only that measuring happened and its accounting is right.
#include "run_checker.hpp"
#include "server_process.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace {

using iolab_test::build_dir;
using iolab_test::CheckerRun;
using iolab_test::run_checker;

// A short run: 0.5 s measured after 0.1 s of warm-up.
CheckerRun bench(const std::string& server, std::vector<std::string> options = {}) {
    std::vector<std::string> arguments{"bench", "--duration", "0.5", "--warmup", "0.1"};
    arguments.insert(arguments.end(), options.begin(), options.end());
    if (!server.empty()) arguments.insert(arguments.end(), {"--", server});  // "": --connect
    return run_checker(arguments, 60);
}

// The value of `"key": ...` in bench's flat JSON ("" if absent).
std::string json_value(const std::string& json, const std::string& key) {
    std::size_t at = json.find("\"" + key + "\": ");
    if (at == std::string::npos) return "";
    at += key.size() + 4;
    if (json[at] == '"') return json.substr(at + 1, json.find('"', at + 1) - at - 1);
    return json.substr(at, json.find_first_of(",\n", at) - at);
}

double json_number(const std::string& json, const std::string& key) {
    std::string value = json_value(json, key);
    return value.empty() ? -1 : std::atof(value.c_str());
}

TEST(Bench, MeasuresAndVerifiesTheBlockingSolution) {
    // By its absolute path, so that no other checkout's server on this machine is taken for it.
    std::string server = std::filesystem::absolute(build_dir() + "/solutions/blocking").string();
    auto run = bench(server, {"--connections", "1"});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(json_value(run.results_json, "status"), "ok") << run.results_json;
    EXPECT_GT(json_number(run.results_json, "answered"), 0) << run.results_json;
    EXPECT_EQ(json_number(run.results_json, "corrupt_replies"), 0);
    EXPECT_GT(json_number(run.results_json, "requests_per_s"), 0);
    EXPECT_GT(json_number(run.results_json, "p99_us"), 0);
    EXPECT_GT(json_number(run.results_json, "memory_bytes"), 0);
    EXPECT_EQ(json_number(run.results_json, "processes"), 1);
    EXPECT_NE(run.output.find("verified byte for byte"), std::string::npos) << run.output;
    EXPECT_TRUE(iolab_test::processes_matching(server).empty()) << "the server outlived the run";
}

TEST(Bench, MeasuresTheBaselineOnManyConnections) {
    auto run = bench(build_dir() + "/bench/epoll_baseline",
                     {"--connections", "50", "--pipeline", "2", "--size", "4096"});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(json_value(run.results_json, "status"), "ok") << run.results_json;
    EXPECT_EQ(json_number(run.results_json, "served"), 50) << run.results_json;
    EXPECT_GE(json_number(run.results_json, "descriptors"), 50) << run.results_json;
    EXPECT_GE(json_number(run.results_json, "client_cpu_share"), 0) << run.results_json;
}

TEST(Bench, DetectsACorruptedReply) {
    auto run = bench(build_dir() + "/fixtures/flips_a_byte", {"--connections", "1"});
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_EQ(json_value(run.results_json, "status"), "corrupt") << run.results_json;
    EXPECT_NE(run.output.find("CORRUPT"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("reply to its request 100 (a 64-byte line): byte 0 is"),
              std::string::npos)
        << run.output;
}

TEST(Bench, ShowsAModelThatCannotHoldTheConnections) {
    auto run = bench(build_dir() + "/solutions/blocking", {"--connections", "5"});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(json_value(run.results_json, "status"), "partial") << run.results_json;
    EXPECT_EQ(json_number(run.results_json, "served"), 1) << run.results_json;
    EXPECT_NE(json_value(run.results_json, "note")
                  .find("served 1 of 5 connections; 4 connected but never answered"),
              std::string::npos)
        << run.results_json;
    EXPECT_LT(run.seconds, 20) << "the ramp-in must give up within its stall limit";
    // Fairness: the one client served has all the replies, the other four none.
    EXPECT_EQ(json_number(run.results_json, "unserved_in_window"), 4) << run.results_json;
    EXPECT_EQ(json_number(run.results_json, "per_connection_min_per_s"), 0) << run.results_json;
    EXPECT_EQ(json_number(run.results_json, "per_connection_median_per_s"), 0) << run.results_json;
    EXPECT_NEAR(json_number(run.results_json, "per_connection_max_per_s"),
                json_number(run.results_json, "requests_per_s"), 0.2)
        << run.results_json;
    EXPECT_NE(run.output.find("4 of 5 had no reply in the window"), std::string::npos)
        << run.output;
}

// An event loop shares its time: every connection is served in the window,
// and no connection gets more than all the replies.
TEST(Bench, FairnessSpreadsOverEveryConnectionOfAnEventLoop) {
    auto run = bench(build_dir() + "/solutions/poll", {"--connections", "20"});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(json_number(run.results_json, "unserved_in_window"), 0) << run.results_json;
    double least = json_number(run.results_json, "per_connection_min_per_s");
    double median = json_number(run.results_json, "per_connection_median_per_s");
    double most = json_number(run.results_json, "per_connection_max_per_s");
    EXPECT_GT(least, 0) << run.results_json;
    EXPECT_LE(least, median) << run.results_json;
    EXPECT_LE(median, most) << run.results_json;
    EXPECT_LE(most, json_number(run.results_json, "requests_per_s")) << run.results_json;
    EXPECT_NE(run.output.find("fairness      per connection: min "), std::string::npos)
        << run.output;
}

// Open loop: requests to connections the server never serves are counted at
// their age, not left out (coordinated omission).
TEST(Bench, OpenLoopCountsTheRequestsThatWereNeverAnswered) {
    auto run = bench(build_dir() + "/solutions/blocking", {"--connections", "2", "--rate", "1000"});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_GT(json_number(run.results_json, "unanswered"), 0) << run.results_json;
    EXPECT_GT(json_number(run.results_json, "answered"), 0) << run.results_json;
    // The unanswered ones waited at least the drain (1 s): the maximum shows it.
    EXPECT_GE(json_number(run.results_json, "max_us"), 1e6) << run.results_json;
}

TEST(Bench, ChurnConnectsOncePerRequest) {
    auto run = bench(build_dir() + "/solutions/blocking", {"--connections", "4", "--churn"});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(json_value(run.results_json, "status"), "ok") << run.results_json;
    EXPECT_EQ(json_value(run.results_json, "mode"), "churn");
    EXPECT_GE(json_number(run.results_json, "opened"), json_number(run.results_json, "answered"))
        << run.results_json;
    EXPECT_GT(json_number(run.results_json, "answered"), 0) << run.results_json;
}

// --calibrate: the verifying generator and the minimal client take turns
// against one server; each pair shows both figures and their ratio.
TEST(Bench, CalibrateRunsBothClientsInTurnAndQuotesTheMedianRatio) {
    auto run = run_checker({"bench", "--calibrate", "2", "--connections", "10", "--duration", "0.3",
                            "--warmup", "0.1", "--", build_dir() + "/bench/epoll_baseline"},
                           60);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    for (const char* pair : {"pair 1 (verifying first)", "pair 2 (minimal first)"}) {
        std::size_t at = run.output.find(pair);
        ASSERT_NE(at, std::string::npos) << run.output;
        std::string line = run.output.substr(at, run.output.find('\n', at) - at);
        // Both clients were answered: neither figure is zero.
        EXPECT_EQ(line.find("verifying 0 requests/s"), std::string::npos) << line;
        EXPECT_EQ(line.find("minimal 0 requests/s"), std::string::npos) << line;
    }
    EXPECT_NE(run.output.find("the verifying generator reached "), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("median of 2 pairs"), std::string::npos) << run.output;
    EXPECT_TRUE(iolab_test::processes_matching(build_dir() + "/bench/epoll_baseline").empty());
}

TEST(Bench, CalibrateRefusesALoadTheMinimalClientCannotMake) {
    auto run = run_checker(
        {"bench", "--calibrate", "2", "--churn", "--", build_dir() + "/bench/epoll_baseline"}, 30);
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find("drop --churn, --rate and --pipeline"), std::string::npos)
        << run.output;
}

// --connect: a server started by hand (here, by the test) is loaded, not
// started, sampled or stopped; the report says what was not measured.
TEST(Bench, ConnectLoadsAServerStartedByHandAndLeavesItRunning) {
    int port = checker::pick_free_port();
    checker::ServerProcess server({build_dir() + "/solutions/poll", "--port", std::to_string(port)},
                                  {});
    ASSERT_FALSE(server.wait_until_listening(checker::Endpoint{"127.0.0.1", port},
                                             checker::Deadline(std::chrono::seconds(5))));
    auto run = bench("", {"--connections", "5", "--connect", "127.0.0.1:" + std::to_string(port)});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(json_value(run.results_json, "status"), "ok") << run.results_json;
    EXPECT_EQ(json_number(run.results_json, "served"), 5) << run.results_json;
    EXPECT_EQ(json_value(run.results_json, "server_cpu_s"), "") << run.results_json;
    EXPECT_NE(run.output.find("started by hand: its CPU and memory are not measured"),
              std::string::npos)
        << run.output;
    EXPECT_TRUE(server.running()) << "the checker stopped a server it did not start";
}

TEST(Bench, ConnectWantsHostAndPortAndNoCommand) {
    auto run = run_checker({"bench", "--connect", "8080"}, 30);
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find("--connect wants HOST:PORT"), std::string::npos) << run.output;
}

// --active: an idle crowd beside the load. The server holds every idle
// connection (each answered once), only the active ones carry the load, and
// fairness is counted over the active ones alone.
TEST(Bench, AnIdleCrowdIsHeldBesideTheActiveConnections) {
    auto run = bench(build_dir() + "/solutions/poll", {"--connections", "60", "--active", "4"});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(json_value(run.results_json, "status"), "ok") << run.results_json;
    EXPECT_EQ(json_number(run.results_json, "served"), 60) << run.results_json;
    EXPECT_EQ(json_number(run.results_json, "active"), 4) << run.results_json;
    EXPECT_GE(json_number(run.results_json, "descriptors"), 60) << run.results_json;
    EXPECT_EQ(json_number(run.results_json, "unserved_in_window"), 0) << run.results_json;
    EXPECT_GT(json_number(run.results_json, "per_connection_min_per_s"), 0) << run.results_json;
    EXPECT_NE(run.output.find("60 connections (4 active, 56 idle)"), std::string::npos)
        << run.output;
}

// The iterative server serves the first idle connection and waits on it for
// ever: the active ones are never served, and the report says so.
TEST(Bench, AnIdleCrowdStallsTheIterativeServer) {
    auto run = bench(build_dir() + "/solutions/blocking", {"--connections", "3", "--active", "1"});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(json_value(run.results_json, "status"), "partial") << run.results_json;
    EXPECT_EQ(json_number(run.results_json, "answered"), 0) << run.results_json;
}

TEST(Bench, ActiveMayNotExceedTheConnections) {
    auto run = bench(build_dir() + "/solutions/poll", {"--connections", "4", "--active", "5"});
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find("N may not exceed --connections"), std::string::npos) << run.output;
}

// --syscalls: strace counts the server's calls over the window. A poll loop
// needs at least a recv() and a send() per request, and a poll() now and then.
TEST(Bench, CountsTheServersSystemCallsPerRequest) {
    std::string server = std::filesystem::absolute(build_dir() + "/solutions/poll").string();
    auto run = bench(server, {"--connections", "10", "--syscalls"});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    double calls = json_number(run.results_json, "syscalls_per_request");
    EXPECT_GT(calls, 1.5) << run.output;
    EXPECT_LT(calls, 6) << run.output;
    EXPECT_NE(run.output.find(" per request, all the server's threads and processes (strace"),
              std::string::npos)
        << run.output;
    EXPECT_TRUE(iolab_test::processes_matching("iolab-strace-").empty())
        << "strace outlived the run";
    EXPECT_TRUE(iolab_test::processes_matching(server).empty()) << "the server outlived the run";
}

TEST(Bench, SaysWhenTheServerDoesNotStart) {
    auto run = bench(build_dir() + "/labs/blocking", {"--connections", "1"});
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_EQ(json_value(run.results_json, "status"), "did not start") << run.results_json;
    EXPECT_NE(run.output.find("not implemented yet"), std::string::npos) << run.output;
}

TEST(BenchReport, WritesTheTableAndThePlotScript) {
    std::string dir = "/tmp/iolab-bench-report-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    for (const char* connections : {"1", "4"}) {
        auto run = bench(build_dir() + "/bench/epoll_baseline",
                         {"--connections", connections, "--scenario", "echo 64 B", "--model",
                          "epoll-baseline", "--brief", "--csv", dir + "/results.csv"});
        ASSERT_EQ(run.exit_code, 0) << run.output;
    }
    // Not through run_checker(): bench-report writes no JSON.
    checker::ServerProcess report(
        {build_dir() + "/checker", "bench-report", "--csv", dir + "/results.csv", "--out", dir},
        {});
    ASSERT_TRUE(report.wait_for_exit(checker::Deadline(std::chrono::seconds(20))));
    EXPECT_EQ(*report.exit_status(), 0) << report.output_tail();
    std::ifstream markdown(dir + "/report.md"), plots(dir + "/plots.gp");
    std::string md((std::istreambuf_iterator<char>(markdown)), {}),
        gp((std::istreambuf_iterator<char>(plots)), {});
    EXPECT_NE(md.find("| echo 64 B, 4 connections |"), std::string::npos) << md;
    EXPECT_NE(md.find("### echo 64 B, 1 connection"), std::string::npos) << md;
    std::ifstream slide(dir + "/throughput.md");
    std::string slide_md((std::istreambuf_iterator<char>(slide)), {});
    EXPECT_NE(slide_md.find("| echo 64 B, 4 connections |"), std::string::npos) << slide_md;
    EXPECT_EQ(slide_md.find("###"), std::string::npos) << "the slide's table only:\n" << slide_md;
    EXPECT_NE(gp.find("set output 'throughput-echo-64-B.svg'"), std::string::npos) << gp;
    // An SVG without width and height has no intrinsic size: an <img> of it shows nothing.
    EXPECT_NE(gp.find("set terminal svg size 960,600 fixed"), std::string::npos) << gp;
    EXPECT_NE(gp.find("set output 'memory-echo-64-B.png'"), std::string::npos) << gp;
    EXPECT_NE(gp.find("set output 'cpu-echo-64-B.svg'"), std::string::npos) << gp;
    EXPECT_TRUE(std::filesystem::exists(dir + "/plot-data/cpu-echo-64-B-epoll-baseline.dat"));
    EXPECT_TRUE(
        std::filesystem::exists(dir + "/plot-data/throughput-echo-64-B-epoll-baseline.dat"));
    std::filesystem::remove_all(dir);
}

}  // namespace
