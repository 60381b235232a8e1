// Event loop with epoll, and a pool of worker threads that share it: the main
// thread accepts clients, a fixed number of workers serve the ready ones.
//
// epoll keeps the watched set in the kernel: a descriptor is registered once
// (epoll_ctl) and each wait (epoll_wait) returns only the descriptors that are
// ready, so a wakeup costs O(ready), not O(watched) as with poll(). Every
// worker waits on the same epoll set and takes one ready connection at a
// time: it reads it, processes its requests (the simulated --delay-us and
// --compute-us work included) and writes the replies, so that a slow request
// holds up one worker, not the others. The kernel's ready list is the pool's
// queue: no user-space queue, no hand-off from thread to thread.
// EPOLLONESHOT gives each connection one owner at a time: the kernel reports
// it once, then stays silent about it until the worker that served it re-arms
// it. Sockets are non-blocking and each connection's state lives in a
// Connection (labs/common/event_connection.hpp).
//
// Compare with solutions/poll/server.cpp: the same loop around poll(), where
// one thread serves the connections itself
// (`diff solutions/poll/server.cpp solutions/epoll/server.cpp`).
#include "errors.hpp"
#include "event_connection.hpp"
#include "server_main.hpp"
#include "shutdown.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using namespace iolab;

// At most this many clients are accepted per wakeup, so that a flood of new
// connections cannot starve the clients already connected (Redis bounds its
// accept loop the same way).
constexpr int kMaxAcceptsPerWakeup = 256;
// Workers per CPU when --workers is 0. A worker that waits (--delay-us, like
// a database query) holds no CPU, so more workers than CPUs let more waits
// overlap; for CPU work alone, more than one per CPU adds only switching.
constexpr int kDefaultWorkersPerCpu = 4;

// What the main thread and the workers share. The kernel keeps the watched
// set, behind the epoll descriptor: it is built once and changed one
// descriptor at a time, never rebuilt. The mutex guards the table (the main
// thread inserts, workers erase); a Connection in it is not guarded:
// EPOLLONESHOT lets one thread at a time near it.
struct Shared {
    UniqueFd epoll;  // every connection; the workers wait on it
    UniqueFd stop;   // an eventfd in that set: readable once the workers must return
    std::mutex mutex;
    Connections connections;
};

// What epoll_wait() returns: the ready descriptors only.
using ReadyList = std::vector<epoll_event>;

// Registers (EPOLL_CTL_ADD) or re-arms (EPOLL_CTL_MOD) a connection for what
// it waits for next. EPOLLONESHOT: after one report the kernel disables the
// descriptor, so that no second worker is sent to it while the first one is
// still serving it. Returns false if the kernel refused.
bool watch(int epoll, int operation, int fd, Interest interest) {
    // TODO: Fill an epoll_event: events = EPOLLONESHOT, plus EPOLLIN if
    //       interest.read and EPOLLOUT if interest.write; data.fd = fd. Return
    //       whether epoll_ctl(epoll, operation, fd, &event) succeeded.
    throw NotImplemented("labs/epoll/server.cpp:70: see the TODO there");
}

// An epoll set watching `fds` for input, level-triggered and not one-shot:
// the main thread's (shutdown pipe, listener) and, at first, the workers'
// (their stop descriptor, which every worker must see).
UniqueFd watch_list(std::initializer_list<int> fds) {
    // TODO: Create the epoll instance with epoll_create1(EPOLL_CLOEXEC)
    //       (on failure throw_errno("epoll_create1")) and register each of `fds`
    //       for EPOLLIN, with data.fd set to the descriptor (throw_errno("epoll_ctl")
    //       on failure).
    throw NotImplemented("labs/epoll/server.cpp:80: see the TODO there");
}

// Blocks until a watched descriptor is ready, and returns at most
// `ready.size()` of them in `ready`. Returns false when a signal interrupted
// the wait (the caller then looks at the shutdown flag, or waits again).
bool wait_until_ready(int epoll, ReadyList& ready) {
    // TODO: Call epoll_wait() with room for ready.size() events and no
    //       timeout (-1), then shrink `ready` to the number returned. On EINTR
    //       return false; on any other error throw_errno("epoll_wait").
    throw NotImplemented("labs/epoll/server.cpp:91: see the TODO there");
}

bool reported(const ReadyList& ready, int fd) {
    return std::any_of(ready.begin(), ready.end(),
                       [fd](const epoll_event& event) { return event.data.fd == fd; });
}
bool shutdown_signalled(const ReadyList& ready) { return reported(ready, shutdown_wakeup_fd()); }
bool clients_waiting(const ReadyList& ready, const Listener& listener) {
    return reported(ready, listener.fd());
}

// On a worker: serves one ready connection, then re-arms it for what it
// waits for next, or closes it. Until the re-arm this thread is the
// connection's only user; from the re-arm on, another worker may be serving it.
void serve_connection(Shared& shared, const epoll_event& event, const Options& options) {
    // TODO: Find the Connection of event.data.fd in shared.connections,
    //       holding shared.mutex (return if it is not there). EPOLLERR and EPOLLHUP
    //       are reported even unasked: count them as both readable and writable.
    //       Without the mutex, let connection.on_ready(readable, writable, options)
    //       serve it; it returns what the connection waits for next. Then, holding
    //       the mutex again: if it is finished, or re-arming it with
    //       watch(..., EPOLL_CTL_MOD, ...) fails, erase it from the table (its
    //       UniqueFd closes the socket).
    throw NotImplemented("labs/epoll/server.cpp:110: see the TODO there");
}

// The body of every worker: one ready connection per epoll_wait(), served,
// until the stop descriptor is ready. One at a time, so that no ready
// connection waits behind another one's slow request while a worker is free.
// A signal interrupts the wait of whichever thread it lands on: the main
// thread learns of it from the shutdown pipe, so a worker just waits again.
// (epoll_wait fails otherwise only on a bug in this file; the exception then
// ends the process rather than leave a worker silently gone.)
void work(Shared& shared, const Options& options) {
    ReadyList ready;
    for (;;) {
        ready.resize(1);
        if (!wait_until_ready(shared.epoll.get(), ready)) continue;
        if (ready.front().data.fd == shared.stop.get()) return;
        serve_connection(shared, ready.front(), options);
    }
}

// Accepts the clients waiting in the backlog and registers them in the
// workers' set: from then on a worker serves each. The listener is
// non-blocking: accept() comes back empty once none is left (or no descriptor is).
void accept_clients(Listener& listener, Shared& shared) {
    // TODO: Call listener.accept() until it returns an empty UniqueFd
    //       (at most kMaxAcceptsPerWakeup times). Holding shared.mutex, add each
    //       client to the table (shared.connections.try_emplace(fd,
    //       std::move(client))) and register it with watch(..., EPOLL_CTL_ADD, ...)
    //       for connection.interest(); if the kernel refuses, erase it again. Both
    //       under the mutex: a worker may be closing a finished connection at that
    //       moment, and accept() may hand back its descriptor number at once.
    throw NotImplemented("labs/epoll/server.cpp:142: see the TODO there");
}

// The pool: a fixed number of threads running work(), started by the main
// thread and joined by it. Stopping makes the stop descriptor readable, and
// since it is level-triggered and never re-armed, every worker sees it; a
// worker in the middle of a request finishes that request first.
class Workers {
public:
    Workers(Shared& shared, const Options& options) : shared_(shared) {
        int count = options.workers > 0 ? options.workers : kDefaultWorkersPerCpu * cpus();
        try {
            for (int started = 0; started < count; ++started)
                threads_.emplace_back([&shared, &options] { work(shared, options); });
        } catch (...) {
            stop();  // a destructor does not run for an object whose constructor threw
            throw;
        }
    }
    ~Workers() { stop(); }
    Workers(const Workers&) = delete;
    Workers& operator=(const Workers&) = delete;

private:
    static int cpus() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }
    void stop() {
        std::uint64_t one = 1;
        // The eventfd's counter cannot overflow: this write cannot fail.
        [[maybe_unused]] ssize_t written = ::write(shared_.stop.get(), &one, sizeof one);
        for (std::thread& thread : threads_) thread.join();
        threads_.clear();
    }

    Shared& shared_;
    std::vector<std::thread> threads_;
};

void run(Listener& listener, const Options& options) {
    set_nonblocking(listener.fd());
    Shared shared;
    shared.stop.reset(::eventfd(0, EFD_CLOEXEC));
    if (!shared.stop) throw_errno("eventfd");
    shared.epoll = watch_list({shared.stop.get()});
    UniqueFd accepting = watch_list({shutdown_wakeup_fd(), listener.fd()});
    // Declared after `shared`, so destroyed first: every worker has returned
    // and been joined before the connections it served are freed.
    Workers workers(shared, options);
    ReadyList ready;
    while (!shutdown_requested()) {
        ready.resize(2);
        if (!wait_until_ready(accepting.get(), ready)) continue;
        if (shutdown_signalled(ready)) return;  // SIGTERM, even one that came just before the wait
        if (clients_waiting(ready, listener)) accept_clients(listener, shared);
    }
}

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv,
                              {"epoll", "non-blocking sockets, epoll(), a pool of worker threads",
                               /*has_workers=*/true, "worker threads (0: 4 per CPU)"},
                              run);
}
