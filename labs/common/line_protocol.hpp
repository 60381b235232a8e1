// The kit's protocol (docs/protocol.md) as a pure state machine: bytes in,
// replies out, no I/O inside. Every model feeds it whatever recv() returned,
// however the bytes were split, and sends what it produces.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace iolab {

// Replies pending on one connection beyond which a server stops reading from
// it until they drain (backpressure): a client that sends without reading
// then blocks in its own send() instead of growing the server's memory.
inline constexpr std::size_t kOutputHighWaterMark = 256 * 1024;

class LineProtocol {
public:
    // The longest line that is echoed, not counting its '\n'.
    static constexpr std::size_t kMaxLine = 64 * 1024;
    static constexpr std::string_view kTooLong = "ERR line too long\n";

    // Feeds bytes received from the client. Appends to `replies` the reply to
    // every request these bytes complete and returns how many requests that
    // was (the caller runs the per-request work once for each).
    std::size_t consume(std::string_view bytes, std::string& replies);

    // The client half-closed: a trailing partial line is a final request.
    std::size_t finish(std::string& replies);

    // Bytes held for an incomplete line: never more than kMaxLine.
    std::size_t buffered() const noexcept { return partial_.size(); }

private:
    std::string partial_;      // the start of a line whose '\n' has not arrived
    bool discarding_ = false;  // inside an over-long line, after its ERR reply
};

}  // namespace iolab
