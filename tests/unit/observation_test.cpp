// What the checker reports it observed is never nonsense: counts are never
// negative, and the grader's two time budgets run out only while charged.
#include "clients.hpp"
#include "deadline.hpp"

#include <gtest/gtest.h>

namespace {

using namespace checker;

TEST(DescriptorsGained, CountsTheNewOnes) { EXPECT_EQ(descriptors_gained(6, 106), 100); }

TEST(DescriptorsGained, IsNeverNegativeWhenTheServerClosedSomeOfItsOwn) {
    EXPECT_EQ(descriptors_gained(6, 3), 0);
}

TEST(DescriptorsGained, IsUnknownOnceTheServerEnded) {
    // /proc/PID/fd is gone: open_descriptors() is -1 (6 before: once "held -7").
    EXPECT_EQ(descriptors_gained(6, -1), std::nullopt);
    EXPECT_EQ(descriptors_gained(-1, 10), std::nullopt);
}

TEST(TimeBudget, RunsOutOnlyWhileCharged) {
    TimeBudget budget(10s);
    budget.charge(4s);
    EXPECT_EQ(budget.left(), 6s);
    EXPECT_EQ(budget.spent(), 4s);
    EXPECT_LE(budget.deadline(1s).remaining(), 1s);
    EXPECT_GT(budget.deadline(100s).remaining(), 5s);
    EXPECT_LE(budget.deadline(100s).remaining(), 6s);
    budget.charge(100s);
    EXPECT_EQ(budget.left(), Duration::zero());
    EXPECT_TRUE(budget.deadline(1s).passed());
}

}  // namespace
