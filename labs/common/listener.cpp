#include "listener.hpp"

#include "errors.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <mutex>
#include <stdexcept>

namespace iolab {

namespace {

// The backlog is the queue of connections the kernel has completed but the
// server has not accept()ed yet. SOMAXCONN caps it (4096 on current kernels).
constexpr int kListenBacklog = SOMAXCONN;

sockaddr_in parse_address(const Options& options) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(options.port));
    if (inet_pton(AF_INET, options.host.c_str(), &address.sin_addr) != 1)
        throw std::invalid_argument("--host " + options.host +
                                    " is not an IPv4 address like 127.0.0.1");
    return address;
}

// Taken by every accept() on a listener that shares its port. At EMFILE the
// trick below frees a descriptor for a moment: an accept() of another thread
// could take it first, leaving this listener without its spare, and its loop
// woken at once, forever, by the client it can no longer turn away. Held for
// one accept4() (two at EMFILE), never while a request is served.
std::mutex shared_port_accepts;

UniqueFd open_spare() { return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

}  // namespace

Listener::Listener(const Options& options, PortSharing sharing)
    : spare_(open_spare()), sharing_(sharing) {
    sockaddr_in address = parse_address(options);
    socket_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!socket_) throw_errno("socket");
    // Without SO_REUSEADDR a restarted server cannot bind while connections of
    // its previous run linger in TIME_WAIT.
    int on = 1;
    if (::setsockopt(socket_.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0)
        throw_errno("setsockopt(SO_REUSEADDR)");
    if (sharing == PortSharing::shared &&
        ::setsockopt(socket_.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0)
        throw_errno("setsockopt(SO_REUSEPORT)");
    if (::bind(socket_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0)
        throw_errno("bind " + options.host + ":" + std::to_string(options.port));
    if (::listen(socket_.get(), kListenBacklog) < 0) throw_errno("listen");
    socklen_t length = sizeof address;
    if (::getsockname(socket_.get(), reinterpret_cast<sockaddr*>(&address), &length) < 0)
        throw_errno("getsockname");
    port_ = ntohs(address.sin_port);
}

UniqueFd Listener::accept() {
    std::unique_lock turn(shared_port_accepts, std::defer_lock);
    if (sharing_ == PortSharing::shared) turn.lock();
    int fd = ::accept4(socket_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) return UniqueFd(fd);
    switch (errno) {
    case EINTR:         // a signal (perhaps SIGTERM): let the caller look at the shutdown flag
    case EAGAIN:        // non-blocking listener and nobody waiting
    case ECONNABORTED:  // the client gave up while it sat in the backlog
    case EPROTO: return {};
    case EMFILE:
    case ENFILE:
        // Out of descriptors. The pending connection stays in the backlog, so a
        // level-triggered loop would be woken for it again at once and spin at
        // 100% CPU. The trick (libuv, muduo): free the spare descriptor, accept
        // the client and close it straight away, so that it learns it was turned
        // away instead of waiting; then take the spare back.
        std::fprintf(stderr, "accept: out of descriptors, turning a client away\n");
        spare_.reset();
        UniqueFd(::accept4(socket_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        spare_ = open_spare();
        return {};
    case EINVAL:  // shutdown() on the listener (see shutdown.cpp): stop accepting
        return {};
    default: throw_errno("accept");
    }
}

void set_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw_errno("fcntl(O_NONBLOCK)");
}

}  // namespace iolab
