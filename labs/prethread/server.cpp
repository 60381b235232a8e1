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
#include "blocking_session.hpp"
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
    // TODO: Accept clients one at a time, like the iterative server,
    //       serving each with serve_until_eof(), until shutdown_requested().
    throw NotImplemented("labs/prethread/server.cpp:71: see the TODO there");
}

// The life of a worker thread. It keeps the signal mask it was started with
// (SIGTERM and SIGINT blocked), so that the signal goes to the main thread,
// the only one that waits for it. The handler still wakes this one: it shuts
// the listening socket down (accept() fails) and the connection being served.
void run_worker(Listener& listener, const Options& options) {
    // TODO: serve_clients(), then return: the thread ends.
    throw NotImplemented("labs/prethread/server.cpp:81: see the TODO there");
}

// Starts the worker of one slot of the pool. A thread that cannot be started
// (too many, or no memory for its stack) leaves the pool one worker short, not
// the server down.
void start_worker(std::thread& slot, Listener& listener, const Options& options) {
    // TODO: slot = std::thread(run_worker, std::ref(listener),
    //       std::cref(options)). On std::system_error, report it and leave the slot empty.
    throw NotImplemented("labs/prethread/server.cpp:89: see the TODO there");
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
    // TODO: While !shutdown_requested(): sigsuspend(&signals.unblocked()).
    //       The signals are blocked everywhere else, so a SIGTERM that arrives between
    //       the look at the flag and the wait stays pending and ends sigsuspend() at
    //       once: no wake-up is lost.
    throw NotImplemented("labs/prethread/server.cpp:104: see the TODO there");
}

// Waits for every worker to end. Each is woken by the shutdown handler (its
// accept() fails on the shut listening socket, its connection is shut down),
// so each ends within one request's work.
void stop_pool() {
    // TODO: join() each joinable thread of the pool.
    throw NotImplemented("labs/prethread/server.cpp:115: see the TODO there");
}

void run(Listener& listener, const Options& options) {
    // TODO: Block SIGTERM and SIGINT (SignalsBlocked) for the rest of
    //       run(): the threads started now inherit the mask. Then start_pool(),
    //       watch_pool(), and once shutdown is requested, stop_pool().
    throw NotImplemented("labs/prethread/server.cpp:120: see the TODO there");
}

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv,
                              {"prethread", "a pool of threads made at start", true,
                               "worker threads, made at start: the clients served at once (0: 8)"},
                              run);
}
