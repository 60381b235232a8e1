// robustness: what a client does to one connection must not hurt the others,
// and the server stops cleanly when asked.
#include "test_cases.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <thread>

namespace checker::tests {

namespace {

void expect_still_serving(TestContext& context, const std::string& after) {
    Connection next;
    std::string why;
    if (!Connection::try_open(context.server, context.deadline, next, why))
        throw TestFailure("after " + after + ", a new client could not connect: " + why +
                          (context.process && !context.process->running()
                               ? " — the server " + context.process->exit_description()
                               : std::string()));
    std::string line = "still there?\n";
    next.send(line, context.deadline);
    expect_reply(next, line, line, context.deadline,
                 "After " + after + ", the server must close that connection only and go on serving the others");
}

void test_client_reset(TestContext& context) {
    // The client floods the server without reading its replies, so the server
    // is in the middle of writing when the reset arrives. Its next write to
    // that connection fails with EPIPE, and raises SIGPIPE, whose default
    // action kills the whole process.
    // Flood until the pipe is jammed: the client's receive buffer, the
    // server's send buffer and its receive buffer all full, the server
    // blocked (or parked) in the middle of its replies.
    Connection client = Connection::open(context.server, context.deadline, 4096);
    std::string flood(16 << 20, 'r');
    for (std::size_t i = 99; i < flood.size(); i += 100) flood[i] = '\n';
    Deadline flooding = context.deadline.sooner(500ms);
    std::string_view rest = flood;
    Clock::time_point last_progress = Clock::now();
    while (!rest.empty() && !flooding.passed() && Clock::now() - last_progress < 50ms) {
        std::size_t sent = client.send_some(rest);
        rest.remove_prefix(sent);
        if (sent > 0) last_progress = Clock::now();
        else std::this_thread::sleep_for(1ms);
    }
    client.reset();
    std::this_thread::sleep_for(100ms);   // let the server run into the reset
    if (context.process && !context.process->running())
        throw TestFailure("a client sent lines without reading the replies, then reset the connection; the server " +
                          context.process->exit_description());
    expect_still_serving(context, "a client reset its connection in the middle of a stream");
}

void test_sigterm_exit(TestContext& context) {
    context.server_stop_expected = true;
    Connection idle = Connection::open(context.server, context.deadline);
    std::string line = "before SIGTERM\n";
    idle.send(line, context.deadline);
    expect_reply(idle, line, line, context.deadline);
    Clock::time_point sent = Clock::now();
    context.process->send_signal(SIGTERM);
    if (!context.process->wait_for_exit(Deadline(1s)))
        throw TestFailure("sent SIGTERM while a client was connected and idle; the server was still running 1 s "
                          "later. A handler installed without SA_RESTART makes the blocked call (accept, recv, "
                          "poll...) return EINTR so the loop can see the shutdown flag");
    int status = *context.process->exit_status();
    context.observed = "exited " + std::to_string(static_cast<int>(seconds(Clock::now() - sent) * 1000)) +
                       " ms after SIGTERM";
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw TestFailure("sent SIGTERM; the server " + context.process->exit_description() +
                          ", where exit status 0 was expected: catch SIGTERM, stop accepting, close, return from "
                          "main with 0");
    // The server's process is gone; if the client's connection is not, another
    // process still holds it: a child the server left behind.
    ReadResult after = idle.read_until_eof(Deadline(500ms));
    if (after.end == ReadResult::Timeout)
        throw TestFailure("sent SIGTERM while a client was connected; the server exited, but the client's connection "
                          "stayed open (" + after.how() + "): a process the server started still holds it. On "
                          "SIGTERM the server must stop its child processes too (kill each with SIGTERM) before it "
                          "exits");
}

}  // namespace

const TestCase client_reset{"client_reset", Category::Robustness,
                            "a client resets mid-stream; the server survives (no SIGPIPE) and serves the next",
                            test_client_reset};
const TestCase sigterm_exit{"sigterm_exit", Category::Robustness,
                            "SIGTERM with a client connected: exit status 0 within 1 s", test_sigterm_exit,
                            /*needs_process=*/true};

}  // namespace checker::tests
