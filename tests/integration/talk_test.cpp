// checker talk, the kit's client for trying a server by hand: replies with
// their times, bounded waits for replies that do not come, the server's close,
// and a refused connection, each as a student would see them.
#include "commands.hpp"
#include "run_checker.hpp"
#include "server_process.hpp"

#include <gtest/gtest.h>

namespace {

using namespace iolab_test;

class Talk : public testing::Test {
protected:
    // Starts `server` (a path under the build directory) with `arguments` on a free port.
    void start(const std::string& server, std::vector<std::string> arguments = {}) {
        port_ = checker::pick_free_port();
        std::vector<std::string> command{build_dir() + "/" + server, "--port",
                                         std::to_string(port_)};
        command.insert(command.end(), arguments.begin(), arguments.end());
        server_ = std::make_unique<checker::ServerProcess>(command, checker::ServerLimits{});
        ASSERT_FALSE(server_->wait_until_listening(checker::Endpoint{"127.0.0.1", port_},
                                                   checker::Deadline(std::chrono::seconds(5))));
    }
    // `input` is a shell command whose output is talk's standard input.
    CommandRun talk(const std::string& input, const std::string& wait = "3") {
        return run_command(
            {"sh", "-c", "(" + input + ") | exec \"$0\" talk --port \"$1\" --wait \"$2\"",
             build_dir() + "/checker", std::to_string(port_), wait},
            30);
    }

    int port_ = 0;
    std::unique_ptr<checker::ServerProcess> server_;
};

TEST_F(Talk, ShowsEachReplyWithItsTimeThenTheServersClose) {
    start("solutions/threads");
    CommandRun run = talk("printf 'hello\\nworld\\nno newline'");
    EXPECT_EQ(run.exit_code, 0) << run.output;
    std::size_t hello = run.output.find("\"hello\"   (");
    std::size_t world = run.output.find("\"world\"   (");
    // The last partial line is sent as it is, and answered at the half-close.
    std::size_t partial = run.output.find("\"no newline\"   (");
    std::size_t closed = run.output.find("the server closed the connection\n");
    ASSERT_NE(hello, std::string::npos) << run.output;
    EXPECT_NE(run.output.find(" ms)\n", hello), std::string::npos) << run.output;
    EXPECT_LT(hello, world) << run.output;
    EXPECT_LT(world, partial) << run.output;
    EXPECT_LT(partial, closed) << run.output;
    EXPECT_NE(closed, std::string::npos) << run.output;
    EXPECT_EQ(run.output.find("no reply"), std::string::npos) << run.output;
}

// A reply later than --wait is reported as missing, then shown, marked late.
TEST_F(Talk, MarksALateReply) {
    start("solutions/threads", {"--delay-us", "1000000"});
    CommandRun run = talk("printf 'slow\\n'; sleep 2", "0.3");
    EXPECT_EQ(run.exit_code, 0) << run.output;
    std::size_t missing = run.output.find("no reply to \"slow\" within 0.3 s; going on");
    std::size_t late = run.output.find("\"slow\"   (1.");
    ASSERT_NE(missing, std::string::npos) << run.output;
    ASSERT_NE(late, std::string::npos) << run.output;
    EXPECT_LT(missing, late) << run.output;
    EXPECT_NE(run.output.find(" s, late)\n", late), std::string::npos) << run.output;
}

// A server that never answers: each line is reported within --wait, talk goes
// on reading input, and ends when the server closes (here, at the half-close).
TEST_F(Talk, GoesOnWhenNoReplyComes) {
    start("fixtures/silent");
    CommandRun run = talk("printf 'hello\\n'; sleep 1; printf 'again\\n'; sleep 1", "0.3");
    EXPECT_EQ(run.exit_code, 0) << run.output;
    std::size_t hello = run.output.find("no reply to \"hello\" within 0.3 s");
    std::size_t again = run.output.find("no reply to \"again\" within 0.3 s");
    ASSERT_NE(hello, std::string::npos) << run.output;
    ASSERT_NE(again, std::string::npos) << run.output;
    EXPECT_LT(hello, again) << run.output;
    EXPECT_NE(run.output.find("the server closed the connection (2 line(s) sent got no reply)"),
              std::string::npos)
        << run.output;
    EXPECT_LT(run.seconds, 10) << run.output;
}

TEST_F(Talk, RefusedConnectionIsOneLineAndStatus2) {
    port_ = checker::pick_free_port();  // nothing listens there
    CommandRun run = talk("printf 'hello\\n'");
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find("checker talk: connect to 127.0.0.1:" + std::to_string(port_) +
                              ": Connection refused"),
              std::string::npos)
        << run.output;
    EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1) << run.output;
}

}  // namespace
