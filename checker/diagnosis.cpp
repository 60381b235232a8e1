#include "diagnosis.hpp"

namespace checker {

namespace causes {
const std::string_view served_once =
    "the connection was served once and never again (a new client's first line was answered, its "
    "second never, while the server sat idle). With EPOLLONESHOT, epoll reports a descriptor once "
    "and then disarms it: the worker that served it must re-arm it (epoll_ctl with EPOLL_CTL_MOD) "
    "before it lets go";
const std::string_view one_read_per_arrival =
    "the connection was served one read's worth at a time, and only when new bytes came (a burst "
    "was answered in part, then nothing while the server sat idle, until one more line brought "
    "more replies of the burst): edge-triggered (EPOLLET), epoll reports a socket when bytes "
    "arrive, not while they wait, so read until recv() says EAGAIN, or what is left in the buffer "
    "waits for the client's next send";
const std::string_view write_interest_always_on =
    "write interest left on: the server spun while a client was connected and idle, and stopped "
    "spinning when it left. A socket with room in its send buffer is always writable, so watching "
    "it for writing when no reply is pending wakes the loop at once, over and over: watch for "
    "writing only while replies are pending";
const std::string_view zero_timeout =
    "the loop's wait does not block: the server spun with no client connected at all. Wait with "
    "no timeout (poll() with -1, select() with a null timeout, epoll_wait() with -1)";
const std::string_view two_threads_on_one_connection =
    "two threads served one connection at once: under a pool, epoll without EPOLLONESHOT reports a "
    "socket again to a second worker while the first is still serving it (register each "
    "connection with EPOLLONESHOT and re-arm it when its worker is done); with a loop per thread, "
    "a connection watched by two loops (give each loop its own epoll set)";
const std::string_view descriptor_per_client =
    "a close() is missing: the server's open descriptors rose by about one with every client. "
    "Close each connection once its client is done: in an event loop when the connection ends, in a "
    "thread before it returns, and with fork() in the parent right after fork() (the child has its "
    "own copy; the child closes the listener)";
const std::string_view children_never_reaped =
    "the server never reaps its children: they stayed zombies (state Z in /proc) after their "
    "clients had gone. Handle SIGCHLD and call waitpid(-1, &status, WNOHANG) until it returns 0";
const std::string_view children_never_exit =
    "a child goes on after its client has gone: the children were still running (not zombies) "
    "once their clients had left. A child serves one client, then calls _exit()";
const std::string_view threads_never_return =
    "a thread goes on after its client has gone: the thread count stayed up once the clients had "
    "left. The thread that serves a client returns from its function when the client is done "
    "(and is detached, or joined)";
}  // namespace causes

namespace {

// A symptom: words in the server's last output, or in how it ended, and what they mean.
struct Symptom {
    std::string_view in_output;   // "" when the output says nothing of it
    std::string_view in_message;  // "" when the failure message says nothing of it
    std::string_view cause;
};

constexpr std::string_view kFdSetPastFdSetsize =
    "FD_SET() or FD_ISSET() was given a descriptor numbered FD_SETSIZE (1024) or more, past the end "
    "of the fd_set, and the server was stopped there: close a client whose descriptor does not fit "
    "before it goes into an fd_set";

constexpr std::string_view kFreedTwice =
    "memory was freed twice: under a pool, two threads served one connection at once (epoll without "
    "EPOLLONESHOT wakes a second worker for a socket the first is still serving), or a connection "
    "was freed while still in use";

constexpr std::string_view kSigpipe =
    "a write to a connection its client had reset raised SIGPIPE, whose default action ends the "
    "process: ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)) or pass MSG_NOSIGNAL to send()";

// clang-format off
constexpr Symptom kSymptoms[] = {
    // _FORTIFY_SOURCE's FD_SET/FD_ISSET check, then abort().
    {"bit out of range 0 - FD_SETSIZE", "", kFdSetPastFdSetsize},
    // UndefinedBehaviorSanitizer's bounds check on the fd_set's 16 words (1024 bits).
    {"out of bounds for type 'long int [16]'", "", kFdSetPastFdSetsize},
    // glibc's malloc, finding its own bookkeeping broken, then abort().
    {"double free", "", kFreedTwice},
    // AddressSanitizer's headline (a build with -fsanitize=address).
    {"AddressSanitizer: attempting double-free", "", kFreedTwice},
    {"AddressSanitizer: heap-use-after-free", "",
     "memory was used after it was freed: under a pool, two threads served one connection at once "
     "(epoll without EPOLLONESHOT wakes a second worker for a socket the first is still serving, "
     "and one frees it while the other still uses it), or a connection was used after it was "
     "freed"},
    {"free(): invalid", "",
     "memory was freed that was not allocated, or freed twice: two threads on one connection, or a "
     "connection freed while still in use"},
    {"corrupted", "",
     "the heap was corrupted: two threads writing one connection's buffers at once, or a write past "
     "the end of a buffer"},
    // bind() refused the port the checker had found free and given with --port.
    {"Address already in use", "",
     "bind() found the port taken though the checker had found it free: the server binds it more "
     "than once (several listening sockets on one port need SO_REUSEPORT, set on each before "
     "bind(): the kernel decides at bind() whether the port may be shared), or binds a port "
     "other than --port"},
    // labs/common/coro_reactor.cpp, as a frame it still holds to resume is destroyed.
    {"destroyed while still registered", "",
     "a coroutine frame was destroyed while still registered with the reactor (waiting for a "
     "descriptor, a timer or the pool), and the loop would have resumed freed memory (a "
     "use-after-free): hand every Task to Reactor::spawn(), which owns the frame, and never destroy "
     "a suspended coroutine yourself"},
    // The checker's shim (client_reset), at a write that SIGPIPE would have ended the server for.
    {"iolab-shim: latent SIGPIPE", "", kSigpipe},
    {"", "killed by SIGPIPE", kSigpipe},

};
// clang-format on

}  // namespace

std::string cause_line(std::string_view cause) {
    return "Likely cause: " + std::string(cause) + ".";
}

std::optional<std::string> likely_cause(std::string_view message, std::string_view server_output) {
    for (const Symptom& symptom : kSymptoms) {
        bool seen = !symptom.in_output.empty()
                        ? server_output.find(symptom.in_output) != std::string_view::npos
                        : message.find(symptom.in_message) != std::string_view::npos;
        if (seen) return cause_line(symptom.cause);
    }
    return std::nullopt;
}

namespace {

// A server that answers at all answers within this on a busy machine...
constexpr Duration kReply = 1s;
// ...and more of a burst waited for this long in vain, this idle, is not merely slow.
constexpr Duration kInVain = 700ms;
constexpr Duration kIdleCpu = 50ms;

// Sends `line` and waits for its echo. False if it did not come back; then
// `ignored` says whether nothing at all came while the server sat idle.
bool echoed(Connection& probe, ServerProcess& process, const std::string& line, Deadline deadline,
            bool& ignored) {
    Duration cpu_before = process.cpu_time();
    probe.send(line, deadline.sooner(kReply));
    ReadResult reply = probe.read_exact(line.size(), deadline.sooner(kReply));
    ignored = reply.data.empty() && process.running() && process.cpu_time() - cpu_before < kIdleCpu;
    return reply.data == line;
}

// A burst larger than one read (16 KiB in the labs, 64 KiB at most in
// practice) in one send: whether it is answered in part while the server
// sits idle, and more of it after one more line.
bool answered_one_read_per_arrival(Connection& probe, ServerProcess& process, Deadline deadline) {
    constexpr std::size_t kBurstLines = 4000, kLineLength = 40;
    std::string burst;
    for (std::size_t i = 0; i < kBurstLines; ++i) {
        std::string line = "burst " + std::to_string(100000 + i) + " ";
        line.resize(kLineLength - 1, 'b');
        burst += line + '\n';
    }
    ReadResult part = probe.exchange(burst, burst.size(), deadline.sooner(kReply));
    std::size_t missing = burst.size() - part.data.size();
    if (missing == 0) return false;
    Duration cpu_before = process.cpu_time();
    ReadResult more = probe.read_exact(missing, deadline.sooner(kInVain));
    if (!more.data.empty() || process.cpu_time() - cpu_before >= kIdleCpu) return false;
    probe.send("nudge\n", deadline.sooner(kReply));
    more = probe.read_exact(missing, deadline.sooner(kInVain));
    return more.data.size() > 2 * kLineLength &&
           burst.compare(part.data.size(), more.data.size(), more.data) == 0;
}

}  // namespace

Stall probe_stall(const Endpoint& server, ServerProcess& process, Deadline deadline) {
    if (deadline.remaining() < 3 * kReply) return Stall::None;  // too little time to tell
    try {
        Connection probe = Connection::open(server, deadline.sooner(kReply));
        bool ignored = false;
        if (!echoed(probe, process, "served once?\n", deadline, ignored))
            return Stall::None;  // not even once: the symptom of something else
        if (!echoed(probe, process, "and again?\n", deadline, ignored))
            return ignored ? Stall::ServedOnce : Stall::None;
        return answered_one_read_per_arrival(probe, process, deadline) ? Stall::OneReadPerArrival
                                                                       : Stall::None;
    } catch (const TestFailure&) {
        return Stall::None;  // refused, reset: not this symptom
    }
}

}  // namespace checker
