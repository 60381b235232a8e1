// robustness: what a client does to one connection must not hurt the others,
// and the server stops cleanly when asked.
#include "diagnosis.hpp"
#include "test_cases.hpp"
#include "text.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

namespace checker::tests {

namespace {

// The checker's shim (checker/short_io_shim.c), built next to the checker.
std::string checker_shim() {
    std::error_code no_throw;
    return (std::filesystem::read_symlink("/proc/self/exe", no_throw).parent_path() /
            "short_io_shim.so")
        .string();
}

// What the shim writes on the server's stderr at a write SIGPIPE would kill it for.
constexpr const char* kLatentSigpipeNote = "iolab-shim: latent SIGPIPE";

std::vector<std::string> shim_environment() {
    // AddressSanitizer insists on being the first library loaded, unless told not to check.
    const char* asan_options = std::getenv("ASAN_OPTIONS");
    std::string options = asan_options && *asan_options ? std::string(asan_options) + ":" : "";
    return {"LD_PRELOAD=" + checker_shim(), "ASAN_OPTIONS=" + options + "verify_asan_link_order=0"};
}

std::vector<std::string> short_io_environment() {
    std::vector<std::string> environment = shim_environment();
    environment.push_back("IOLAB_SHORT_IO=1");
    return environment;
}

void expect_shim_loaded(TestContext& context, const char* purpose) {
    if (!context.process->has_mapped(checker_shim()))
        throw TestFailure(
            str("the checker's shim ", checker_shim(),
                " is not loaded in the server, so this test cannot ", purpose,
                ". Was the checker built with make (which builds the shim)? A statically ",
                "linked server ignores LD_PRELOAD"));
}

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
                 "After " + after +
                     ", the server must close that connection only and go on serving the others");
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
    std::this_thread::sleep_for(100ms);  // let the server run into the reset
    if (context.process && !context.process->running())
        throw TestFailure(
            "a client sent lines without reading the replies, then reset the connection; the server " +
            context.process->exit_description());
    expect_still_serving(context, "a client reset its connection in the middle of a stream");
    // It survived: the first write after a reset fails with ECONNRESET. The
    // shim saw whether a later one would have raised SIGPIPE.
    if (context.process && context.process->output().find(kLatentSigpipeNote) != std::string::npos)
        throw TestFailure(
            "the server survived this reset, but only by luck: it wrote to a socket with send() or "
            "write() without MSG_NOSIGNAL while SIGPIPE had its default action (the checker's shim saw "
            "it). The first write after a reset fails with ECONNRESET; the next raises SIGPIPE, which "
            "kills the whole server. Ignore SIGPIPE at start-up (sigaction with SIG_IGN) or pass "
            "MSG_NOSIGNAL to every send()");
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
        throw TestFailure(
            "sent SIGTERM while a client was connected and idle; the server was still running 1 s "
            "later. A handler installed without SA_RESTART makes the blocked call (accept, recv, "
            "poll...) return EINTR so the loop can see the shutdown flag");
    int status = *context.process->exit_status();
    context.observed =
        str("exited ", static_cast<int>(seconds(Clock::now() - sent) * 1000), " ms after SIGTERM");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw TestFailure(
            "sent SIGTERM; the server " + context.process->exit_description() +
            ", where exit status 0 was expected: catch SIGTERM, stop accepting, close, return from "
            "main with 0");
    // The server's process is gone; if the client's connection is not, another
    // process still holds it: a child the server left behind.
    ReadResult after = idle.read_until_eof(Deadline(500ms));
    if (after.end == ReadResult::Timeout)
        throw TestFailure(
            "sent SIGTERM while a client was connected; the server exited, but the client's connection "
            "stayed open (" +
            after.how() +
            "): a process the server started still holds it. On "
            "SIGTERM the server must stop its child processes too (kill each with SIGTERM) before it "
            "exits");
}

// Short reads and writes, as the kernel makes them: on a blocking socket the
// shim cuts reads to 3 bytes and halves writes; on a non-blocking one it only
// gives the server's sockets tiny buffers, and this client reads slowly at
// first, so that the kernel itself returns short reads and takes short writes
// with readiness to match (an edge-triggered server that follows epoll(7) is
// served right).
void test_short_io(TestContext& context) {
    expect_shim_loaded(context, "force short reads and writes on it");
    Connection client = Connection::open(context.server, context.deadline, 4096);
    std::string lines;
    for (int i = 0; i < 300; ++i) {
        std::string line = str("short i/o ", i, " ");
        line.resize(line.size() + static_cast<std::size_t>(i * 37 % 200),
                    static_cast<char>('A' + i % 26));
        lines += line + (i % 50 == 7 ? std::string("\0\r\xff", 3) : "") + "\n";
    }
    const std::string partial = "and a last line without newline";
    // Replies pile up for 200 ms before the client reads: the server's writes
    // come up short, and it must keep the rest until there is room.
    ReadResult reply = client.exchange(lines + partial, lines.size(), context.deadline, 200ms);
    if (reply.end == ReadResult::Complete) {
        client.shutdown_write();
        ReadResult rest = client.read_until_eof(context.deadline);
        reply.data += rest.data;
        reply.end = rest.end;
    }
    std::string sent = lines + partial;
    std::string difference = describe_difference(sent, reply.data);
    if (difference.empty() && reply.end == ReadResult::Eof) {
        context.observed = str(sent.size(), " bytes echoed through short reads and writes");
        return;
    }
    throw TestFailure(str(
        "with reads and writes on the server's sockets coming up short (3-byte reads and halved ",
        "writes on a blocking socket; tiny socket buffers and a slow reader on a non-blocking one, ",
        "and on an io_uring, whose operations do not pass through the C library), ",
        "sent 300 lines (", sent.size(), " bytes) and a partial one, then half-closed; ",
        difference.empty() ? "the replies were right but " + reply.how()
                           : difference + "; " + reply.how(),
        ". The kernel may shorten any read or write: keep a partial line until its '\\n' comes, ",
        "and after a short write send the rest, in order, before anything else"));
}

constexpr std::size_t kPushLimit = 256 << 20;
constexpr long kMemoryBoundKib = 64 * 1024;

void test_bounded_memory(TestContext& context) {
    Connection pusher = Connection::open(context.server, context.deadline, 4096);
    std::string block;
    for (int i = 0; block.size() < (1 << 20); ++i) {
        std::string line = str("push ", i, " ");
        line.resize(127, 'p');
        block += line + '\n';
    }
    long start = context.process->resident_kib();
    long peak = start;
    std::size_t pushed = 0;
    std::size_t next_sample = 0;
    Deadline pushing = context.deadline.sooner(3s);
    Clock::time_point last_progress = Clock::now();
    // Push until the server stops taking bytes (its buffers full, as they
    // should be), 256 MiB are sent, or its memory passes the bound.
    while (pushed < kPushLimit && !pushing.passed() && Clock::now() - last_progress < 300ms) {
        std::size_t sent = pusher.send_some(std::string_view(block).substr(pushed % block.size()));
        pushed += sent;
        if (sent > 0) last_progress = Clock::now();
        else {
            pollfd p{pusher.fd(), POLLOUT, 0};
            ::poll(&p, 1, 20);
        }
        if (pushed >= next_sample || sent == 0) {
            peak = std::max(peak, context.process->resident_kib());
            next_sample = pushed + (1 << 20);
            if (peak - start > kMemoryBoundKib) break;
        }
    }
    peak = std::max(peak, context.process->resident_kib());
    long grown_mib = (peak - start) / 1024;
    bool stalled = Clock::now() - last_progress >= 300ms;
    context.observed = str("pushed ", pushed >> 20, " MiB without reading",
                           (stalled ? " (then the server stopped taking more)" : ""),
                           "; its resident memory grew by ", grown_mib, " MiB (bound ",
                           kMemoryBoundKib / 1024, " MiB)");
    if (!context.process->running())
        throw TestFailure("a client sent lines without reading the replies; the server " +
                          context.process->exit_description());
    if (peak - start > kMemoryBoundKib)
        throw TestFailure(str(
            "a client pushed ", pushed >> 20,
            " MiB of lines and read none of the "
            "replies; the server's resident memory grew by ",
            grown_mib, " MiB, past the bound of ", kMemoryBoundKib / 1024,
            " MiB. A server that "
            "keeps reading while its replies pile up buffers without limit: once a connection's "
            "pending output passes a high-water mark, stop reading from it until it drains"));
}

constexpr int kTightDescriptorLimit = 32;
constexpr int kCrowd = 48;  // more clients than the server has descriptors for

void test_descriptor_exhaustion(TestContext& context) {
    Connection first = Connection::open(context.server, context.deadline);
    std::string line = "first\n";
    first.send(line, context.deadline);
    expect_reply(first, line, line, context.deadline);

    std::vector<Connection> crowd(kCrowd);
    for (Connection& client : crowd) {
        std::string why;
        if (!Connection::try_open(context.server, context.deadline, client, why))
            throw TestFailure(str("with ", kTightDescriptorLimit,
                                  " descriptors allowed, the server "
                                  "stopped taking connections: ",
                                  why));
    }
    std::this_thread::sleep_for(300ms);  // the server accepts what it can and turns the rest away
    int held = context.process->open_descriptors();
    Duration before = context.process->cpu_time();
    std::this_thread::sleep_for(1s);
    Duration busy = context.process->cpu_time() - before;
    auto busy_ms = std::chrono::duration_cast<std::chrono::milliseconds>(busy).count();
    // -1: /proc had no descriptors to count, the server had ended.
    std::string held_text = held >= 0 ? std::to_string(held) : "?";
    context.observed = str(held_text, " of ", kTightDescriptorLimit, " descriptors open with ",
                           kCrowd + 1, " clients; ", busy_ms, " ms of CPU in the next second");
    std::string situation = str(
        kCrowd + 1, " clients connected to a server allowed ", kTightDescriptorLimit,
        " descriptors (", (held >= 0 ? "it held " + held_text : std::string("it had ended")), ")");
    if (!context.process->running())
        throw TestFailure(
            situation + "; the server " + context.process->exit_description() +
            ". Running out of descriptors (accept fails with EMFILE) must not end the server");
    if (busy > 250ms)
        throw TestFailure(str(
            situation, "; in the next second it used ", busy_ms,
            " ms of CPU: it "
            "spins. When accept() fails with EMFILE the client stays in the backlog and the listener "
            "stays readable, so the loop wakes again at once, forever. Free a spare descriptor to "
            "accept and close that client (Listener::accept() does), or stop watching the listener "
            "until a connection closes"));
    crowd.clear();
    first.close();
    // The server closes the departed clients' sockets as it notices them
    // (a thread-per-client server, in each client's thread): give it a moment,
    // trying again while it is still at its limit.
    std::string again = "back to normal?\n";
    Deadline recovery = context.deadline.sooner(2s);
    for (;;) {
        try {
            Connection later = Connection::open(context.server, context.deadline);
            later.send(again, context.deadline);
            expect_reply(later, again, again, recovery,
                         "After " + situation +
                             " and all of them left, the server must serve new clients again");
            return;
        } catch (const TestFailure&) {
            if (recovery.passed()) throw;
            std::this_thread::sleep_for(50ms);
        }
    }
}

void test_idle_cpu(TestContext& context) {
    Connection idle = Connection::open(context.server, context.deadline);
    std::string line = "then silence\n";
    idle.send(line, context.deadline);
    expect_reply(idle, line, line, context.deadline);
    std::this_thread::sleep_for(100ms);
    Duration before = context.process->cpu_time();
    std::this_thread::sleep_for(1s);
    Duration busy = context.process->cpu_time() - before;
    auto busy_ms = std::chrono::duration_cast<std::chrono::milliseconds>(busy).count();
    context.observed = str(busy_ms, " ms of CPU in an idle second");
    if (busy <= 100ms) return;
    // Whom the spinning is for: the connection (the loop asks for an event
    // its socket always has), or nobody (the wait does not block).
    idle.close();
    std::this_thread::sleep_for(200ms);
    before = context.process->cpu_time();
    std::this_thread::sleep_for(500ms);
    auto alone_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(context.process->cpu_time() - before)
            .count();
    std::string situation = str("with one client connected and silent, the server used ", busy_ms,
                                " ms of CPU in one second: it busy-waits");
    if (!context.process->running())
        throw TestFailure(situation + "; then the server " + context.process->exit_description());
    if (alone_ms < 50)
        throw TestFailure(
            str(situation, "; with the client gone, ", alone_ms,
                " ms in the next half second. So the loop wakes over and over for that idle "
                "connection: ask the kernel only for the events the connection waits for "
                "(Connection::interest()); a loop with nothing to do must sleep in the kernel"),
            std::string(causes::write_interest_always_on));
    throw TestFailure(str(situation, ", and ", alone_ms,
                          " ms in half a second with no client at all. Block in the wait (poll() "
                          "with timeout -1, select() with a null timeout, epoll_wait() with -1) "
                          "instead of polling with a zero timeout: a loop with nothing to do must "
                          "sleep in the kernel"),
                      std::string(causes::zero_timeout));
}

}  // namespace

const TestCase client_reset{
    .name = "client_reset",
    .category = Category::Robustness,
    .checks =
        "a client resets mid-stream; the server survives (no SIGPIPE, none latent) and "
        "serves the next",
    .run = test_client_reset,
    .environment = shim_environment};
const TestCase sigterm_exit{.name = "sigterm_exit",
                            .category = Category::Robustness,
                            .checks = "SIGTERM with a client connected: exit status 0 within 1 s",
                            .run = test_sigterm_exit,
                            .needs_process = true};
const TestCase short_io{
    .name = "short_io",
    .category = Category::Robustness,
    .checks =
        "reads and writes on the server's sockets come up short (LD_PRELOAD): replies "
        "unchanged",
    .run = test_short_io,
    .needs_process = true,
    .environment = short_io_environment};
const TestCase bounded_memory{
    .name = "bounded_memory",
    .category = Category::Robustness,
    .checks =
        "a client pushes up to 256 MiB without reading; the server's memory stays "
        "within 64 MiB",
    .run = test_bounded_memory,
    .needs_process = true};
const TestCase descriptor_exhaustion{
    .name = "descriptor_exhaustion",
    .category = Category::Robustness,
    .checks =
        "49 clients, 32 descriptors: no crash, no spinning at EMFILE, service "
        "resumes",
    .run = test_descriptor_exhaustion,
    .needs_process = true,
    .limits = ServerLimits{.open_files = kTightDescriptorLimit}};
const TestCase idle_cpu{.name = "idle_cpu",
                        .category = Category::Robustness,
                        .checks = "an idle server uses (almost) no CPU: no busy-waiting",
                        .run = test_idle_cpu,
                        .needs_process = true};

}  // namespace checker::tests
