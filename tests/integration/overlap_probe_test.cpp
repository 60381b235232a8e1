// The overlap probe (checker test `overlap`) earns points only in the labs
// with a thread or process per client; in the others it is reported. Here it
// runs on a rubric of its own, against servers whose overlap is known: it must
// pass the ones that overlap every request and catch the ones that do not.
#include "grader.hpp"
#include "run_checker.hpp"
#include "test_cases.hpp"

#include <gtest/gtest.h>

namespace {

using namespace checker;

TestOutcome probe(const TestCase& test, const std::string& server) {
    Lab lab{"probe", "one test, run directly", {{test, 10, 3s}}};
    GradeReport report =
        grade(lab, GradeTarget{{iolab_test::build_dir() + "/" + server}, std::nullopt}, {});
    EXPECT_EQ(report.outcomes.size(), 1u);
    return report.outcomes.empty() ? TestOutcome{} : report.outcomes.front();
}

TEST(OverlapProbe, PassesAThreadPerClient) {
    TestOutcome outcome = probe(tests::overlap, "fixtures/poll_thread_per_client");
    EXPECT_EQ(outcome.status, Status::Passed) << outcome.message;
}

TEST(OverlapProbe, CatchesRequestsSerializedByALock) {
    TestOutcome outcome = probe(tests::overlap, "fixtures/serialized_requests");
    EXPECT_EQ(outcome.status, Status::Failed);
    EXPECT_NE(outcome.message.find("1.0 in service at once"), std::string::npos) << outcome.message;
    EXPECT_NE(outcome.message.find("a lock held around the work"), std::string::npos)
        << outcome.message;
}

TEST(OverlapProbe, APoolOverlapsAsManyAsItsWorkers) {
    TestOutcome all_clients = probe(tests::overlap, "solutions/epoll");
    EXPECT_EQ(all_clients.status, Status::Failed) << all_clients.observed;
    TestOutcome workers = probe(tests::overlap_pool, "solutions/epoll");
    EXPECT_EQ(workers.status, Status::Passed) << workers.message;
}

}  // namespace
