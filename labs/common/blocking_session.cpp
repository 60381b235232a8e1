// OMIT FROM LEVEL 3
#include "blocking_session.hpp"

#include "line_protocol.hpp"
#include "request_work.hpp"
#include "server_main.hpp"  // NotImplemented, at the levels where students write this file
#include "shutdown.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <string>

namespace iolab {

namespace {

// Bytes asked of one recv(). The replies to one chunk are sent before the next
// recv(), so memory per connection stays below this plus one maximal line.
constexpr std::size_t kChunk = 16 * 1024;

}  // namespace

// BEGIN LAB 2: send_all(): write every byte, or report that this connection failed.
// A blocking send() sleeps until the socket's send buffer has room, but may
// still write fewer bytes than asked: a signal that interrupts it after some
// bytes went out makes it return that count. A peer that has reset the
// connection must cost this connection only: by default the kernel answers a
// write to it with SIGPIPE, which kills the whole process (send() has a flag
// that asks for EPIPE instead). EINTR while no shutdown is requested is no
// failure; during a shutdown, give up.
// STUB: bool send_all(int /*fd*/, const char* /*bytes*/, std::size_t /*length*/) {
// STUB:     $THROW
// STUB: }
bool send_all(int fd, const char* bytes, std::size_t length) {
    while (length > 0) {
        // MSG_NOSIGNAL: a reset peer gives EPIPE here, never SIGPIPE.
        ssize_t sent = ::send(fd, bytes, length, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR && !shutdown_requested()) continue;
            return false;
        }
        bytes += sent;
        length -= static_cast<std::size_t>(sent);
    }
    return true;
}
// END LAB 2

// BEGIN LAB 2: serve_until_eof(): the blocking model's whole conversation with one client.
// recv() sleeps until some bytes have arrived and returns what is there: half a
// line, one line, many lines. The protocol's state machine (LineProtocol) turns
// bytes into replies, however they were split; run the simulated work once per
// request it reports. Send the replies to one chunk before reading the next, so
// that a client that sends without reading cannot grow this process's memory.
// recv() returning 0 means the client shut down its side: answer the last,
// unterminated line too, then stop. A failed call ends this connection only.
// A shutdown must wake a thread asleep in recv() or send() at once (the flag
// alone leaves it asleep until the client speaks): shutdown.hpp has the tool.
// STUB: void serve_until_eof(const UniqueFd& /*client*/, const Options& /*options*/) {
// STUB:     $THROW
// STUB: }
void serve_until_eof(const UniqueFd& client, const Options& options) {
    ShutdownWatch wake_on_shutdown(client.get());
    LineProtocol protocol;
    std::string replies;
    char buffer[kChunk];
    for (;;) {
        ssize_t received = ::recv(client.get(), buffer, sizeof buffer, 0);
        if (received < 0 && errno == EINTR && !shutdown_requested()) continue;
        if (received < 0) return;  // reset, or shutdown: just close
        std::size_t requests =
            received == 0 ? protocol.finish(replies)
                          : protocol.consume({buffer, static_cast<std::size_t>(received)}, replies);
        for (std::size_t i = 0; i < requests; ++i) simulate_request_work(options);
        if (!send_all(client.get(), replies.data(), replies.size())) return;
        replies.clear();
        if (received == 0) return;  // EOF: everything answered
    }
}
// END LAB 2

}  // namespace iolab
