// The aio lab's figures, as the checker measures them: how many idle clients
// a server keeps waiting for input before a new one goes unanswered. With
// POSIX AIO on glibc that is the size of the pool, because every pending
// aio_read() holds a pool thread blocked in read(). labs/aio/README.md quotes
// these figures.
#include "run_checker.hpp"

#include <gtest/gtest.h>

namespace {

using iolab_test::build_dir;
using iolab_test::run_checker;

iolab_test::CheckerRun capacity(const std::string& lab, std::vector<std::string> server) {
    std::vector<std::string> arguments{"grade", "--lab", lab, "--only", "idle_client_capacity",
                                       "--"};
    arguments.insert(arguments.end(), server.begin(), server.end());
    return run_checker(arguments);
}

TEST(IdleClientCapacity, OfTheAioSolutionIsItsDefaultPool) {
    auto run = capacity("aio", {build_dir() + "/solutions/aio"});
    EXPECT_EQ(run.exit_code, 0) << run.output;  // reported, not graded
    EXPECT_NE(run.output.find("as expected of this model: with 64 clients idle, client 65"),
              std::string::npos)
        << run.output;
}

TEST(IdleClientCapacity, FollowsWorkers) {
    auto run = capacity("aio", {build_dir() + "/solutions/aio", "--workers", "100"});
    EXPECT_NE(run.output.find("with 100 clients idle, client 101"), std::string::npos)
        << run.output;
}

TEST(IdleClientCapacity, OfGlibcsDefaultPoolIsTwenty) {
    auto run = capacity("aio", {build_dir() + "/fixtures/aio_default_pool"});
    EXPECT_NE(run.output.find("with 20 clients idle, client 21"), std::string::npos) << run.output;
}

TEST(IdleClientCapacity, OfAThreadPerClientReachesTheTestsMost) {
    auto run = capacity("aio", {build_dir() + "/fixtures/threads_not_aio"});
    EXPECT_NE(
        run.output.find("the probe passed (a new client was still answered with 250 clients idle"),
        std::string::npos)
        << run.output;
}

TEST(IdleClientCapacity, OfTheIterativeServerIsOne) {
    auto run = capacity("aio", {build_dir() + "/solutions/blocking"});
    EXPECT_NE(run.output.find("with 1 client idle, client 2"), std::string::npos) << run.output;
}

}  // namespace
