// Event loop with poll(): one thread serves every client, waiting for all of
// their sockets at once.
//
// poll() takes an array of (descriptor, events wanted) and fills in each
// entry's events that happened. Unlike select() it has no ceiling on
// descriptor numbers, but the whole array is copied into the kernel and
// scanned on every call: each wait costs O(number of connections), however
// few of them are ready. Sockets are non-blocking and each connection's state
// lives in a Connection (labs/common/event_connection.hpp), not on a stack.
//
// Compare with solutions/select/server.cpp: the same loop around select()
// (`diff solutions/select/server.cpp solutions/poll/server.cpp`).
#include "errors.hpp"
// BEGIN LAB 3: Each client's state between two events (its partial line, its replies not yet sent,
// whether it has finished sending) is yours to keep, in a struct of your own:
// line_protocol.hpp keeps the partial line.
// STUB:
#include "event_connection.hpp"
// END LAB 3
#include "server_main.hpp"
#include "shutdown.hpp"

#include <poll.h>

#include <cerrno>
#include <vector>

namespace {

using namespace iolab;

// BEGIN LAB 3: Serve every client from this one thread: the only place it may wait is poll(), on
// every socket at once. Sockets are non-blocking (a recv() or send() that would wait
// returns EAGAIN instead; one blocking call stops every client). Each connection
// keeps its state in a struct found again by descriptor number; it is watched for
// writing only while replies are pending (a socket with room in its send buffer is
// always writable: the loop would spin), and not for reading while too many replies
// are pending (backpressure: memory stays bounded when a client sends without
// reading). poll() reports a hang-up or an error even unasked: the connection must
// then find out what happened and be closed, or the loop spins on it. Unlike
// select(), poll() has no ceiling on descriptor numbers: serve every client. Watch
// shutdown_wakeup_fd() too, and return when it is readable (a SIGTERM that came just
// before the wait is not lost). The listener's accept() comes back empty when no
// client is waiting, or no descriptor is left. A failure on one connection closes
// that connection only.
// STUB: void run(Listener& listener, const Options& options) {
// STUB:     $THROW
// STUB: }
// At most this many clients are accepted per wakeup, so that a flood of new
// connections cannot starve the clients already connected (Redis bounds its
// accept loop the same way).
constexpr int kMaxAcceptsPerWakeup = 256;

// The array poll() watches: the shutdown pipe, the listener, then one entry
// per connection for what it waits for next.
using WatchList = std::vector<pollfd>;
constexpr std::size_t kShutdownEntry = 0;
constexpr std::size_t kListenerEntry = 1;
constexpr std::size_t kFirstConnectionEntry = 2;

WatchList watch_list(const Listener& listener, const Connections& connections) {
    // BEGIN LAB 2: The array poll() is to watch, built anew before every call: the shutdown pipe
    // and the listener for input, then one entry per connection asking for exactly
    // what it waits for next, as interest() says, nothing more.
    // serve_ready_connections() and the loop find the first two entries at fixed
    // places (kShutdownEntry, kListenerEntry).
    // STUB: $THROW
    // BEGIN LAB: Return one pollfd per descriptor to watch, in this order:
    // shutdown_wakeup_fd() for POLLIN, listener.fd() for POLLIN, then each
    // connection's fd with POLLIN if connection.interest().read and POLLOUT
    // if connection.interest().write (the events field is a short).
    WatchList watched{{shutdown_wakeup_fd(), POLLIN, 0}, {listener.fd(), POLLIN, 0}};
    watched.reserve(kFirstConnectionEntry + connections.size());
    for (const auto& [fd, connection] : connections) {
        Interest interest = connection.interest();
        short events = 0;
        if (interest.read) events |= POLLIN;
        if (interest.write) events |= POLLOUT;
        watched.push_back({fd, events, 0});
    }
    return watched;
    // END LAB
    // END LAB 2
}

// Blocks until a watched descriptor is ready. Returns false when a signal
// interrupted the wait (the loop then looks at the shutdown flag).
bool wait_until_ready(WatchList& watched) {
    // BEGIN LAB 2: Wait in poll() until a watched descriptor is ready, for as long as it takes:
    // with nothing ready the loop has nothing to do, and a timeout would only wake
    // it for nothing (a zero one spins). A signal interrupts the wait (EINTR): that
    // is not an error. Any other failure is a bug, reported as a system_error naming
    // the call.
    // STUB: $THROW
    // BEGIN LAB: Call poll() on the whole array with no timeout (-1): the
    // loop has nothing to do until a descriptor is ready, and a timeout of 0
    // would spin at 100% CPU. On EINTR return false; on any other error
    // throw_errno("poll").
    if (::poll(watched.data(), watched.size(), -1) >= 0) return true;
    if (errno != EINTR) throw_errno("poll");
    return false;
    // END LAB
    // END LAB 2
}

bool shutdown_signalled(const WatchList& watched) {
    return watched[kShutdownEntry].revents & POLLIN;
}
bool clients_waiting(const WatchList& watched, const Listener&) {
    return watched[kListenerEntry].revents & POLLIN;
}

// Hands every ready connection its events.
void serve_ready_connections(const WatchList& watched, Connections& connections,
                             const Options& options) {
    // BEGIN LAB 2: Give each connection that poll() reported what it is ready for. poll() also
    // reports a hang-up or an error that nobody asked for: the connection must try
    // its recv() or send() to find out what happened, or it stays reported and the
    // loop spins. handle_ready() closes a finished connection and erases it from the
    // table (not from the array you walk).
    // STUB: $THROW
    // BEGIN LAB: For each connection entry (from kFirstConnectionEntry on)
    // whose revents is not 0, call handle_ready(connections, fd, readable,
    // writable, options). POLLERR and POLLHUP are reported even unasked:
    // count them as both readable and writable, so that the next recv() or
    // send() finds out what happened and the connection is closed.
    for (std::size_t entry = kFirstConnectionEntry; entry < watched.size(); ++entry) {
        short events = watched[entry].revents;
        if (events == 0) continue;
        bool trouble = events & (POLLERR | POLLHUP);
        handle_ready(connections, watched[entry].fd, (events & POLLIN) || trouble,
                     (events & POLLOUT) || trouble, options);
    }
    // END LAB
    // END LAB 2
}

// Accepts the clients waiting in the backlog. The listener is non-blocking:
// accept() comes back empty once none is left (or no descriptor is).
void accept_clients(Listener& listener, Connections& connections) {
    // BEGIN LAB 2: Take the clients waiting in the backlog into the table, but not without end: a
    // flood of new clients must not starve the ones connected
    // (kMaxAcceptsPerWakeup). poll() has no ceiling on descriptor numbers: every
    // client is served.
    // STUB: $THROW
    // BEGIN LAB: Call listener.accept() until it returns an empty UniqueFd
    // (at most kMaxAcceptsPerWakeup times) and add each client to the table:
    // connections.try_emplace(fd, std::move(client)).
    for (int accepted = 0; accepted < kMaxAcceptsPerWakeup; ++accepted) {
        UniqueFd client = listener.accept();
        if (!client) return;
        int fd = client.get();
        connections.try_emplace(fd, std::move(client));
    }
    // END LAB
    // END LAB 2
}

void run(Listener& listener, const Options& options) {
    set_nonblocking(listener.fd());
    Connections connections;
    while (!shutdown_requested()) {
        WatchList watched = watch_list(listener, connections);
        if (!wait_until_ready(watched)) continue;
        if (shutdown_signalled(watched))
            return;  // SIGTERM, even one that came just before the wait
        serve_ready_connections(watched, connections, options);
        if (clients_waiting(watched, listener)) accept_clients(listener, connections);
    }
}
// END LAB 3

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv, {"poll", "one thread, non-blocking sockets, poll()"},
                              run);
}
