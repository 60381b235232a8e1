// Event loop with epoll, and a pool of worker threads: one thread waits for
// every client's socket at once, a fixed number of workers serve the ready ones.
//
// epoll keeps the watched set in the kernel: a descriptor is registered once
// (epoll_ctl) and each wait (epoll_wait) returns only the descriptors that are
// ready, so a wakeup costs O(ready), not O(watched) as with poll(). The loop
// thread only waits, accepts, and hands each ready connection to the pool; a
// worker reads it, processes its requests (the simulated --delay-us and
// --compute-us work included) and writes the replies, so that slow requests
// hold up one worker, not the loop. EPOLLONESHOT gives each connection one
// owner at a time: the kernel reports it once, then stays silent about it
// until the worker that served it re-arms it. Sockets are non-blocking and
// each connection's state lives in a Connection (labs/common/event_connection.hpp).
//
// Compare with solutions/poll/server.cpp: the same loop around poll(), where
// the loop thread serves the connections itself
// (`diff solutions/poll/server.cpp solutions/epoll/server.cpp`).
#include "errors.hpp"
#include "event_connection.hpp"
#include "server_main.hpp"
#include "shutdown.hpp"
#include "thread_pool.hpp"

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <vector>

namespace {

using namespace iolab;

// At most this many clients are accepted per wakeup, so that a flood of new
// connections cannot starve the clients already connected (Redis bounds its
// accept loop the same way).
constexpr int kMaxAcceptsPerWakeup = 256;
// At most this many ready descriptors per epoll_wait(); the rest stay ready
// and come back in the next call.
constexpr int kMaxEventsPerWait = 256;
// Ready connections waiting for a free worker. When the workers fall behind,
// the loop waits for them, and the clients' bytes wait in the kernel.
constexpr std::size_t kMaxQueuedTasks = 1024;

// What the loop thread and the workers share. The kernel keeps the watched
// set, behind the epoll descriptor: it is built once and changed one
// descriptor at a time, never rebuilt. The mutex guards the table (the loop
// inserts, workers erase); a Connection in it is not guarded: EPOLLONESHOT
// lets one thread at a time near it.
struct Shared {
    UniqueFd epoll;
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
    // BEGIN LAB: Fill an epoll_event: events = EPOLLONESHOT, plus EPOLLIN if
    // interest.read and EPOLLOUT if interest.write; data.fd = fd. Return
    // whether epoll_ctl(epoll, operation, fd, &event) succeeded.
    epoll_event event{};
    event.events = EPOLLONESHOT | (interest.read ? EPOLLIN : 0u) | (interest.write ? EPOLLOUT : 0u);
    event.data.fd = fd;
    return ::epoll_ctl(epoll, operation, fd, &event) == 0;
    // END LAB
}

UniqueFd watch_list(const Listener& listener) {
    // BEGIN LAB: Create the epoll instance with epoll_create1(EPOLL_CLOEXEC)
    // (on failure throw_errno("epoll_create1")) and register
    // shutdown_wakeup_fd() and listener.fd() for EPOLLIN, with data.fd set to
    // the descriptor (throw_errno("epoll_ctl") on failure). Not one-shot: only
    // the loop thread handles these two, and they stay watched.
    UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) throw_errno("epoll_create1");
    for (int fd : {shutdown_wakeup_fd(), listener.fd()}) {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.fd = fd;
        if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &event) < 0) throw_errno("epoll_ctl");
    }
    return epoll;
    // END LAB
}

// Blocks until a watched descriptor is ready. Returns false when a signal
// interrupted the wait (the loop then looks at the shutdown flag).
bool wait_until_ready(int epoll, ReadyList& ready) {
    // BEGIN LAB: Call epoll_wait() with room for kMaxEventsPerWait events and
    // no timeout (-1), then shrink `ready` to the number returned. On EINTR
    // return false; on any other error throw_errno("epoll_wait").
    ready.resize(kMaxEventsPerWait);
    int count = ::epoll_wait(epoll, ready.data(), kMaxEventsPerWait, -1);
    if (count >= 0) {
        ready.resize(static_cast<std::size_t>(count));
        return true;
    }
    if (errno != EINTR) throw_errno("epoll_wait");
    return false;
    // END LAB
}

bool reported(const ReadyList& ready, int fd) {
    return std::any_of(ready.begin(), ready.end(), [fd](const epoll_event& event) { return event.data.fd == fd; });
}
bool shutdown_signalled(const ReadyList& ready) { return reported(ready, shutdown_wakeup_fd()); }
bool clients_waiting(const ReadyList& ready, const Listener& listener) { return reported(ready, listener.fd()); }
bool is_connection(const epoll_event& event, const Listener& listener) {
    return event.data.fd != shutdown_wakeup_fd() && event.data.fd != listener.fd();
}

// A worker: serves one ready connection, then re-arms it for what it waits
// for next, or closes it. Until the re-arm this thread is the connection's
// only user; from the re-arm on, another worker may be serving it.
void serve_connection(Shared& shared, Connection& connection, bool readable, bool writable, const Options& options) {
    // BEGIN LAB: Let the connection handle its readiness:
    // connection.on_ready(readable, writable, options) returns what it waits
    // for next. Then, holding shared.mutex: if it is finished, or re-arming it
    // with watch(..., EPOLL_CTL_MOD, ...) fails, erase it from the table (its
    // UniqueFd closes the socket). Do both under the mutex: the loop looks
    // connections up under it, so a descriptor number closed here cannot be
    // reused by accept() and inserted while this erase is half done.
    Interest next = connection.on_ready(readable, writable, options);
    std::lock_guard lock(shared.mutex);
    if (next.finished() || !watch(shared.epoll.get(), EPOLL_CTL_MOD, connection.fd(), next))
        shared.connections.erase(connection.fd());
    // END LAB
}

// Hands every ready connection to a worker. The connection is disabled in
// the kernel until its worker re-arms it, so it is handed over once.
void serve_ready_connections(const ReadyList& ready, const Listener& listener, Shared& shared, ThreadPool& workers,
                             const Options& options) {
    // BEGIN LAB: For each event that is_connection(), find the Connection of
    // event.data.fd in shared.connections (holding shared.mutex), then submit
    // to the pool a task that calls serve_connection() with it. EPOLLERR and
    // EPOLLHUP are reported even unasked: count them as both readable and
    // writable. Release the mutex before submit(): a full queue waits for a
    // worker, and the workers need the mutex to finish.
    for (const epoll_event& event : ready) {
        if (!is_connection(event, listener)) continue;
        Connection* connection = nullptr;
        {
            std::lock_guard lock(shared.mutex);
            auto found = shared.connections.find(event.data.fd);
            if (found != shared.connections.end()) connection = &found->second;
        }
        if (!connection) continue;
        bool trouble = event.events & (EPOLLERR | EPOLLHUP);
        bool readable = (event.events & EPOLLIN) || trouble;
        bool writable = (event.events & EPOLLOUT) || trouble;
        workers.submit([&shared, connection, readable, writable, &options] {
            serve_connection(shared, *connection, readable, writable, options);
        });
    }
    // END LAB
}

// Accepts the clients waiting in the backlog. The listener is non-blocking:
// accept() comes back empty once none is left (or no descriptor is).
void accept_clients(Listener& listener, Shared& shared) {
    // BEGIN LAB: Call listener.accept() until it returns an empty UniqueFd
    // (at most kMaxAcceptsPerWakeup times). Holding shared.mutex, add each
    // client to the table (shared.connections.try_emplace(fd,
    // std::move(client))) and register it with watch(..., EPOLL_CTL_ADD, ...)
    // for connection.interest(); if the kernel refuses, erase it again.
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
}

void run(Listener& listener, const Options& options) {
    set_nonblocking(listener.fd());
    Shared shared;
    shared.epoll = watch_list(listener);
    // Declared after `shared`, so destroyed first: every worker has finished
    // its task and been joined before the connections it served are freed.
    ThreadPool workers(options.workers, kMaxQueuedTasks);
    while (!shutdown_requested()) {
        ReadyList ready;
        if (!wait_until_ready(shared.epoll.get(), ready)) continue;
        if (shutdown_signalled(ready)) return;   // SIGTERM, even one that came just before the wait
        serve_ready_connections(ready, listener, shared, workers, options);
        if (clients_waiting(ready, listener)) accept_clients(listener, shared);
    }
}

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(
        argc, argv, {"epoll", "non-blocking sockets, epoll(), a pool of worker threads", /*has_workers=*/true}, run);
}
