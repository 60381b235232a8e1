// The listening socket, shared by every model. Owns one spare descriptor for
// the EMFILE trick (see accept()).
#pragma once

#include "options.hpp"
#include "unique_fd.hpp"

namespace iolab {

// Whether other listening sockets may bind the same port. Shared: SO_REUSEPORT,
// which the kernel looks at when the socket binds (set later, it changes
// nothing: the next bind() finds the port taken). The kernel then spreads new
// connections over the sockets sharing the port, by a hash of each
// connection's addresses and ports.
enum class PortSharing { exclusive, shared };

class Listener {
public:
    // socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen; throws
    // std::system_error naming the call.
    explicit Listener(const Options& options, PortSharing sharing = PortSharing::exclusive);

    int fd() const noexcept { return socket_.get(); }
    int port() const noexcept { return port_; }

    // Accepts one connection. Returns an empty UniqueFd when there is nothing to
    // serve this time: interrupted by a signal, no pending connection on a
    // non-blocking listener, the client already gone, or no descriptor left.
    // Throws only when the listening socket itself is unusable. Listeners that
    // share a port may be used from several threads: their accept()s take turns.
    UniqueFd accept();

    // Gives up the listening socket and the spare descriptor: for a child
    // process that serves one connection and has no business keeping the port.
    void close() noexcept {
        socket_.reset();
        spare_.reset();
    }

private:
    UniqueFd socket_;
    UniqueFd spare_;  // held in reserve, released only to turn away a client at EMFILE
    int port_ = 0;
    PortSharing sharing_;
};

// Puts a descriptor into non-blocking mode: calls that would wait fail with EAGAIN.
void set_nonblocking(int fd);

}  // namespace iolab
