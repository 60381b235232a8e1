// One event loop per core (the reactors of nginx's workers, Seastar's shards,
// Netty's event loop group): --workers threads, each with its own epoll set
// and its own listening socket on the same port, and nothing shared.
//
// Every listening socket sets SO_REUSEPORT before it binds, so that the kernel
// lets them all bind one port; it then spreads new connections over them, by
// a hash of each connection's addresses and ports. A client is accepted by
// the loop whose socket the kernel chose and stays with that loop until it
// leaves: the loop reads it, processes its requests (the simulated --delay-us
// and --compute-us work included, on the loop's thread: a slow request holds
// up every client of that loop, and no other) and writes the replies. No
// other thread ever sees the connection, so there is no mutex, no
// EPOLLONESHOT and no re-arm per request: epoll_ctl() is called only when
// what a connection waits for changes. Sockets are non-blocking and each
// connection's state lives in a Connection (labs/common/event_connection.hpp).
//
// Compare with solutions/epoll/server.cpp: one epoll set shared by a pool of
// workers, where EPOLLONESHOT and a mutex keep two workers off one connection
// (`diff solutions/epoll/server.cpp solutions/reactors/server.cpp`).
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

#include <cerrno>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <thread>
#include <vector>

namespace {

using namespace iolab;

// BEGIN LAB 3: Run --workers event loops (0: one per CPU), each on a thread of its own (this thread
// runs one of them), and share nothing between them: each loop has its own epoll
// set, its own listening socket on this server's port and its own connections, from
// accept() to close(). The listening sockets share the port (SO_REUSEPORT, which a
// Listener made with PortSharing::shared sets before bind(); the kernel then spreads
// new connections over them), so no thread hands a client to another, no lock guards
// anything, no event is one-shot, and epoll_ctl() is called only when what a
// connection waits for changes. A loop serves its clients' requests itself (the
// simulated work included): a slow request holds up that loop's clients and no
// other. Sockets are non-blocking; a connection is watched for writing only while
// replies are pending (a socket with room in its send buffer is always writable: a
// spin), and not for reading while too many replies are pending (backpressure).
// Every loop watches shutdown_wakeup_fd() and returns on SIGTERM; join the loops'
// threads before freeing what they use. The listener's accept() comes back empty
// when no client is waiting (another loop may have taken it), or no descriptor is
// left. A failure on one connection closes that connection only.
// STUB: void run(Listener& listener, const Options& options) {
// STUB:     $THROW
// STUB: }
// At most this many clients are accepted per wakeup, so that a flood of new
// connections cannot starve the clients already connected (Redis bounds its
// accept loop the same way).
constexpr int kMaxAcceptsPerWakeup = 256;
// Ready descriptors taken from the kernel per epoll_wait(): a loop serves
// them all before it waits again.
constexpr std::size_t kMaxReadyPerWait = 256;

// What one loop owns: its listening socket, its epoll set and its clients.
// Built by the main thread before the loop's thread starts, then touched by
// that thread alone: nothing here is guarded, because nothing is shared.
struct Loop {
    Listener& listener;
    UniqueFd epoll;  // the listener, the shutdown pipe, the stop eventfd, this loop's clients
    Connections connections;
};

// What epoll_wait() returns: the ready descriptors only.
using ReadyList = std::vector<epoll_event>;

// Registers (EPOLL_CTL_ADD) a connection, or changes (EPOLL_CTL_MOD) what it
// is watched for. Level-triggered and not one-shot: one thread waits on this
// set, so a connection it reports is never being served by another thread at
// the same time. Returns false if the kernel refused.
bool watch(int epoll, int operation, int fd, Interest interest) {
    // BEGIN LAB 2: Register a connection in this loop's set, or change what it is watched for, to
    // exactly what it waits for next; the event carries the descriptor, by which the
    // loop finds the connection again. Level-triggered and not one-shot: only this
    // loop's thread waits on this set, so a connection it reports is in no other
    // thread's hands, and nothing needs re-arming. Report whether the kernel agreed.
    // STUB: $THROW
    // BEGIN LAB: Fill an epoll_event: events = EPOLLIN if interest.read, plus
    // EPOLLOUT if interest.write (no EPOLLONESHOT: nobody else waits on this
    // set); data.fd = fd. Return whether epoll_ctl(epoll, operation, fd,
    // &event) succeeded.
    epoll_event event{};
    event.events = (interest.read ? EPOLLIN : 0u) | (interest.write ? EPOLLOUT : 0u);
    event.data.fd = fd;
    return ::epoll_ctl(epoll, operation, fd, &event) == 0;
    // END LAB
    // END LAB 2
}

// An epoll set watching `fds` for input, level-triggered: each loop's, with
// its listener and the two descriptors that tell it to return.
UniqueFd watch_list(std::initializer_list<int> fds) {
    // BEGIN LAB 2: A new epoll instance (closed on exec) watching the given descriptors for input,
    // level-triggered: each loop's listener, and the two descriptors that tell it to
    // return. A failure here is a setup failure: a system_error naming the call.
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

bool same(Interest a, Interest b) { return a.read == b.read && a.write == b.write; }

// On the loop's thread: serves one ready connection, then tells the kernel
// what it waits for next if that changed (most requests change nothing: a
// reply that fits in the send buffer leaves the connection waiting to read),
// or closes it.
void serve_connection(Loop& loop, const epoll_event& event, const Options& options) {
    // BEGIN LAB 2: Serve one ready connection of this loop (one closed earlier in the same batch of
    // events is no longer in the table). A hang-up or an error is reported even
    // unasked, and must reach recv() or send() to be found out. Then close it if it
    // waits for nothing, or tell the kernel what it waits for next, but only if that
    // changed: epoll_ctl() is a system call, and most requests change nothing (the
    // reply fits in the send buffer, the connection waits to read again). If the
    // kernel refuses, close this connection only.
    // STUB: $THROW
    // BEGIN LAB: Find the Connection of event.data.fd in loop.connections
    // (return if it is not there: closed earlier in this batch). EPOLLERR and
    // EPOLLHUP are reported even unasked: count them as both readable and
    // writable. Note connection.interest(), let connection.on_ready(readable,
    // writable, options) serve it, and erase it from the table (its UniqueFd
    // closes the socket) if what it returns is finished(), or if it differs
    // from the interest noted and watch(..., EPOLL_CTL_MOD, ...) fails.
    auto found = loop.connections.find(event.data.fd);
    if (found == loop.connections.end()) return;
    Connection& connection = found->second;
    bool trouble = event.events & (EPOLLERR | EPOLLHUP);
    bool readable = (event.events & EPOLLIN) || trouble;
    bool writable = (event.events & EPOLLOUT) || trouble;
    Interest before = connection.interest();
    Interest next = connection.on_ready(readable, writable, options);
    if (next.finished() ||
        (!same(next, before) && !watch(loop.epoll.get(), EPOLL_CTL_MOD, connection.fd(), next)))
        loop.connections.erase(found);
    // END LAB
    // END LAB 2
}

// Accepts the clients waiting in this loop's backlog and registers them in
// this loop's set: from then on this loop, and no other, serves each. The
// listener is non-blocking: accept() comes back empty once none is left (or
// no descriptor is).
void accept_clients(Loop& loop) {
    // BEGIN LAB 2: Take the clients waiting in this loop's backlog, but not without end: a flood of
    // new clients must not starve the ones connected (kMaxAcceptsPerWakeup). Put
    // each in this loop's table and register it in this loop's set: from then on
    // this loop alone serves it, so nothing needs a lock. If the kernel refuses to
    // watch a client, close that client only.
    // STUB: $THROW
    // BEGIN LAB: Call loop.listener.accept() until it returns an empty
    // UniqueFd (at most kMaxAcceptsPerWakeup times). Add each client to the
    // table (loop.connections.try_emplace(fd, std::move(client))) and register
    // it with watch(..., EPOLL_CTL_ADD, ...) for connection.interest(); if the
    // kernel refuses, erase it again. No mutex: only this thread uses the table.
    for (int accepted = 0; accepted < kMaxAcceptsPerWakeup; ++accepted) {
        UniqueFd client = loop.listener.accept();
        if (!client) return;
        int fd = client.get();
        auto [entry, inserted] = loop.connections.try_emplace(fd, std::move(client));
        if (inserted && !watch(loop.epoll.get(), EPOLL_CTL_ADD, fd, entry->second.interest()))
            loop.connections.erase(entry);
    }
    // END LAB
    // END LAB 2
}

// The body of every loop, on its own thread: wait, serve every ready client,
// accept the new ones, until the shutdown pipe (SIGTERM) or the stop eventfd
// is ready. Both are level-triggered and never drained, so every loop sees
// them. (epoll_wait fails otherwise only on a bug in this file; the exception
// then ends the process rather than leave a loop and its clients silently gone.)
void run_loop(Loop& loop, int stop, const Options& options) {
    // BEGIN LAB 2: A loop's turns, on its own thread, until the shutdown pipe (SIGTERM) or the stop
    // descriptor is reported: both stay readable, so every loop sees them. Each turn
    // takes a batch of ready events from the kernel (up to kMaxReadyPerWait: one
    // system call for many clients), serves every ready connection in it, and
    // accepts the new clients once the batch is served. A signal that interrupts the
    // wait is not an error: look at the shutdown flag and wait again.
    // STUB: $THROW
    ReadyList ready;
    while (!shutdown_requested()) {
        ready.resize(kMaxReadyPerWait);
        if (!wait_until_ready(loop.epoll.get(), ready)) continue;
        bool clients_waiting = false;
        for (const epoll_event& event : ready) {
            int fd = event.data.fd;
            if (fd == shutdown_wakeup_fd() || fd == stop) return;
            if (fd == loop.listener.fd()) clients_waiting = true;
            else serve_connection(loop, event, options);
        }
        if (clients_waiting) accept_clients(loop);
    }
    // END LAB 2
}

// The listening sockets of loops 1 to count - 1, on the port that
// server_main's (loop 0's, bound with SO_REUSEPORT too) was given: with
// --port 0 the kernel picked it, so the others ask for that one.
std::deque<Listener> more_listeners(const Listener& first, const Options& options, int count) {
    // BEGIN LAB 2: The listening sockets of the other loops, on the port that loop 0's listener was
    // given (with --port 0, the kernel chose it). Each must share the port, or its
    // bind() fails with EADDRINUSE, and be non-blocking: the kernel may give a
    // waiting client to another loop, and a loop must never block in accept().
    // STUB: $THROW
    // BEGIN LAB: Copy `options`, set its port to first.port(), and open
    // count - 1 Listeners on it with PortSharing::shared (each sets
    // SO_REUSEPORT before bind(); without it, the second bind() fails with
    // EADDRINUSE). Put each in set_nonblocking() mode: a loop must never
    // block in accept(), the kernel may give the waiting client to another loop.
    Options same_port = options;
    same_port.port = first.port();
    std::deque<Listener> listeners;
    for (int i = 1; i < count; ++i) {
        listeners.emplace_back(same_port, PortSharing::shared);
        set_nonblocking(listeners.back().fd());
    }
    return listeners;
    // END LAB
    // END LAB 2
}

// The loops' threads, but loop 0's, which is the main thread: started once,
// joined by the main thread. Stopping makes the stop eventfd readable; every
// loop watches it, and one in the middle of a request finishes it first.
class LoopThreads {
public:
    LoopThreads(std::deque<Loop>& loops, int stop, const Options& options) : stop_(stop) {
        try {
            for (std::size_t i = 1; i < loops.size(); ++i)
                threads_.emplace_back(
                    [&loop = loops[i], stop, &options] { run_loop(loop, stop, options); });
        } catch (...) {
            join();  // a destructor does not run for an object whose constructor threw
            throw;
        }
    }
    ~LoopThreads() { join(); }
    LoopThreads(const LoopThreads&) = delete;
    LoopThreads& operator=(const LoopThreads&) = delete;

private:
    void join() {
        std::uint64_t one = 1;
        // The eventfd's counter cannot overflow: this write cannot fail.
        [[maybe_unused]] ssize_t written = ::write(stop_, &one, sizeof one);
        for (std::thread& thread : threads_) thread.join();
        threads_.clear();
    }

    int stop_;
    std::vector<std::thread> threads_;
};

// A loop's epoll set watches its listener, and the two descriptors that tell it to return.
Loop open_loop(Listener& listener, int stop) {
    return {listener, watch_list({shutdown_wakeup_fd(), stop, listener.fd()}), {}};
}

int loop_count(const Options& options) {
    if (options.workers > 0) return options.workers;
    int cpus = static_cast<int>(std::thread::hardware_concurrency());
    return cpus > 0 ? cpus : 1;  // 0: the count is not known
}

void run(Listener& listener, const Options& options) {
    set_nonblocking(listener.fd());
    UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
    if (!stop) throw_errno("eventfd");
    std::deque<Listener> listeners = more_listeners(listener, options, loop_count(options));
    std::deque<Loop> loops;
    loops.push_back(open_loop(listener, stop.get()));
    for (Listener& more : listeners) loops.push_back(open_loop(more, stop.get()));
    // Declared after `loops`, so destroyed first: every loop has returned and
    // been joined before the connections it served are freed.
    LoopThreads threads(loops, stop.get(), options);
    run_loop(loops.front(), stop.get(), options);
}
// END LAB 3

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv,
                              {"reactors", "one epoll loop per thread, each with its own listener",
                               /*has_workers=*/true, "event loops, a thread each (0: one per CPU)",
                               /*shares_port=*/true},
                              run);
}
