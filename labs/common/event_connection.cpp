// OMIT FROM LEVEL 3
#include "event_connection.hpp"

#include "listener.hpp"
#include "request_work.hpp"
#include "server_main.hpp"  // NotImplemented, which the parts still to write throw

#include <sys/socket.h>

#include <cerrno>

namespace iolab {

namespace {

// A buffer that once held a burst is given back when it empties, so that
// thousands of idle connections do not each keep their peak.
constexpr std::size_t kKeptCapacity = 64 * 1024;

constexpr bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

}  // namespace

Connection::Connection(UniqueFd socket) : socket_(std::move(socket)) {
    set_nonblocking(socket_.get());
}

Interest Connection::interest() const {
    // BEGIN LAB 2: Say what this connection waits for next, from its state alone. The loop asks the
    // kernel for exactly this, so it decides three things. Write interest only while
    // replies are pending: a socket with room in its send buffer is always writable,
    // and watching it otherwise wakes the loop at once, forever (100% CPU while
    // every client is idle). Backpressure: no reading while the pending replies are
    // above kHighWaterMark, so that a client that sends without reading fills the
    // kernel's buffers and blocks in its own send(), instead of growing this
    // server's memory without bound. And the end: a broken connection waits for
    // nothing, nor does one whose peer has finished sending once its last replies
    // are out; the loop then closes it.
    // STUB: $THROW
    if (failed_) return {};
    return {.read = !peer_closed_ && pending_output() < kHighWaterMark,
            .write = pending_output() > 0};
    // END LAB 2
}

Interest Connection::on_readable(const Options& options) {
    // BEGIN LAB 2: Take what the client sent: one recv() of at most kReadChunk bytes per event (a
    // loop that reads a busy client until it is dry keeps every other client
    // waiting), handed to the protocol, which keeps the partial line and appends a
    // reply per complete line. A connection that must not read now (paused by
    // backpressure, or already at its end) leaves its bytes in the kernel: poll()
    // and epoll report a hang-up or an error as readable even when reading was not
    // asked for. recv() returning 0 is the end of the stream: the client has
    // half-closed, but still waits for the replies, the last unterminated line's
    // included. The socket is non-blocking: EAGAIN (another event got the bytes
    // first, or the readiness was spurious) and EINTR are no errors; any other error
    // breaks this connection only. Each request's simulated work runs here
    // (simulate_request_work()). Then try to send the replies at once: most fit in
    // the send buffer, which saves a trip through the loop. Return what the
    // connection waits for next.
    // STUB: static_cast<void>(options);  // unused until this is written
    // STUB: $THROW
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
    // END LAB 2
}

Interest Connection::on_writable() {
    flush();
    return interest();
}

void Connection::flush() {
    // BEGIN LAB 2: Send the pending replies until none is left or the kernel takes no more. A
    // non-blocking send() may take only part of what it is given (a short write):
    // the rest stays pending, and the loop asks to hear when the socket is writable
    // again. EAGAIN means the send buffer is full: stop and wait, never retry at
    // once (that is a spin). EINTR is no error; any other error (EPIPE, ECONNRESET:
    // the client is gone) breaks this connection only, and a send() to a reset peer
    // must not raise SIGPIPE, which would kill the whole server (MSG_NOSIGNAL).
    // Memory stays bounded only if sent bytes do not pile up: drop them from the
    // buffer, and give back a large buffer once it is empty (kKeptCapacity), or
    // thousands of idle connections each keep their peak.
    // STUB: $THROW
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
    // END LAB 2
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
