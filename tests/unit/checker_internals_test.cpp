// The checker's own machinery: byte display, reply comparison, and the
// containment of server processes.
#include "connection.hpp"
#include "probes.hpp"
#include "server_process.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace {

using namespace checker;

TEST(Show, EscapesWhatIsNotPrintable) {
    EXPECT_EQ(show(std::string("a\0b\r\n\xff", 6)), "\"a\\0b\\r\\n\\xff\"");
}

TEST(Show, ShortensLongStrings) {
    std::string shown = show(std::string(1000, 'x'), 20);
    EXPECT_NE(shown.find("(1000 bytes)"), std::string::npos);
    EXPECT_LT(shown.size(), 60u);
}

TEST(DescribeDifference, EqualIsEmpty) { EXPECT_EQ(describe_difference("abc", "abc"), ""); }

TEST(DescribeDifference, SaysWhereTheReplyStoppedShort) {
    std::string text = describe_difference("hello\n", "hel");
    EXPECT_NE(text.find("3 of 6 bytes"), std::string::npos) << text;
}

TEST(DescribeDifference, SaysWhereTheReplyDiffers) {
    std::string text = describe_difference("line 1\nline 2\n", "line 1\nline 3\n");
    EXPECT_NE(text.find("byte 12"), std::string::npos) << text;
}

TEST(ServerProcess, ReportsACommandThatCannotRun) {
    try {
        ServerProcess process({"/nonexistent/server"}, {});
        FAIL();
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("No such file"), std::string::npos)
            << error.what();
    }
}

TEST(ServerProcess, DescribesACrash) {
    ServerProcess process({"sh", "-c", "kill -SEGV $$"}, {});
    ASSERT_TRUE(process.wait_for_exit(Deadline(5s)));
    EXPECT_NE(process.exit_description().find("SIGSEGV"), std::string::npos)
        << process.exit_description();
}

TEST(ServerProcess, KeepsTheServersOutput) {
    ServerProcess process({"sh", "-c", "echo to stdout; echo to stderr >&2"}, {});
    ASSERT_TRUE(process.wait_for_exit(Deadline(5s)));
    EXPECT_EQ(process.output_tail(), "to stdout\nto stderr\n");
}

// No observed figure is negative: the CPU a server used between two readings,
// the second after it ended, is what it used before it ended, not minus that.
TEST(ServerProcess, CpuTimeNeverGoesBackOnceTheServerHasEnded) {
    ServerProcess process({"sh", "-c", "while :; do :; done"}, {});
    Deadline busy(5s);
    Duration before = process.cpu_time();
    while (before < 50ms && !busy.passed()) before = process.cpu_time();
    ASSERT_GE(before, 50ms) << "the busy loop used no CPU";
    process.send_signal(SIGKILL);
    ASSERT_TRUE(process.wait_for_exit(Deadline(5s)));
    EXPECT_GE(process.cpu_time() - before, Duration::zero());
}

TEST(ObservedCounts, ACountProcCouldNotTellIsAQuestionMarkNotMinusOne) {
    EXPECT_EQ(checker::tests::count_text(-1), "?");
    EXPECT_EQ(checker::tests::count_text(0), "0");
    EXPECT_EQ(checker::tests::count_text(12), "12");
}

TEST(ServerProcess, AppliesTheDescriptorLimit) {
    ServerProcess process({"sh", "-c", "ulimit -n"}, ServerLimits{.open_files = 77});
    ASSERT_TRUE(process.wait_for_exit(Deadline(5s)));
    EXPECT_EQ(process.output_tail(), "77\n");
}

// Processes whose command line is exactly `words` (NUL-separated in /proc).
std::size_t count_processes(const std::string& words) {
    std::size_t count = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        std::ifstream cmdline(entry.path() / "cmdline");
        std::string text((std::istreambuf_iterator<char>(cmdline)), {});
        if (text == words) ++count;
    }
    return count;
}

// Children that start their own session and ignore SIGTERM, grandchildren
// whose parents exit (reparented to the checker, a subreaper): none of them
// survives kill_everything(), and none is left a zombie.
TEST(ServerProcess, KillsEveryDescendantWhateverItDid) {
    become_subreaper();
    const std::string marker(
        "sleep\0"
        "317\0",
        10);
    {
        ServerProcess process(
            {"sh", "-c",
             "trap '' TERM; setsid sleep 317 & (sleep 317 &) ; sh -c 'sleep 317 & exit' ; "
             "exec sleep 317"},
            {});
        Deadline deadline(5s);
        while (count_processes(marker) < 4 && !deadline.passed()) std::this_thread::sleep_for(10ms);
        ASSERT_EQ(count_processes(marker), 4u);
        process.kill_everything();
        EXPECT_EQ(count_processes(marker), 0u);
    }
    EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1) << "a child was left unreaped";
}

TEST(ServerProcess, ContainsAForkBomb) {
    become_subreaper();
    const std::string marker(
        "sleep\0"
        "318\0",
        10);
    {
        ServerProcess process({"sh", "-c", "while true; do sleep 318 & done"},
                              ServerLimits{.processes = 64});
        std::this_thread::sleep_for(300ms);
        EXPECT_GT(count_processes(marker), 10u);
        process.kill_everything();
    }
    EXPECT_EQ(count_processes(marker), 0u);
}

TEST(PickFreePort, GivesAPortNothingListensOn) {
    int port = pick_free_port();
    EXPECT_GT(port, 0);
    Connection connection;
    std::string why;
    EXPECT_FALSE(Connection::try_open(Endpoint{"127.0.0.1", port}, Deadline(1s), connection, why));
    EXPECT_NE(why.find("refused"), std::string::npos) << why;
}

}  // namespace
