#include "blocking_session.hpp"

#include "line_protocol.hpp"
#include "request_work.hpp"
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

}  // namespace iolab
