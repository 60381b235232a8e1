// The box's last word on a submission's processes (checker/box.hpp): kill(-1)
// as the submission's user ends every process of that user at once, even one
// that forks a successor and exits as fast as it can, which a killer that
// reads /proc and kills what it saw is always one step behind.
#include "box.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace {

// A user ID of the box's range that no batch of the tests uses.
constexpr uid_t kSweptUid = checker::kFirstBoxUid + 99'999;

int processes_of(uid_t uid) {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        if (std::atoi(entry.path().filename().c_str()) <= 0) continue;
        std::ifstream status(entry.path() / "status");
        for (std::string line; std::getline(status, line);)
            if (line.rfind("Uid:", 0) == 0 && std::stoul(line.substr(4)) == uid) ++count;
    }
    return count;
}

TEST(BoxSweep, KillsEveryProcessOfItsUserEvenOneThatKeepsForking) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (to change user)";
    // As checker batch is: the orphans are ours to reap, not init's.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    pid_t hopper = ::fork();
    ASSERT_GE(hopper, 0);
    if (hopper == 0) {
        if (checker::become_user(kSweptUid) != 0) ::_exit(1);
        auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        for (;;) {  // a successor, then exit: a new pid every few microseconds
            if (::fork() != 0) ::_exit(0);
            if (std::chrono::steady_clock::now() > end) ::_exit(0);
        }
    }
    ::waitpid(hopper, nullptr, 0);  // the first one exits at once; its successors live on
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_GT(processes_of(kSweptUid), 0) << "the hopper did not start";
    checker::kill_every_process_of(kSweptUid);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(processes_of(kSweptUid), 0) << "processes or zombies of the user are left";
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

}  // namespace
