// Coroutines on a reactor: every client is served by a coroutine of its own,
// and one thread runs them all.
//
// A connection's coroutine is the thread-per-client server's loop, written
// the same way, with `co_await` where the thread blocked: where a thread
// sleeps in recv() until bytes arrive, the coroutine registers its interest
// with epoll (co_await readable(fd)) and suspends, handing the thread back to
// the loop. The loop waits in epoll_wait() for every socket at once and
// resumes the coroutine whose socket is ready, right after its co_await. So
// the code reads like a thread per client and runs like the epoll loop: one
// thread, no locks, a few hundred bytes of frame per client instead of a
// stack. Waiting is not working: --delay-us (a database query) is a timer,
// co_await sleep_for(), and ten thousand requests can wait at once; CPU work
// (--compute-us) goes to a small pool with co_await offload(), and the
// coroutine resumes on the loop thread when it is done.
// BEGIN LAB 3: At this level, the machinery (Task, the awaitables, timers, the pool, who owns a
// frame) is yours to write too, in this file: see the comment above run().
// STUB:
// The machinery (Task, the awaitables, timers, the pool, who owns a frame)
// is labs/common/coro_reactor.hpp; this file is the loop and the coroutines.
// END LAB 3
//
// Compare with solutions/threads/server.cpp
// (`diff solutions/threads/server.cpp solutions/coro/server.cpp`), whose
// threads run labs/common/blocking_session.cpp's serve_until_eof(), the
// blocking twin of serve_in_coroutine() below.
// BEGIN LAB 3: Your own coroutine machinery (labs/common has no reactor at this level): see the
// comment above run().
// STUB:
#include "coro_reactor.hpp"
// END LAB 3
#include "errors.hpp"
#include "line_protocol.hpp"
#include "request_work.hpp"
#include "server_main.hpp"
#include "shutdown.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string_view>
#include <vector>

namespace {

using namespace iolab;
// BEGIN LAB 3: The whole server, in run(): C++20 coroutines on an epoll reactor, one I/O
// thread. Each client is served by a coroutine that reads like the
// thread-per-client server's loop, with co_await where a thread would block:
// waiting for a socket registers interest with epoll and suspends, handing the
// thread back to one loop, which waits in epoll_wait() for every socket at once
// and resumes whichever coroutine's socket is ready. Write the coroutine type (who
// owns a suspended frame, and who frees it), the awaitables, and the loop. The
// sockets are non-blocking: a wake-up is a hint, and EAGAIN means wait again.
// Waiting is not working: --delay-us is a timer (the loop's epoll_wait() timeout),
// so thousands of requests can wait at once; --compute-us runs on a small pool of
// threads, and the coroutine resumes on the loop thread, so that no coroutine ever
// needs a lock. A frame must never be destroyed while the loop may resume it, and
// a descriptor must be forgotten before it is closed (its number comes back with
// the next accept). A client that has gone must not kill the server with SIGPIPE;
// bound what a connection holds, and return from run() on SIGTERM (the shutdown
// descriptor, watched like a socket), closing every connection.
// labs/coro/README.md explains each point.
using namespace std::chrono_literals;

// Bytes asked of one recv(), as in the blocking servers.
constexpr std::size_t kChunk = 16 * 1024;
// At most this many clients are accepted per wakeup, so that a flood of new
// connections cannot starve the clients already connected.
constexpr int kMaxAcceptsPerWakeup = 256;
constexpr int kMaxEvents = 256;

// Touched by the loop thread only, like everything a coroutine touches: no
// std::atomic, no mutex (compare the thread-per-client server's counters).
long connections_served = 0;

bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

// A request's CPU work (--compute-us) as the pool runs it: with a copy of
// the options, never the frame's (the frame belongs to the loop thread).
// Empty without --compute-us: co_await offload() then goes on at once.
std::function<void()> request_compute(const Options& options) {
    if (options.compute_us <= 0) return {};
    return [options] { simulate_request_compute(options); };
}

// The whole life of a connection. It takes the connection and a copy of the
// options by value: a coroutine's parameters are copied into its frame, and
// a reference would dangle once the accept loop has moved on.
Task serve_in_coroutine(UniqueFd client, Options options) {
    // BEGIN LAB 2: The whole life of one connection, as a coroutine: what the thread-per-client
    // server does with blocking calls (labs/common/blocking_session.cpp), with
    // co_await wherever a thread would block, so that one thread serves every
    // client. A readiness report is a hint, not a promise: a non-blocking call may
    // still say EAGAIN, and then the coroutine waits again. Nothing else runs
    // between two co_awaits, so memory used only between them can be shared by
    // every connection, while what must survive a co_await (the partial line, the
    // replies) lives in the frame: keep frames small, ten thousand idle clients
    // each hold one. Each request waits its --delay-us as a timer and runs its
    // --compute-us on the pool, never on the loop thread. Send every reply,
    // waiting for room when the socket is full, without SIGPIPE. A failed
    // connection just ends; the socket must be forgotten by the reactor before it
    // is closed (its number may come back with the next accept). Count the
    // connections served.
    // STUB: $THROW
    // BEGIN LAB: The loop of serve_until_eof() (labs/common/blocking_session.cpp),
    // with co_await where it blocks. Declare Watched watched(client.get())
    // first, and one static receive buffer of kChunk bytes shared by every
    // coroutine (no co_await between recv() and consume(): nobody else runs).
    // Then, until EOF or a failure: co_await readable(client.get()), one
    // recv() into it (EAGAIN or EINTR: wait again), feed the
    // LineProtocol; for each request co_await sleep_for() the --delay-us, then
    // co_await offload() its request_compute(); send all the replies
    // (MSG_NOSIGNAL), co_await writable(client.get()) when send() says EAGAIN.
    // At the end count the connection in connections_served.
    Watched watched(client.get());
    // One thread does all the I/O, and a coroutine uses this buffer only
    // between its recv() and protocol.consume(), with no co_await in between:
    // no other coroutine can run meanwhile, so one buffer (static: not in the
    // frame) serves every connection, and 10,000 idle frames stay small. What
    // must survive a co_await (the partial line, the replies) is in the frame.
    static char receive_buffer[kChunk];
    LineProtocol protocol;
    std::string replies;
    for (;;) {
        co_await readable(client.get());
        ssize_t received = ::recv(client.get(), receive_buffer, sizeof receive_buffer, 0);
        if (received < 0 && would_block(errno)) continue;  // another wake-up than we thought
        if (received < 0) break;                           // reset: just close
        std::string_view bytes(receive_buffer, static_cast<std::size_t>(received));
        std::size_t requests =
            received == 0 ? protocol.finish(replies) : protocol.consume(bytes, replies);
        for (std::size_t i = 0; i < requests; ++i) {
            co_await sleep_for(std::chrono::microseconds(options.delay_us));
            co_await offload(request_compute(options));
        }
        std::size_t sent = 0;
        while (sent < replies.size()) {
            // MSG_NOSIGNAL: a reset peer gives EPIPE here, never SIGPIPE.
            ssize_t now =
                ::send(client.get(), replies.data() + sent, replies.size() - sent, MSG_NOSIGNAL);
            if (now >= 0) sent += static_cast<std::size_t>(now);
            else if (would_block(errno)) co_await writable(client.get());
            else break;
        }
        if (sent < replies.size()) break;  // the connection failed
        replies.clear();
        if (received == 0) break;  // EOF: everything answered
    }
    ++connections_served;
    // END LAB
    // END LAB 2
}

// The accept loop, a coroutine too: it waits for the listener like any
// socket. The listener is non-blocking: accept() comes back empty once none
// is left (or no descriptor is: Listener::accept() turns the client away).
Task accept_clients(Reactor& reactor, Listener& listener, Options options) {
    // BEGIN LAB 2: The accept loop is a coroutine too: it waits for the listener like any
    // socket, then accepts what has come, each client non-blocking and served by a
    // coroutine of its own, handed to the Reactor (which owns its frame from then
    // on). Accept a bounded number per wake-up, so that a flood of new clients
    // cannot starve the connected ones; the listener is non-blocking, and an empty
    // accept means none is left (or no descriptor is).
    // STUB: $THROW
    // BEGIN LAB: Declare Watched watched(listener.fd()). Forever:
    // co_await readable(listener.fd()), then call listener.accept() until it
    // returns an empty UniqueFd (at most kMaxAcceptsPerWakeup times), making
    // each client non-blocking (set_nonblocking) and handing it to
    // reactor.spawn(serve_in_coroutine(std::move(client), options)).
    Watched watched(listener.fd());
    for (;;) {
        co_await readable(listener.fd());
        for (int accepted = 0; accepted < kMaxAcceptsPerWakeup; ++accepted) {
            UniqueFd client = listener.accept();
            if (!client) break;
            set_nonblocking(client.get());
            reactor.spawn(serve_in_coroutine(std::move(client), options));
        }
    }
    // END LAB
    // END LAB 2
}

// One descriptor the kernel reported: resume whoever waits for it. EPOLLERR
// and EPOLLHUP are reported even unasked: they wake the reader and the
// writer, whose next call then fails (or reads the end of the stream).
void resume_ready(Reactor& reactor, const epoll_event& event) {
    // BEGIN LAB 2: One descriptor epoll reported: the pool's eventfd means work is done (resume
    // those coroutines); any other descriptor wakes whoever waits to read it or to
    // write it. An error or a hang-up is reported even unasked, and must wake both
    // the reader and the writer, whose next call then fails or reads the end: a
    // coroutine left waiting would hold its client for ever.
    // STUB: $THROW
    // BEGIN LAB: If event.data.fd is reactor.offload_done_fd(), call
    // reactor.resume_offloaded() and return. Otherwise resume the reader
    // (reactor.resume_reader(fd)) if EPOLLIN, EPOLLERR or EPOLLHUP was
    // reported, then the writer (resume_writer) if EPOLLOUT, EPOLLERR or EPOLLHUP.
    int fd = event.data.fd;
    if (fd == reactor.offload_done_fd()) return reactor.resume_offloaded();
    bool trouble = event.events & (EPOLLERR | EPOLLHUP);
    if ((event.events & EPOLLIN) || trouble) reactor.resume_reader(fd);
    if ((event.events & EPOLLOUT) || trouble) reactor.resume_writer(fd);
    // END LAB
    // END LAB 2
}

// The loop: wait for any descriptor or the earliest timer, resume what is
// ready, until shutdown. Every coroutine runs inside one of these resume
// calls, on this thread, until its next co_await.
void run_loop(Reactor& reactor) {
    // BEGIN LAB 2: The loop, on this thread: every coroutine runs inside one of its resume
    // calls until its next co_await. Wait for every descriptor and for the
    // earliest timer at once (a signal interrupting the wait is no error), resume
    // what is ready, then the timers that are due. SIGTERM writes a descriptor of
    // its own (shutdown.hpp): watch it like a socket, and return as soon as it is
    // ready, so the server exits within a second.
    // STUB: $THROW
    // BEGIN LAB: Add shutdown_wakeup_fd() to reactor.epoll_fd() for EPOLLIN
    // (throw_errno("epoll_ctl") on failure). Then, until shutdown_requested():
    // epoll_wait() with room for kMaxEvents and reactor.timeout_ms() as the
    // timeout (EINTR: wait again; another error: throw_errno("epoll_wait")); return
    // if the shutdown descriptor is among the ready ones, else resume_ready()
    // each; then reactor.resume_expired_timers().
    epoll_event watch_shutdown{};
    watch_shutdown.events = EPOLLIN;
    watch_shutdown.data.fd = shutdown_wakeup_fd();
    if (::epoll_ctl(reactor.epoll_fd(), EPOLL_CTL_ADD, shutdown_wakeup_fd(), &watch_shutdown) < 0)
        throw_errno("epoll_ctl");
    std::vector<epoll_event> ready(kMaxEvents);
    while (!shutdown_requested()) {
        int count =
            ::epoll_wait(reactor.epoll_fd(), ready.data(), kMaxEvents, reactor.timeout_ms());
        if (count < 0 && errno != EINTR) throw_errno("epoll_wait");
        for (int i = 0; i < count; ++i) {
            if (ready[static_cast<std::size_t>(i)].data.fd == shutdown_wakeup_fd()) return;
            resume_ready(reactor, ready[static_cast<std::size_t>(i)]);
        }
        reactor.resume_expired_timers();
    }
    // END LAB
    // END LAB 2
}

void run(Listener& listener, const Options& options) {
    set_nonblocking(listener.fd());
    {
        // Destroyed at the end of the block, after the loop has returned: the
        // pool stops, and the frames still suspended are destroyed, closing
        // their connections.
        Reactor reactor(options.workers);
        reactor.spawn(accept_clients(reactor, listener, options));
        run_loop(reactor);
    }
    std::printf("coro: %ld connections served\n", connections_served);
}
// STUB: void run(Listener& listener, const Options& options) {
// STUB:     $THROW
// STUB: }
// END LAB 3

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv,
                              {"coro", "C++20 coroutines on an epoll reactor, one I/O thread",
                               /*has_workers=*/true, "offload pool threads (0: one per CPU)"},
                              run);
}
