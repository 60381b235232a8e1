#include "event_connection.hpp"

#include "listener.hpp"
#include "request_work.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace iolab {

namespace {

// A buffer that once held a burst is given back when it empties, so that
// thousands of idle connections do not each keep their peak.
constexpr std::size_t kKeptCapacity = 64 * 1024;

bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

}  // namespace

Connection::Connection(UniqueFd socket) : socket_(std::move(socket)) {
    set_nonblocking(socket_.get());
}

Interest Connection::interest() const noexcept {
    if (failed_) return {};
    return {.read = !peer_closed_ && pending_output() < kHighWaterMark,
            .write = pending_output() > 0};
}

Interest Connection::on_readable(const Options& options) {
    if (!interest().read)
        return interest();  // paused, or a hang-up reported along with another event
    char buffer[kReadChunk];
    ssize_t received = ::recv(fd(), buffer, sizeof buffer, 0);
    if (received < 0) {
        // EAGAIN: another event took the bytes first, or the readiness was spurious.
        if (!would_block(errno) && errno != EINTR) failed_ = true;
        return interest();
    }
    std::size_t requests = 0;
    if (received == 0) {
        peer_closed_ = true;
        requests = protocol_.finish(output_);
    } else {
        requests = protocol_.consume({buffer, static_cast<std::size_t>(received)}, output_);
    }
    for (std::size_t i = 0; i < requests; ++i) simulate_request_work(options);
    // Most replies fit in the socket's send buffer at once: trying now saves
    // a trip through the loop just to learn that the socket is writable.
    flush();
    return interest();
}

Interest Connection::on_writable() {
    flush();
    return interest();
}

void Connection::flush() {
    while (pending_output() > 0 && !failed_) {
        // MSG_NOSIGNAL: a reset peer gives EPIPE here, never SIGPIPE.
        ssize_t sent = ::send(fd(), output_.data() + output_sent_, pending_output(), MSG_NOSIGNAL);
        if (sent < 0) {
            if (would_block(errno)) break;  // the send buffer is full: wait until writable
            if (errno != EINTR) failed_ = true;
            continue;
        }
        output_sent_ += static_cast<std::size_t>(sent);  // a short write: the rest stays pending
    }
    if (pending_output() == 0) {
        output_.clear();
        output_sent_ = 0;
        if (output_.capacity() > kKeptCapacity) std::string().swap(output_);
    } else if (output_sent_ > output_.size() / 2) {
        // Drop the sent half, so that appending does not grow the string forever.
        output_.erase(0, output_sent_);
        output_sent_ = 0;
    }
}

Interest Connection::on_ready(bool readable, bool writable, const Options& options) {
    Interest next = interest();
    if (writable) next = on_writable();
    if (readable) next = on_readable(options);
    return next;
}

void handle_ready(Connections& connections, int fd, bool readable, bool writable,
                  const Options& options) {
    auto found = connections.find(fd);
    if (found == connections.end()) return;
    Interest next = found->second.on_ready(readable, writable, options);
    if (next.finished()) connections.erase(found);  // its UniqueFd closes the socket
}

}  // namespace iolab
