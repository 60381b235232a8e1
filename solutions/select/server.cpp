// Event loop with select(): one thread serves every client, waiting for all of
// their sockets at once.
//
// select() takes bitmaps of descriptor numbers (fd_set) to watch for reading
// and for writing, and clears the bits of those that are not ready. An fd_set
// holds FD_SETSIZE (1024) bits: a descriptor numbered 1024 or more cannot be
// watched at all, so such a client is refused. The sets are rebuilt, copied
// into the kernel and scanned up to the highest descriptor on every call.
// Sockets are non-blocking and each connection's state lives in a Connection
// (labs/common/event_connection.hpp), not on a stack.
//
// Compare with solutions/poll/server.cpp: the same loop around poll()
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

#include <sys/select.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace {

using namespace iolab;

// BEGIN LAB 3: Serve every client from this one thread: the only place it may wait is select(), on
// every socket at once. Sockets are non-blocking (a recv() or send() that would wait
// returns EAGAIN instead; one blocking call stops every client). Each connection
// keeps its state in a struct found again by descriptor number; it is watched for
// writing only while replies are pending (a socket with room in its send buffer is
// always writable: the loop would spin), and not for reading while too many replies
// are pending (backpressure: memory stays bounded when a client sends without
// reading). A descriptor numbered FD_SETSIZE or more cannot be watched (FD_SET()
// past the set is memory corruption, an abort in this build): refuse that client and
// serve the others. Watch shutdown_wakeup_fd() too, and return when it is readable
// (a SIGTERM that came just before the wait is not lost). The listener's accept()
// comes back empty when no client is waiting, or no descriptor is left. A failure on
// one connection closes that connection only.
// STUB: void run(Listener& listener, const Options& options) {
// STUB:     $THROW
// STUB: }
// At most this many clients are accepted per wakeup, so that a flood of new
// connections cannot starve the clients already connected (Redis bounds its
// accept loop the same way).
constexpr int kMaxAcceptsPerWakeup = 256;

// The sets select() watches: the shutdown pipe and the listener for reading,
// then each connection for what it waits for next.
struct WatchList {
    fd_set read;
    fd_set write;
    int max_fd = -1;
};

void watch(WatchList& watched, int fd, Interest interest) {
    if (interest.read) FD_SET(fd, &watched.read);
    if (interest.write) FD_SET(fd, &watched.write);
    watched.max_fd = std::max(watched.max_fd, fd);
}

WatchList watch_list(const Listener& listener, const Connections& connections) {
    // BEGIN LAB 2: The sets select() is to watch, built anew before every call (select() overwrites
    // them with what was ready): the shutdown pipe and the listener for reading, and
    // each connection for exactly what it waits for next, as interest() says,
    // nothing more.
    // STUB: $THROW
    // BEGIN LAB: Return the sets to watch: FD_ZERO both, then watch()
    // shutdown_wakeup_fd() and listener.fd() for reading, and each
    // connection's fd for connection.interest(). (Every fd in the table is
    // below FD_SETSIZE: accept_clients() makes sure of that.)
    WatchList watched;
    FD_ZERO(&watched.read);
    FD_ZERO(&watched.write);
    watch(watched, shutdown_wakeup_fd(), {.read = true});
    watch(watched, listener.fd(), {.read = true});
    for (const auto& [fd, connection] : connections) watch(watched, fd, connection.interest());
    return watched;
    // END LAB
    // END LAB 2
}

// Blocks until a watched descriptor is ready. Returns false when a signal
// interrupted the wait (the loop then looks at the shutdown flag).
bool wait_until_ready(WatchList& watched) {
    // BEGIN LAB 2: Wait in select() until a watched descriptor is ready, for as long as it takes:
    // with nothing ready the loop has nothing to do, and a timeout would only wake
    // it for nothing (a zero one spins). A signal interrupts the wait (EINTR): that
    // is not an error. Any other failure is a bug, reported as a system_error naming
    // the call.
    // STUB: $THROW
    // BEGIN LAB: Call select() with max_fd + 1, both sets, no exception set
    // and no timeout (nullptr): the loop has nothing to do until a descriptor
    // is ready, and a zero timeout would spin at 100% CPU. On EINTR return
    // false; on any other error throw_errno("select").
    if (::select(watched.max_fd + 1, &watched.read, &watched.write, nullptr, nullptr) >= 0)
        return true;
    if (errno != EINTR) throw_errno("select");
    return false;
    // END LAB
    // END LAB 2
}

bool shutdown_signalled(const WatchList& watched) {
    return FD_ISSET(shutdown_wakeup_fd(), &watched.read);
}
bool clients_waiting(const WatchList& watched, const Listener& listener) {
    return FD_ISSET(listener.fd(), &watched.read);
}

// Hands every ready connection its events.
void serve_ready_connections(const WatchList& watched, Connections& connections,
                             const Options& options) {
    // BEGIN LAB 2: Give each connection that select() left in a set what it is ready for.
    // handle_ready() closes a finished connection and erases it from the table you
    // are walking.
    // STUB: $THROW
    // BEGIN LAB: For each connection in the table, call handle_ready(
    // connections, fd, readable, writable, options) with what FD_ISSET says
    // of the two sets. handle_ready() may erase the connection: step the
    // iterator on before the call.
    for (auto next = connections.begin(); next != connections.end();) {
        int fd = (next++)->first;
        handle_ready(connections, fd, FD_ISSET(fd, &watched.read), FD_ISSET(fd, &watched.write),
                     options);
    }
    // END LAB
    // END LAB 2
}

// A client whose descriptor does not fit in an fd_set is closed at once, so
// that it learns it was refused instead of waiting for an answer.
void refuse(UniqueFd client) {
    static long refused = 0;
    const char* format =
        "select: refused a client: descriptor %d does not fit in an fd_set (FD_SETSIZE %d); "
        "%ld refused so far\n";
    std::fprintf(stderr, format, client.get(), FD_SETSIZE, ++refused);
}

// Accepts the clients waiting in the backlog. The listener is non-blocking:
// accept() comes back empty once none is left (or no descriptor is).
void accept_clients(Listener& listener, Connections& connections) {
    // BEGIN LAB 2: Take the clients waiting in the backlog into the table, but not without end: a
    // flood of new clients must not starve the ones connected
    // (kMaxAcceptsPerWakeup). A descriptor numbered FD_SETSIZE or more can never be
    // watched: FD_SET() on it writes past the fd_set (an abort in this build), so
    // that client is refused, and the others served.
    // STUB: $THROW
    // BEGIN LAB: Call listener.accept() until it returns an empty UniqueFd
    // (at most kMaxAcceptsPerWakeup times) and add each client to the table:
    // connections.try_emplace(fd, std::move(client)). But FD_SET() on a
    // descriptor >= FD_SETSIZE writes past the end of the fd_set (this build
    // aborts instead): refuse() such a client and serve the others.
    for (int accepted = 0; accepted < kMaxAcceptsPerWakeup; ++accepted) {
        UniqueFd client = listener.accept();
        if (!client) return;
        int fd = client.get();
        if (fd >= FD_SETSIZE) refuse(std::move(client));
        else connections.try_emplace(fd, std::move(client));
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
    return iolab::server_main(argc, argv, {"select", "one thread, non-blocking sockets, select()"},
                              run);
}
