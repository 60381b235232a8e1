// Fork-per-client server: every client is served by a child process of its own.
//
// The parent only accepts. For each connection it fork()s; the child serves
// that one client with the same serve_until_eof() as the iterative server, then
// exits. Clients no longer wait for one another, and a child that crashes takes
// down one connection, not the server. The price: a process per client, children
// the parent must reap when they end (or they stay behind as zombies), and
// descriptors that both processes hold after fork() until each closes its own.
//
// Compare with solutions/blocking/server.cpp (the same loop, serving in place)
// and solutions/threads/server.cpp (a thread per client instead of a process).
// BEGIN LAB 3: Include what your own code uses (line_protocol.hpp, request_work.hpp...).
// STUB:
#include "blocking_session.hpp"
// END LAB 3
#include "errors.hpp"
#include "server_main.hpp"
#include "shutdown.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

namespace {

using namespace iolab;
using namespace std::chrono_literals;

// BEGIN LAB 3: A child process per client: the parent accepts, forks, and accepts again.
// - Serving a client is the blocking conversation, yours to write at this level:
//   recv() returns whatever bytes arrived, LineProtocol turns them into replies,
//   each reply is sent whole; recv() returning 0 is the end of file, and the last
//   unterminated line is still a request. Reply before reading more.
// - After fork() both processes hold both sockets: each closes the one it does
//   not use (the parent's copy of a connection would leak a descriptor per
//   client, and keep the connection open after the child has closed it).
// - An ended child stays a zombie until its parent waits for it: reap children
//   as they end (SIGCHLD; signals do not queue).
// - The child inherits the shutdown handler, which acts on the shared sockets:
//   see reset_shutdown_handling_in_child() and ShutdownWatch in shutdown.hpp.
// - A child never returns into the accept loop, and ends with _exit().
// - At SIGTERM the server stops its children and exits 0 within a second.
// STUB: void run(Listener& listener, const Options& options) {
// STUB:     $THROW
// STUB: }
// The children serving clients now (0 marks a free slot), so that a shutdown
// can stop them. The parent records each child after fork(); the SIGCHLD
// handler, which may run between any two instructions of the parent, reaps
// ended children and forgets them. Hence atomics in a fixed table: a signal
// handler may neither take a lock nor allocate.
constexpr std::size_t kMaxChildren = 1024;
std::array<std::atomic<pid_t>, kMaxChildren> children{};

std::atomic<pid_t>* free_slot() {
    for (std::atomic<pid_t>& slot : children)
        if (slot.load() == 0) return &slot;
    return nullptr;
}

bool has_children() {
    for (const std::atomic<pid_t>& slot : children)
        if (slot.load() != 0) return true;
    return false;
}

void forget_child(pid_t pid) {
    for (std::atomic<pid_t>& slot : children) {
        pid_t expected = pid;
        if (slot.compare_exchange_strong(expected, 0)) return;
    }
}

// Blocks one signal for the lifetime of this object.
class SignalBlocked {
public:
    explicit SignalBlocked(int signal_number) {
        sigset_t blocked;
        sigemptyset(&blocked);
        sigaddset(&blocked, signal_number);
        ::sigprocmask(SIG_BLOCK, &blocked, &previous_);
    }
    ~SignalBlocked() { ::sigprocmask(SIG_SETMASK, &previous_, nullptr); }
    SignalBlocked(const SignalBlocked&) = delete;
    SignalBlocked& operator=(const SignalBlocked&) = delete;

private:
    sigset_t previous_;
};

// SIGCHLD handler. A child that has exited stays in the process table, a
// zombie holding its pid and exit status, until its parent waits for it.
// Signals do not queue: one SIGCHLD may stand for several ended children, so
// reap in a loop until none is left, with WNOHANG so that the children still
// serving do not make the handler wait.
extern "C" void reap_children(int) {
    // BEGIN LAB 2: Reap every child that has ended, and forget it in the table.
    // A handler runs between any two instructions of the parent: it may call only
    // async-signal-safe functions, must never wait for the children still serving,
    // and must leave errno as it found it (the interrupted code may be reading it).
    // STUB: $THROW
    // BEGIN LAB: Reap every child that has ended: waitpid(-1, nullptr, WNOHANG)
    // in a loop while it returns a pid, and forget_child() each one. Save and
    // restore errno around it: the interrupted code may be about to read it.
    int saved_errno = errno;
    for (pid_t pid; (pid = ::waitpid(-1, nullptr, WNOHANG)) > 0;) forget_child(pid);
    errno = saved_errno;
    // END LAB
    // END LAB 2
}

void install_child_reaper() {
    // BEGIN LAB 2: Have the kernel run reap_children() whenever a child ends.
    // A child that a signal only stopped is nothing to reap. The parent's accept()
    // that the signal interrupts should fail with EINTR rather than restart: the
    // loop then goes round (some tools, ThreadSanitizer among them, run a handler
    // only once the interrupted call has returned). A failure here is a setup
    // failure: errors.hpp has the way to report it.
    // STUB: $THROW
    struct sigaction action {};
    action.sa_handler = reap_children;
    sigemptyset(&action.sa_mask);
    // SA_NOCLDSTOP: a child stopped (not ended) by a signal is nothing to reap.
    // No SA_RESTART: accept() returns EINTR after the handler has run, and the
    // loop simply goes round (tools that defer signals, like ThreadSanitizer,
    // run the handler only once the interrupted call has returned).
    action.sa_flags = SA_NOCLDSTOP;
    if (::sigaction(SIGCHLD, &action, nullptr) < 0) throw_errno("sigaction(SIGCHLD)");
    // END LAB 2
}

// The child's whole life: it never returns into the parent's accept loop.
[[noreturn]] void serve_in_child(Listener& listener, const UniqueFd& client,
                                 const Options& options) {
    // BEGIN LAB 2: Serve the one client in the child, then end the child.
    // After fork() the child holds a copy of every descriptor the parent had: close
    // the one it has no use for (a child that outlives the parent would keep the
    // port, and could accept clients). It inherited the parent's shutdown handler
    // too, which acts on the sockets both share: shutdown.hpp says what a child
    // calls first. It must never return into the parent's accept loop, and must end
    // without running the exit handlers nor flushing the stdio buffers it copied.
    // STUB: $THROW
    // BEGIN LAB: In the child: reset_shutdown_handling_in_child(), close the
    // listening socket (listener.close()): the child serves one client and must
    // not keep the port open after the parent is gone. Serve the client, then
    // end with _exit(0), which skips the exit handlers and the stdio buffers
    // copied from the parent (exit() could print their contents a second time).
    reset_shutdown_handling_in_child();
    listener.close();
    serve_until_eof(client, options);
    ::_exit(0);
    // END LAB
    // END LAB 2
}

// Forks a child to serve `client`. The parent's copy of the connection is
// closed when `client` goes out of scope here: the child holds its own, and a
// descriptor the parent kept would keep the connection open after the child
// ends (and leak one descriptor per client).
void serve_in_new_child(Listener& listener, UniqueFd client, const Options& options) {
    // BEGIN LAB 2: Fork a child to serve this client, and put it on record in the table.
    // The SIGCHLD handler may run at any instruction: it must not reap the new child
    // before its pid is recorded (a signal can be held off for a while). A full
    // table, or a fork() that fails (too many processes), costs this client only:
    // say so on stderr and turn the client away. The parent's copy of the
    // connection is closed when this function returns (see above).
    // STUB: $THROW
    // BEGIN LAB: Block SIGCHLD (SignalBlocked) so that the new child cannot be
    // reaped before it is on record; take a free_slot() (none left: return, which
    // turns the client away); fork(). In the child: serve_in_child(). In the
    // parent: store the child's pid in the slot. fork() failing (too many
    // processes) costs this client only: report it and return.
    SignalBlocked no_reaping_yet(SIGCHLD);
    std::atomic<pid_t>* slot = free_slot();
    if (!slot) {
        std::fprintf(stderr, "fork: %zu children already, turning a client away\n", kMaxChildren);
        return;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
        std::fprintf(stderr, "fork: %s, turning a client away\n", std::strerror(errno));
        return;
    }
    if (pid == 0) serve_in_child(listener, client, options);
    slot->store(pid);
    // END LAB
    // END LAB 2
}

// Asks every child to stop (each one's handler shuts its connection down, so
// it ends at once), then waits a bounded time for the handler to reap them all.
void stop_children() {
    // BEGIN LAB 2: At shutdown, stop every child still serving, and wait for their end.
    // Signal a pid only while it cannot have been reaped, and so reused by an
    // unrelated process. The handler does the reaping: wait until the table is
    // empty, for a bounded time (500 ms): the server must exit within a second.
    // STUB: $THROW
    // BEGIN LAB: With SIGCHLD blocked, kill(pid, SIGTERM) every recorded child:
    // while blocked, no child is reaped, so no recorded pid can have been reused
    // by another process. Then unblocked, wait while has_children(), at most 500 ms.
    {
        SignalBlocked no_reaping_while_signalling(SIGCHLD);
        for (const std::atomic<pid_t>& slot : children)
            if (pid_t pid = slot.load()) ::kill(pid, SIGTERM);
    }
    for (auto give_up = std::chrono::steady_clock::now() + 500ms;
         has_children() && std::chrono::steady_clock::now() < give_up;)
        std::this_thread::sleep_for(5ms);
    // END LAB
    // END LAB 2
}

void run(Listener& listener, const Options& options) {
    // BEGIN LAB 2: Reap children from the start; accept clients and give each a child process
    // of its own; once a shutdown is requested, stop the children before returning.
    // STUB: $THROW
    // BEGIN LAB: install_child_reaper(), then accept clients like the iterative
    // server, handing each to serve_in_new_child(). Once shutdown_requested(),
    // stop_children() before returning.
    install_child_reaper();
    while (!shutdown_requested()) {
        UniqueFd client = listener.accept();
        if (client) serve_in_new_child(listener, std::move(client), options);
    }
    stop_children();
    // END LAB
    // END LAB 2
}
// END LAB 3

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv, {"fork", "one child process per client"}, run);
}
