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
#include "event_connection.hpp"
#include "server_main.hpp"
#include "shutdown.hpp"

#include <sys/select.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace {

using namespace iolab;

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
    // TODO: Return the sets to watch: FD_ZERO both, then watch()
    //       shutdown_wakeup_fd() and listener.fd() for reading, and each
    //       connection's fd for connection.interest(). (Every fd in the table is
    //       below FD_SETSIZE: accept_clients() makes sure of that.)
    throw NotImplemented("labs/select/server.cpp:49: see the TODO there");
}

// Blocks until a watched descriptor is ready. Returns false when a signal
// interrupted the wait (the loop then looks at the shutdown flag).
bool wait_until_ready(WatchList& watched) {
    // TODO: Call select() with max_fd + 1, both sets, no exception set
    //       and no timeout (nullptr): the loop has nothing to do until a descriptor
    //       is ready, and a zero timeout would spin at 100% CPU. On EINTR return
    //       false; on any other error throw_errno("select").
    throw NotImplemented("labs/select/server.cpp:59: see the TODO there");
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
    // TODO: For each connection in the table, call handle_ready(
    //       connections, fd, readable, writable, options) with what FD_ISSET says
    //       of the two sets. handle_ready() may erase the connection: step the
    //       iterator on before the call.
    throw NotImplemented("labs/select/server.cpp:76: see the TODO there");
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
    // TODO: Call listener.accept() until it returns an empty UniqueFd
    //       (at most kMaxAcceptsPerWakeup times) and add each client to the table:
    //       connections.try_emplace(fd, std::move(client)). But FD_SET() on a
    //       descriptor >= FD_SETSIZE writes past the end of the fd_set (this build
    //       aborts instead): refuse() such a client and serve the others.
    throw NotImplemented("labs/select/server.cpp:96: see the TODO there");
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

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv, {"select", "one thread, non-blocking sockets, select()"},
                              run);
}
