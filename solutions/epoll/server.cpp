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
// BEGIN LAB 3: Each client's state between two events (its partial line, its replies not yet sent,
// whether it has finished sending) is yours to keep, in a struct of your own:
// line_protocol.hpp keeps the partial line.
// STUB:
#include "event_connection.hpp"
// END LAB 3
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

// BEGIN LAB 3: Serve the clients with a pool of worker threads (--workers of them; 0 means 4 per
// CPU) that share one epoll set: the kernel's ready list is the pool's queue, with
// no queue of your own and no hand-off between threads. The main thread accepts the
// clients and registers them; each worker takes one ready connection at a time,
// serves it (the simulated work of its requests included, so that a slow request
// holds up one worker only) and re-arms it. One-shot events give a connection one
// owner at a time: without them two workers serve one connection at once (replies
// interleaved, a double free); without the re-arm a connection is served once and
// never again. The table of connections is shared between threads: guard it, but
// never hold the lock while serving, or one slow request stops the whole pool.
// Sockets are non-blocking; a connection is watched for writing only while replies
// are pending (a socket with room in its send buffer is always writable: a spin),
// and not for reading while too many replies are pending (backpressure). Watch
// shutdown_wakeup_fd(): on SIGTERM, stop the workers (each finishes its request),
// join them, and return. The listener's accept() comes back empty when no client is
// waiting, or no descriptor is left. A failure on one connection closes that
// connection only.
// STUB: void run(Listener& listener, const Options& options) {
// STUB:     $THROW
// STUB: }
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
    // BEGIN LAB 2: Register a connection in the workers' set, or re-arm it, for exactly what it
    // waits for next; the event carries the descriptor, by which a worker finds the
    // connection again. One-shot: after one report the kernel disables the
    // descriptor until it is re-armed, so that no second worker is sent to a
    // connection that a first one is still serving (two threads on one connection
    // interleave its replies, and free it twice). Level-triggered: what is left
    // unread is reported again after the re-arm. Report whether the kernel agreed.
    // STUB: $THROW
    // BEGIN LAB: Fill an epoll_event: events = EPOLLONESHOT, plus EPOLLIN if
    // interest.read and EPOLLOUT if interest.write; data.fd = fd. Return
    // whether epoll_ctl(epoll, operation, fd, &event) succeeded.
    epoll_event event{};
    event.events = EPOLLONESHOT | (interest.read ? EPOLLIN : 0u) | (interest.write ? EPOLLOUT : 0u);
    event.data.fd = fd;
    return ::epoll_ctl(epoll, operation, fd, &event) == 0;
    // END LAB
    // END LAB 2
}

// An epoll set watching `fds` for input, level-triggered and not one-shot:
// the main thread's (shutdown pipe, listener) and, at first, the workers'
// (their stop descriptor, which every worker must see).
UniqueFd watch_list(std::initializer_list<int> fds) {
    // BEGIN LAB 2: A new epoll instance (closed on exec) watching the given descriptors for input,
    // level-triggered and not one-shot: the main thread's (shutdown pipe, listener)
    // and the workers' stop descriptor, which every worker must see, so it is never
    // disabled. A failure here is a setup failure: a system_error naming the call.
    // STUB: $THROW
    // BEGIN LAB: Create the epoll instance with epoll_create1(EPOLL_CLOEXEC)
    // (on failure throw_errno("epoll_create1")) and register each of `fds`
    // for EPOLLIN, with data.fd set to the descriptor (throw_errno("epoll_ctl")
    // on failure).
    UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) throw_errno("epoll_create1");
    for (int fd : fds) {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.fd = fd;
        if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &event) < 0) throw_errno("epoll_ctl");
    }
    return epoll;
    // END LAB
    // END LAB 2
}

// Blocks until a watched descriptor is ready, and returns at most
// `ready.size()` of them in `ready`. Returns false when a signal interrupted
// the wait (the caller then looks at the shutdown flag, or waits again).
bool wait_until_ready(int epoll, ReadyList& ready) {
    // BEGIN LAB 2: Wait in epoll_wait() for at most ready.size() events, for as long as it takes (a
    // timeout would only wake the thread for nothing), and leave in `ready` exactly
    // the events reported. A signal interrupts the wait (EINTR): that is not an
    // error. Any other failure is a bug, reported as a system_error naming the call.
    // STUB: $THROW
    // BEGIN LAB: Call epoll_wait() with room for ready.size() events and no
    // timeout (-1), then shrink `ready` to the number returned. On EINTR
    // return false; on any other error throw_errno("epoll_wait").
    int count = ::epoll_wait(epoll, ready.data(), static_cast<int>(ready.size()), -1);
    if (count >= 0) {
        ready.resize(static_cast<std::size_t>(count));
        return true;
    }
    if (errno != EINTR) throw_errno("epoll_wait");
    return false;
    // END LAB
    // END LAB 2
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
    // BEGIN LAB 2: A worker's turn with one connection. Find it in the shared table (it may be
    // gone); the lock guards the table, not the connection, and is never held while
    // serving, or one slow request stops every worker. A hang-up or an error is
    // reported even unasked, and must reach recv() or send() to be found out. Serve
    // it, then close it if it waits for nothing (or if the kernel refuses), or else
    // re-arm it for what it waits for next: after its one-shot report the kernel
    // stays silent about it, and without the re-arm the client is never served
    // again. From the re-arm on, another worker may be serving it: touch it no more,
    // but under the lock.
    // STUB: $THROW
    // BEGIN LAB: Find the Connection of event.data.fd in shared.connections,
    // holding shared.mutex (return if it is not there). EPOLLERR and EPOLLHUP
    // are reported even unasked: count them as both readable and writable.
    // Without the mutex, let connection.on_ready(readable, writable, options)
    // serve it; it returns what the connection waits for next. Then, holding
    // the mutex again: if it is finished, or re-arming it with
    // watch(..., EPOLL_CTL_MOD, ...) fails, erase it from the table (its
    // UniqueFd closes the socket).
    Connection* connection = nullptr;
    {
        std::lock_guard lock(shared.mutex);
        auto found = shared.connections.find(event.data.fd);
        if (found == shared.connections.end()) return;
        connection = &found->second;
    }
    bool trouble = event.events & (EPOLLERR | EPOLLHUP);
    bool readable = (event.events & EPOLLIN) || trouble;
    bool writable = (event.events & EPOLLOUT) || trouble;
    Interest next = connection->on_ready(readable, writable, options);
    std::lock_guard lock(shared.mutex);
    if (next.finished() || !watch(shared.epoll.get(), EPOLL_CTL_MOD, connection->fd(), next))
        shared.connections.erase(connection->fd());
    // END LAB
    // END LAB 2
}

// The body of every worker: one ready connection per epoll_wait(), served,
// until the stop descriptor is ready. One at a time, so that no ready
// connection waits behind another one's slow request while a worker is free.
// A signal interrupts the wait of whichever thread it lands on: the main
// thread learns of it from the shutdown pipe, so a worker just waits again.
// (epoll_wait fails otherwise only on a bug in this file; the exception then
// ends the process rather than leave a worker silently gone.)
void work(Shared& shared, const Options& options) {
    // BEGIN LAB 2: The worker's turn, again and again: wait on the shared set for one ready event
    // (a worker that took several would own connections it cannot serve yet, while
    // other workers idle), and serve that connection. Return once the stop
    // descriptor is reported: it stays readable, so every worker sees it. A signal
    // interrupts whichever thread it lands on; the main thread learns of it from the
    // shutdown pipe, so a worker just waits again.
    // STUB: $THROW
    ReadyList ready;
    for (;;) {
        ready.resize(1);
        if (!wait_until_ready(shared.epoll.get(), ready)) continue;
        if (ready.front().data.fd == shared.stop.get()) return;
        serve_connection(shared, ready.front(), options);
    }
    // END LAB 2
}

// Accepts the clients waiting in the backlog and registers them in the
// workers' set: from then on a worker serves each. The listener is
// non-blocking: accept() comes back empty once none is left (or no descriptor is).
void accept_clients(Listener& listener, Shared& shared) {
    // BEGIN LAB 2: Take the clients waiting in the backlog, but not without end: a flood of new
    // clients must not starve the ones connected (kMaxAcceptsPerWakeup). Put each in
    // the shared table and register it in the workers' set, both under the lock:
    // once registered, a worker may be serving it, and a worker may be closing a
    // finished connection whose descriptor number accept() hands back at once. If
    // the kernel refuses to watch a client, close that client only.
    // STUB: $THROW
    // BEGIN LAB: Call listener.accept() until it returns an empty UniqueFd
    // (at most kMaxAcceptsPerWakeup times). Holding shared.mutex, add each
    // client to the table (shared.connections.try_emplace(fd,
    // std::move(client))) and register it with watch(..., EPOLL_CTL_ADD, ...)
    // for connection.interest(); if the kernel refuses, erase it again. Both
    // under the mutex: a worker may be closing a finished connection at that
    // moment, and accept() may hand back its descriptor number at once.
    for (int accepted = 0; accepted < kMaxAcceptsPerWakeup; ++accepted) {
        UniqueFd client = listener.accept();
        if (!client) return;
        int fd = client.get();
        std::lock_guard lock(shared.mutex);
        auto [entry, inserted] = shared.connections.try_emplace(fd, std::move(client));
        if (inserted && !watch(shared.epoll.get(), EPOLL_CTL_ADD, fd, entry->second.interest()))
            shared.connections.erase(entry);
    }
    // END LAB
    // END LAB 2
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
// END LAB 3

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv,
                              {"epoll", "non-blocking sockets, epoll(), a pool of worker threads",
                               /*has_workers=*/true, "worker threads (0: 4 per CPU)"},
                              run);
}
