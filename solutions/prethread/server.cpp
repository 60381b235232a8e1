// Prethread server: a pool of threads, made once at start, each serving
// clients one after another (Stevens, UNP ch. 30; Apache's worker MPM).
//
// The main thread starts --workers threads before any client arrives, then
// only waits for the shutdown. Every thread blocks in accept() on the one
// listening socket; the kernel hands each new connection to one of them, which
// serves it with the same serve_until_eof() as the iterative server and goes
// back to accept(). No thread per client: a client costs an accept(), not a
// new thread. The price: N clients at once, no more (the N+1st waits in the
// backlog until a thread is free), and, as in every threaded server, one
// address space: a crash in one thread ends them all.
//
// accept() is not serialised with a lock. Linux puts the threads waiting in
// accept() on one socket in an exclusive wait queue and wakes one of them per
// connection: no thundering herd (labs/prethread/README.md). UNP's mutex
// around accept() is for kernels that woke them all, and for threads that wait
// in select() or poll() instead.
//
// Compare with solutions/prefork/server.cpp (the same pool, of processes:
// `diff solutions/prefork/server.cpp solutions/prethread/server.cpp`) and
// solutions/threads/server.cpp (a thread per client, made when the client arrives).
// BEGIN LAB 3: Include what your own code uses (line_protocol.hpp, request_work.hpp...).
// STUB:
#include "blocking_session.hpp"
// END LAB 3
#include "errors.hpp"
#include "server_main.hpp"
#include "shutdown.hpp"

#include <signal.h>

#include <cstdio>
#include <functional>
#include <initializer_list>
#include <system_error>
#include <thread>
#include <vector>

namespace {

using namespace iolab;

// BEGIN LAB 3: A pool of --workers threads, made at start, each one serving clients one
// after another; the main thread serves nobody, it waits for the shutdown.
// - Serving a client is the blocking conversation, yours to write at this level:
//   recv() returns whatever bytes arrived, LineProtocol turns them into replies,
//   each reply is sent whole; recv() returning 0 is the end of file, and the last
//   unterminated line is still a request. Reply before reading more.
// - Every worker sleeps in accept() on the one listening socket: the kernel
//   hands each connection to one of them.
// - A signal goes to any one thread that does not block it: make sure the one
//   that takes SIGTERM is the one waiting for it, and that none is lost.
// - At SIGTERM every worker is woken (the listener and, with ShutdownWatch from
//   shutdown.hpp, each connection are shut down); the main thread waits for them
//   and the server exits 0 within a second.
// STUB: void run(Listener& listener, const Options& options) {
// STUB:     $THROW
// STUB: }
// Workers when --workers is not given: the number of clients served at once.
constexpr int kDefaultWorkers = 8;

// The pool: each worker thread, not joinable for a slot whose thread could
// not be started. Only the main thread touches it: it starts the threads
// before the first client and joins them after the last.
std::vector<std::thread> pool;

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

    // The mask before: the one to wait with (sigsuspend).
    const sigset_t& unblocked() const { return previous_; }

private:
    sigset_t previous_;
};

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

// The life of a worker thread. It keeps the signal mask it was started with
// (SIGTERM and SIGINT blocked), so that the signal goes to the main thread,
// the only one that waits for it. The handler still wakes this one: it shuts
// the listening socket down (accept() fails) and the connection being served.
void run_worker(Listener& listener, const Options& options) {
    // BEGIN LAB 2: The worker thread's whole life: serve clients until the shutdown, then end.
    // STUB: $THROW
    // BEGIN LAB: serve_clients(), then return: the thread ends.
    serve_clients(listener, options);
    // END LAB
    // END LAB 2
}

// Starts the worker of one slot of the pool. A thread that cannot be started
// (too many, or no memory for its stack) leaves the pool one worker short, not
// the server down.
void start_worker(std::thread& slot, Listener& listener, const Options& options) {
    // BEGIN LAB 2: Start the worker thread of this slot. It refers to the listener and the
    // options, which outlive the pool. A thread that cannot be started (too many
    // tasks, no memory for its stack) leaves the pool one worker short: report it on
    // stderr, and the server goes on.
    // STUB: $THROW
    // BEGIN LAB: slot = std::thread(run_worker, std::ref(listener),
    // std::cref(options)). On std::system_error, report it and leave the slot empty.
    try {
        slot = std::thread(run_worker, std::ref(listener), std::cref(options));
    } catch (const std::system_error& error) {
        std::fprintf(stderr, "cannot start a thread (%s): a worker short\n", error.what());
    }
    // END LAB
    // END LAB 2
}

// Makes the whole pool, before the first client arrives.
void start_pool(Listener& listener, const Options& options) {
    pool.resize(static_cast<std::size_t>(options.workers > 0 ? options.workers : kDefaultWorkers));
    for (std::thread& slot : pool) start_worker(slot, listener, options);
}

// The main thread's life once the pool is made: wait for the shutdown. (A
// thread cannot end alone, as a prefork worker can: a crash in one ends the
// process, so there is no worker to replace.)
void watch_pool(const SignalsBlocked& signals) {
    // BEGIN LAB 2: The main thread's life between start and shutdown: sleep until the signal
    // comes. A signal that arrives between the look at the shutdown flag and the
    // sleep must not be lost: the signals stay blocked except during the sleep, and
    // the sleep must unblock them in the same call.
    // STUB: $THROW
    // BEGIN LAB: While !shutdown_requested(): sigsuspend(&signals.unblocked()).
    // The signals are blocked everywhere else, so a SIGTERM that arrives between
    // the look at the flag and the wait stays pending and ends sigsuspend() at
    // once: no wake-up is lost.
    while (!shutdown_requested()) ::sigsuspend(&signals.unblocked());
    // END LAB
    // END LAB 2
}

// Waits for every worker to end. Each is woken by the shutdown handler (its
// accept() fails on the shut listening socket, its connection is shut down),
// so each ends within one request's work.
void stop_pool() {
    // BEGIN LAB 2: Wait for every worker to end. The shutdown wakes each one (its accept() fails,
    // its connection is shut down); a slot whose thread never started has none.
    // STUB: $THROW
    // BEGIN LAB: join() each joinable thread of the pool.
    for (std::thread& worker : pool)
        if (worker.joinable()) worker.join();
    // END LAB
    // END LAB 2
}

void run(Listener& listener, const Options& options) {
    // BEGIN LAB 2: A signal goes to any one thread that does not block it, and a thread inherits
    // its creator's mask: block SIGTERM and SIGINT for the rest of run(), before the
    // pool is made, so that only the main thread, asleep, takes them. Then make the
    // pool, wait for the shutdown, and wait for the workers.
    // STUB: $THROW
    // BEGIN LAB: Block SIGTERM and SIGINT (SignalsBlocked) for the rest of
    // run(): the threads started now inherit the mask. Then start_pool(),
    // watch_pool(), and once shutdown is requested, stop_pool().
    SignalsBlocked only_in_sigsuspend({SIGTERM, SIGINT});
    start_pool(listener, options);
    watch_pool(only_in_sigsuspend);
    stop_pool();
    // END LAB
    // END LAB 2
}
// END LAB 3

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv,
                              {"prethread", "a pool of threads made at start", true,
                               "worker threads, made at start: the clients served at once (0: 8)"},
                              run);
}
