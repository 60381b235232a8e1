// Prefork server: a pool of child processes, made once at start, each serving
// clients one after another (Stevens, UNP ch. 30; Apache's prefork MPM).
//
// The parent forks --workers children before any client arrives, then only
// watches them. Every child blocks in accept() on the listening socket it
// inherited; the kernel hands each new connection to one of them, which serves
// it with the same serve_until_eof() as the iterative server and goes back to
// accept(). No fork() per client: a client costs an accept(), not a new
// process. The price: N clients at once, no more (the N+1st waits in the
// backlog until a child is free), and a parent that must replace a child that
// dies and stop them all at shutdown.
//
// accept() is not serialised with a lock. Linux puts the processes waiting in
// accept() on one socket in an exclusive wait queue and wakes one of them per
// connection: no thundering herd (labs/prefork/README.md measures it). UNP's
// lock around accept() (fcntl or a mutex in shared memory) is for kernels that
// woke them all, and for children that wait in select() or poll() instead.
//
// Compare with solutions/prethread/server.cpp (the same pool, of threads:
// `diff solutions/prefork/server.cpp solutions/prethread/server.cpp`) and
// solutions/fork/server.cpp (a child per client, made when the client arrives).
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

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <thread>
#include <vector>

namespace {

using namespace iolab;
using namespace std::chrono_literals;

// BEGIN LAB 3: A pool of --workers processes, made at start, each one serving clients one
// after another; the parent serves nobody, it keeps the pool full.
// - Serving a client is the blocking conversation, yours to write at this level:
//   recv() returns whatever bytes arrived, LineProtocol turns them into replies,
//   each reply is sent whole; recv() returning 0 is the end of file, and the last
//   unterminated line is still a request. Reply before reading more.
// - Every worker sleeps in accept() on the one listening socket it inherited:
//   the kernel hands each connection to one of them.
// - A worker that dies (a crash, a kill) is reaped and replaced: wait for
//   SIGCHLD and SIGTERM without losing one that comes just before the wait.
// - A worker inherits the shutdown handler and the signal mask: see
//   reset_shutdown_handling_in_child() and ShutdownWatch in shutdown.hpp.
// - A worker never returns into the parent's code, and ends with _exit().
// - At SIGTERM the parent stops and reaps every worker, and exits 0 within a
//   second: no worker outlives it, none stays a zombie.
// STUB: void run(Listener& listener, const Options& options) {
// STUB:     $THROW
// STUB: }
// Workers when --workers is not given: the number of clients served at once.
constexpr int kDefaultWorkers = 8;

// The pool: the pid of each worker process, 0 for a slot whose worker could
// not be started. Only the parent's main thread touches it: the signals are
// blocked except inside sigsuspend(), and their handlers only wake it up.
std::vector<pid_t> pool;

// Blocks signals for the lifetime of this object.
class SignalsBlocked {
public:
    explicit SignalsBlocked(std::initializer_list<int> signal_numbers) {
        sigset_t blocked;
        sigemptyset(&blocked);
        for (int signal_number : signal_numbers) sigaddset(&blocked, signal_number);
        ::pthread_sigmask(SIG_BLOCK, &blocked, &previous_);
    }
    ~SignalsBlocked() { ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
    SignalsBlocked(const SignalsBlocked&) = delete;
    SignalsBlocked& operator=(const SignalsBlocked&) = delete;

    // The mask before: the one to wait with (sigsuspend) or to give back to a child.
    const sigset_t& unblocked() const { return previous_; }

private:
    sigset_t previous_;
};

// SIGCHLD's default action is to ignore it, and an ignored signal does not
// end sigsuspend(): an empty handler makes a child's end wake the parent.
extern "C" void wake_parent(int) {}

void install_child_watch() {
    // BEGIN LAB 2: Make the end of a child wake the parent from its sigsuspend().
    // SIGCHLD's default action is to ignore it, and an ignored signal ends no wait:
    // it needs a handler, even one that does nothing (wake_parent). A child that a
    // signal only stopped is nothing to replace. A failure here is a setup failure:
    // errors.hpp has the way to report it.
    // STUB: $THROW
    struct sigaction action {};
    action.sa_handler = wake_parent;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_NOCLDSTOP;  // a child stopped (not ended) is nothing to replace
    if (::sigaction(SIGCHLD, &action, nullptr) < 0) throw_errno("sigaction(SIGCHLD)");
    // END LAB 2
}

// A worker's whole job: the iterative server's loop. Many workers block in
// accept() on the same listening socket; each connection goes to one of them.
void serve_clients(Listener& listener, const Options& options) {
    // BEGIN LAB 2: A worker's job until a shutdown is requested: the iterative server's loop,
    // on the listening socket that every worker shares.
    // STUB: $THROW
    // BEGIN LAB: Accept clients one at a time, like the iterative server,
    // serving each with serve_until_eof(), until shutdown_requested().
    while (!shutdown_requested()) {
        UniqueFd client = listener.accept();
        if (client) serve_until_eof(client, options);
    }
    // END LAB
    // END LAB 2
}

// The life of a worker process. It keeps the listening socket (unlike the fork
// lab's children): accepting is its job.
[[noreturn]] void run_worker(Listener& listener, const Options& options,
                             const SignalsBlocked& signals) {
    // BEGIN LAB 2: The worker process's whole life: it must never return into the parent's code.
    // It inherited the parent's shutdown handler, which acts on the sockets they
    // share (shutdown.hpp says what a child calls first), and the parent's signal
    // mask, in which SIGTERM is blocked: a worker must stop on its own SIGTERM. End
    // without running the exit handlers nor flushing the stdio buffers it copied.
    // STUB: $THROW
    // BEGIN LAB: reset_shutdown_handling_in_child(), so that a SIGTERM to this
    // child stops this child only; unblock the signals the parent blocked
    // (pthread_sigmask(SIG_SETMASK, &signals.unblocked(), nullptr)): the child
    // must see its own SIGTERM. Then serve_clients(), and end with _exit(0).
    reset_shutdown_handling_in_child();
    ::pthread_sigmask(SIG_SETMASK, &signals.unblocked(), nullptr);
    serve_clients(listener, options);
    ::_exit(0);
    // END LAB
    // END LAB 2
}

// Starts the worker of one slot of the pool. A fork() that fails (too many
// processes) leaves the pool one worker short, not the server down.
void start_worker(pid_t& slot, Listener& listener, const Options& options,
                  const SignalsBlocked& signals) {
    // BEGIN LAB 2: Fork the worker of this slot, and record its pid there.
    // A fork() that fails (too many processes) leaves the pool one worker short:
    // report it on stderr; the server goes on.
    // STUB: $THROW
    // BEGIN LAB: fork(). In the child: run_worker(). In the parent: record the
    // child's pid in `slot`. If fork() fails, report it and leave the slot 0.
    pid_t pid = ::fork();
    if (pid < 0) {
        std::fprintf(stderr, "fork: %s: a worker short\n", std::strerror(errno));
        return;
    }
    if (pid == 0) run_worker(listener, options, signals);
    slot = pid;
    // END LAB
    // END LAB 2
}

// Makes the whole pool, before the first client arrives.
void start_pool(Listener& listener, const Options& options, const SignalsBlocked& signals) {
    pool.assign(static_cast<std::size_t>(options.workers > 0 ? options.workers : kDefaultWorkers),
                0);
    for (pid_t& slot : pool) start_worker(slot, listener, options, signals);
}

// Reaps every child that has ended and starts another in its slot: the pool
// stays at N whatever kills a worker (a crash, the OOM killer, an operator).
void replace_ended_workers(Listener& listener, const Options& options,
                           const SignalsBlocked& signals) {
    // BEGIN LAB 2: Reap every worker that has ended, whatever ended it, and start another in its
    // slot: the pool stays at N. One SIGCHLD may stand for several ended children,
    // and the workers still serving must not make the parent wait.
    // STUB: $THROW
    // BEGIN LAB: waitpid(-1, &status, WNOHANG) in a loop while it returns a
    // pid (one SIGCHLD may stand for several children). Find the pid's slot in
    // the pool, report the worker's end, and start_worker() in that slot.
    int status = 0;
    for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
        auto slot = std::find(pool.begin(), pool.end(), pid);
        if (slot == pool.end()) continue;
        *slot = 0;
        std::fprintf(stderr, "worker %d ended (%s), starting another\n", static_cast<int>(pid),
                     WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "exited");
        start_worker(*slot, listener, options, signals);
    }
    // END LAB
    // END LAB 2
}

// The parent's life once the pool is made: wait for a signal, see to the pool, wait again.
void watch_pool(Listener& listener, const Options& options, const SignalsBlocked& signals) {
    // BEGIN LAB 2: The parent's life between start and shutdown: sleep until a signal comes, see
    // to the pool, sleep again. A signal that arrives between the look at the
    // shutdown flag and the sleep must not be lost: the signals stay blocked except
    // during the sleep, and the sleep must unblock them in the same call.
    // STUB: $THROW
    // BEGIN LAB: While !shutdown_requested(): sigsuspend(&signals.unblocked()),
    // then replace_ended_workers(). The signals are blocked everywhere else, so
    // a SIGTERM or SIGCHLD that arrives between the look at the flag and the
    // wait stays pending and ends sigsuspend() at once: no wake-up is lost.
    while (!shutdown_requested()) {
        ::sigsuspend(&signals.unblocked());
        replace_ended_workers(listener, options, signals);
    }
    // END LAB
    // END LAB 2
}

// Asks every worker to stop (each one's handler shuts its connection down,
// so it ends at once), waits for them at most 500 ms, then kills the rest:
// no child outlives the server.
void stop_pool() {
    // BEGIN LAB 2: At shutdown, stop every worker and reap them all, for a bounded time (the
    // server must exit within a second): a worker still there after 500 ms is
    // killed outright. No worker outlives the server, none stays a zombie.
    // STUB: $THROW
    // BEGIN LAB: kill(pid, SIGTERM) each worker in the pool. Then reap them
    // (waitpid(pid, nullptr, WNOHANG), setting each reaped slot to 0) while any
    // is left, sleeping a few milliseconds between rounds; after 500 ms,
    // kill(pid, SIGKILL) those still there, and go on reaping.
    for (pid_t pid : pool)
        if (pid) ::kill(pid, SIGTERM);
    auto give_up = std::chrono::steady_clock::now() + 500ms;
    while (std::any_of(pool.begin(), pool.end(), [](pid_t pid) { return pid != 0; })) {
        for (pid_t& pid : pool)
            if (pid && ::waitpid(pid, nullptr, WNOHANG) == pid) pid = 0;
        if (std::chrono::steady_clock::now() > give_up)
            for (pid_t& pid : pool)
                if (pid) ::kill(pid, SIGKILL);
        std::this_thread::sleep_for(5ms);
    }
    // END LAB
    // END LAB 2
}

void run(Listener& listener, const Options& options) {
    // BEGIN LAB 2: Watch for ended children; keep the signals the parent waits for blocked for
    // the rest of run() (the workers inherit the mask); make the pool, watch it, and
    // stop it once a shutdown is requested.
    // STUB: $THROW
    // BEGIN LAB: Install the SIGCHLD handler (install_child_watch), block
    // SIGCHLD, SIGTERM and SIGINT (SignalsBlocked) for the rest of run(); then
    // start_pool(), watch_pool(), and once shutdown is requested, stop_pool().
    install_child_watch();
    SignalsBlocked only_in_sigsuspend({SIGCHLD, SIGTERM, SIGINT});
    start_pool(listener, options, only_in_sigsuspend);
    watch_pool(listener, options, only_in_sigsuspend);
    stop_pool();
    // END LAB
    // END LAB 2
}
// END LAB 3

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(
        argc, argv,
        {"prefork", "a pool of child processes made at start", true,
         "worker processes, made at start: the clients served at once (0: 8)"},
        run);
}
