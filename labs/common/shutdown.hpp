// Orderly shutdown on SIGINT and SIGTERM, and immunity to SIGPIPE.
//
// The handlers are installed without SA_RESTART, so a blocking call (accept,
// recv, send, poll, ...) that the signal interrupts returns -1 with EINTR and
// the server gets a chance to look at shutdown_requested().
#pragma once

namespace iolab {

// Installs the handlers. `listen_fd` is shut down for reading by the handler,
// which wakes a thread blocked in accept() even if the signal was delivered to
// another thread. SIGPIPE is ignored: writing to a connection the peer has
// reset then fails with EPIPE instead of killing the whole server.
void install_shutdown_handlers(int listen_fd);

// True once SIGINT or SIGTERM has arrived. Safe to call from any thread.
bool shutdown_requested() noexcept;

// In a child process, right after fork(): makes the inherited handler act on
// this process alone. A child inherits the handler's state, but shutdown(2)
// acts on the socket, which parent and child share, not on one process's
// descriptor: left as it is, a SIGTERM sent to one child would shut down the
// parent's listening socket, and a byte the child's handler writes to the
// inherited self-pipe could wake (and be drained by) the parent. After this
// call the handler no longer touches the listener, watches none of the
// inherited connections, and writes to a self-pipe of the child's own. A
// shutdown already requested before the fork stays requested.
void reset_shutdown_handling_in_child() noexcept;

// A descriptor that becomes readable when shutdown is requested (the read end
// of a self-pipe), for event loops to watch next to their sockets so that a
// signal arriving just before they block cannot be missed.
int shutdown_wakeup_fd() noexcept;

// While a ShutdownWatch lives, a shutdown request also shuts its connection
// down (shutdown(2), SHUT_RDWR), so that a thread blocked in recv() or send()
// on it wakes up at once. This closes the race a flag alone leaves open: a
// signal that arrives just before the thread enters recv() would otherwise
// leave it blocked until the client speaks. Used by the blocking models.
class ShutdownWatch {
public:
    explicit ShutdownWatch(int connection_fd) noexcept;
    ~ShutdownWatch();
    ShutdownWatch(const ShutdownWatch&) = delete;
    ShutdownWatch& operator=(const ShutdownWatch&) = delete;

private:
    int fd_;
};

}  // namespace iolab
