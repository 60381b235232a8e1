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
#include "event_connection.hpp"
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
    // TODO: Fill an epoll_event: events = EPOLLIN if interest.read, plus
    //       EPOLLOUT if interest.write (no EPOLLONESHOT: nobody else waits on this
    //       set); data.fd = fd. Return whether epoll_ctl(epoll, operation, fd,
    //       &event) succeeded.
    throw NotImplemented("labs/reactors/server.cpp:65: see the TODO there");
}

// An epoll set watching `fds` for input, level-triggered: each loop's, with
// its listener and the two descriptors that tell it to return.
UniqueFd watch_list(std::initializer_list<int> fds) {
    // TODO: Create the epoll instance with epoll_create1(EPOLL_CLOEXEC)
    //       (on failure throw_errno("epoll_create1")) and register each of `fds`
    //       for EPOLLIN, with data.fd set to the descriptor (throw_errno("epoll_ctl")
    //       on failure).
    throw NotImplemented("labs/reactors/server.cpp:75: see the TODO there");
}

// Blocks until a watched descriptor is ready, and returns at most
// `ready.size()` of them in `ready`. Returns false when a signal interrupted
// the wait (the caller then looks at the shutdown flag, or waits again).
bool wait_until_ready(int epoll, ReadyList& ready) {
    // TODO: Call epoll_wait() with room for ready.size() events and no
    //       timeout (-1), then shrink `ready` to the number returned. On EINTR
    //       return false; on any other error throw_errno("epoll_wait").
    throw NotImplemented("labs/reactors/server.cpp:86: see the TODO there");
}

bool same(Interest a, Interest b) { return a.read == b.read && a.write == b.write; }

// On the loop's thread: serves one ready connection, then tells the kernel
// what it waits for next if that changed (most requests change nothing: a
// reply that fits in the send buffer leaves the connection waiting to read),
// or closes it.
void serve_connection(Loop& loop, const epoll_event& event, const Options& options) {
    // TODO: Find the Connection of event.data.fd in loop.connections
    //       (return if it is not there: closed earlier in this batch). EPOLLERR and
    //       EPOLLHUP are reported even unasked: count them as both readable and
    //       writable. Note connection.interest(), let connection.on_ready(readable,
    //       writable, options) serve it, and erase it from the table (its UniqueFd
    //       closes the socket) if what it returns is finished(), or if it differs
    //       from the interest noted and watch(..., EPOLL_CTL_MOD, ...) fails.
    throw NotImplemented("labs/reactors/server.cpp:99: see the TODO there");
}

// Accepts the clients waiting in this loop's backlog and registers them in
// this loop's set: from then on this loop, and no other, serves each. The
// listener is non-blocking: accept() comes back empty once none is left (or
// no descriptor is).
void accept_clients(Loop& loop) {
    // TODO: Call loop.listener.accept() until it returns an empty
    //       UniqueFd (at most kMaxAcceptsPerWakeup times). Add each client to the
    //       table (loop.connections.try_emplace(fd, std::move(client))) and register
    //       it with watch(..., EPOLL_CTL_ADD, ...) for connection.interest(); if the
    //       kernel refuses, erase it again. No mutex: only this thread uses the table.
    throw NotImplemented("labs/reactors/server.cpp:114: see the TODO there");
}

// The body of every loop, on its own thread: wait, serve every ready client,
// accept the new ones, until the shutdown pipe (SIGTERM) or the stop eventfd
// is ready. Both are level-triggered and never drained, so every loop sees
// them. (epoll_wait fails otherwise only on a bug in this file; the exception
// then ends the process rather than leave a loop and its clients silently gone.)
void run_loop(Loop& loop, int stop, const Options& options) {
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
}

// The listening sockets of loops 1 to count - 1, on the port that
// server_main's (loop 0's, bound with SO_REUSEPORT too) was given: with
// --port 0 the kernel picked it, so the others ask for that one.
std::deque<Listener> more_listeners(const Listener& first, const Options& options, int count) {
    // TODO: Copy `options`, set its port to first.port(), and open
    //       count - 1 Listeners on it with PortSharing::shared (each sets
    //       SO_REUSEPORT before bind(); without it, the second bind() fails with
    //       EADDRINUSE). Put each in set_nonblocking() mode: a loop must never
    //       block in accept(), the kernel may give the waiting client to another loop.
    throw NotImplemented("labs/reactors/server.cpp:147: see the TODO there");
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

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv,
                              {"reactors", "one epoll loop per thread, each with its own listener",
                               /*has_workers=*/true, "event loops, a thread each (0: one per CPU)",
                               /*shares_port=*/true},
                              run);
}
