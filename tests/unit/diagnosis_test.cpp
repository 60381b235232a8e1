#include "diagnosis.hpp"
#include "report.hpp"
#include "test_cases.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace {

using checker::likely_cause;

TEST(LikelyCause, GlibcsFdSetAbortNamesFdSetPastFdSetsize) {
    auto cause = likely_cause("the server was killed by SIGABRT (Aborted)",
                              "select: listening on 127.0.0.1:1\n"
                              "*** bit out of range 0 - FD_SETSIZE on fd_set ***: terminated\n");
    ASSERT_TRUE(cause);
    EXPECT_EQ(cause->rfind("Likely cause: FD_SET() or FD_ISSET() was given a descriptor numbered "
                           "FD_SETSIZE (1024) or more, past the end",
                           0),
              0u)
        << *cause;
}

TEST(LikelyCause, UndefinedBehaviorSanitizersFdSetReportNamesItToo) {
    auto cause = likely_cause("then the server exited with status 1",
                              "server.cpp:32:17: runtime error: index 16 out of bounds for type "
                              "'long int [16]'\n");
    ASSERT_TRUE(cause);
    EXPECT_NE(cause->find("FD_SETSIZE (1024)"), std::string::npos) << *cause;
}

TEST(LikelyCause, ADoubleFreeNamesTwoThreadsOnOneConnection) {
    auto cause = likely_cause("the server was killed by SIGABRT (Aborted)",
                              "free(): double free detected in tcache 2\n");
    ASSERT_TRUE(cause);
    EXPECT_NE(cause->find("EPOLLONESHOT"), std::string::npos) << *cause;
}

// In a build with AddressSanitizer, its report names the error first.
TEST(LikelyCause, AddressSanitizersReportsNameTwoThreadsOnOneConnection) {
    for (const char* headline :
         {"==4242==ERROR: AddressSanitizer: attempting double-free on 0x602000000010 in thread T3:",
          "==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020000000f0"}) {
        auto cause = likely_cause("the server exited with status 1 during this test",
                                  std::string(headline) + "\n...\n  | ==4242==ABORTING\n");
        ASSERT_TRUE(cause) << headline;
        EXPECT_NE(cause->find("two threads served one connection at once"), std::string::npos)
            << *cause;
    }
}

TEST(LikelyCause, DeathBySigpipeNamesTheSignalAndBothRemedies) {
    auto cause = likely_cause("then the server was killed by SIGPIPE (Broken pipe)", "");
    ASSERT_TRUE(cause);
    EXPECT_NE(cause->find("SIG_IGN"), std::string::npos) << *cause;
    EXPECT_NE(cause->find("MSG_NOSIGNAL"), std::string::npos) << *cause;
}

TEST(LikelyCause, APortBoundTwiceNamesSoReuseportBeforeBind) {
    auto cause = likely_cause("the server exited with status 1 before it accepted a connection",
                              "reactors: bind 127.0.0.1:4242: Address already in use\n");
    ASSERT_TRUE(cause);
    EXPECT_NE(cause->find("SO_REUSEPORT, set on each before bind()"), std::string::npos) << *cause;
}

TEST(LikelyCause, TheShimsLatentSigpipeNoteNamesSigpipe) {
    auto cause = likely_cause("the server survived only by luck",
                              "iolab-shim: latent SIGPIPE: a write to a socket without "
                              "MSG_NOSIGNAL while SIGPIPE has its default action\n");
    ASSERT_TRUE(cause);
    EXPECT_NE(cause->find("raised SIGPIPE"), std::string::npos) << *cause;
}

TEST(LikelyCause, NothingToSayWhenTheSymptomNamesNoCause) {
    EXPECT_FALSE(likely_cause("the reply stopped short: 10 of 20 bytes came back",
                              "poll: listening on 127.0.0.1:1\n"));
    EXPECT_FALSE(likely_cause("the server was killed by SIGSEGV", ""));
}

// ---- the report explains first the failure whose cause is known -------------

using checker::GradeReport;
using checker::Status;
using checker::TestOutcome;

checker::Lab lab_of_three() {
    using namespace checker::tests;
    using namespace std::chrono_literals;
    return {.name = "select",
            .model = "a model",
            .rubric = {{one_line, 10, 3s}, {large_payload, 10, 8s}, {idle_cpu, 10, 3s}}};
}

GradeReport report_of(const checker::Lab& lab, std::vector<TestOutcome> outcomes) {
    GradeReport report;
    report.lab = &lab;
    report.target = "a server";
    for (std::size_t i = 0; i < outcomes.size(); ++i) outcomes[i].entry = &lab.rubric[i];
    report.outcomes = std::move(outcomes);
    return report;
}

TestOutcome failed(const std::string& message, const std::string& cause = "") {
    TestOutcome outcome;
    outcome.status = Status::Failed;
    outcome.cause = cause;
    outcome.message = cause.empty() ? message : cause + "\n" + message;
    return outcome;
}

TestOutcome passed() {
    TestOutcome outcome;
    outcome.status = Status::Passed;
    outcome.score = 10;
    return outcome;
}

TEST(ReportOrder, TheFailureWithAKnownCauseComesFirstAndTheOthersMayFollow) {
    checker::Lab lab = lab_of_three();
    GradeReport report = report_of(
        lab,
        {passed(), failed("the reply stopped short"),
         failed("it busy-waits", checker::cause_line(checker::causes::write_interest_always_on))});
    auto order = checker::explained_in_order(report);
    ASSERT_EQ(order.size(), 2u);
    EXPECT_EQ(std::string(order[0]->entry->test.name), "idle_cpu");
    EXPECT_EQ(std::string(order[1]->entry->test.name), "large_payload");
    EXPECT_EQ(checker::may_follow_line(report),
              "The other failure may follow from this one (idle_cpu): fix it first, then grade "
              "again.");

    std::ostringstream printed;
    checker::print_report(printed, report);
    std::string text = printed.str();
    std::size_t idle = text.find("FAIL idle_cpu"), payload = text.find("FAIL large_payload");
    ASSERT_NE(idle, std::string::npos) << text;
    EXPECT_LT(idle, payload) << text;
    EXPECT_LT(text.find("Likely cause: write interest left on"), payload) << text;
    EXPECT_LT(text.find("may follow from this one"), payload) << text;
    // The table keeps the rubric's order.
    EXPECT_LT(text.find("  FAIL     0/10    large_payload"),
              text.find("  FAIL     0/10    idle_cpu"))
        << text;
}

TEST(ReportOrder, WithoutAKnownCauseTheRubricsOrderStandsAndNothingIsSaidToFollow) {
    checker::Lab lab = lab_of_three();
    GradeReport report =
        report_of(lab, {passed(), failed("the reply stopped short"), failed("it busy-waits")});
    auto order = checker::explained_in_order(report);
    ASSERT_EQ(order.size(), 2u);
    EXPECT_EQ(std::string(order[0]->entry->test.name), "large_payload");
    EXPECT_EQ(checker::may_follow_line(report), "");
}

TEST(ReportOrder, ALoneFailureWithACauseHasNoOthersToFollow) {
    checker::Lab lab = lab_of_three();
    GradeReport report = report_of(
        lab, {passed(), passed(), failed("it busy-waits", checker::cause_line("a cause"))});
    EXPECT_EQ(checker::may_follow_line(report), "");
}

TEST(ReportOrder, ResultsJsonLeadsWithTheCauseAndKeepsTheTestsInRubricOrder) {
    checker::Lab lab = lab_of_three();
    GradeReport report = report_of(
        lab,
        {passed(), failed("the reply stopped short"),
         failed("it busy-waits", checker::cause_line(checker::causes::write_interest_always_on))});
    char path[] = "/tmp/iolab-results-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    checker::write_results_json(path, &report, "");
    std::ifstream in(path);
    std::string json((std::istreambuf_iterator<char>(in)), {});
    ::unlink(path);
    std::size_t tests = json.find("\"tests\": ");
    std::size_t lead = json.find("First fix idle_cpu. Likely cause: write interest left on");
    EXPECT_LT(lead, tests) << json;
    EXPECT_LT(json.find("\"name\": \"large_payload\""), json.find("\"name\": \"idle_cpu\""))
        << json;
    EXPECT_NE(json.find("\"max_score\": 30"), std::string::npos) << json;
}

}  // namespace
