#include "completion_connection.hpp"

#include "request_work.hpp"

#include <sys/socket.h>

#include <algorithm>

namespace iolab {

namespace {

// A reply buffer that once held a burst is given back when it empties, so
// that thousands of idle connections do not each keep their peak.
constexpr std::size_t kKeptCapacity = 64 * 1024;

}  // namespace

CompletionConnection::CompletionConnection(UniqueFd socket) noexcept : socket_(std::move(socket)) {}

Operation CompletionConnection::next() const noexcept {
    if (stopped_) return Operation::none;
    // Backpressure: replies first. A client that sends without reading then
    // fills the kernel's buffers and blocks in its own send(), instead of
    // growing the server's memory without bound.
    if (pending_output() > 0) return writing_ ? Operation::none : Operation::write;
    if (reading_ || peer_closed_) return Operation::none;
    return Operation::read;
}

std::span<char> CompletionConnection::read_buffer() {
    if (read_buffer_.empty()) {
        own_buffer_ = std::make_unique<char[]>(kReadChunk);
        read_buffer_ = {own_buffer_.get(), kReadChunk};
    }
    return read_buffer_;
}

std::span<const char> CompletionConnection::unsent_output() const noexcept {
    return std::span<const char>(output_).subspan(output_sent_);
}

void CompletionConnection::submitted(Operation operation) noexcept {
    if (operation == Operation::read) reading_ = true;
    if (operation == Operation::write) writing_ = true;
}

void CompletionConnection::on_read_complete(long result, const Options& options) {
    reading_ = false;
    if (stopped_) return;  // bytes that came after stop() are not answered
    if (result < 0) return stop();
    // While a write is in flight its bytes are the kernel's: new replies wait apart.
    std::string& replies = writing_ ? queued_ : output_;
    std::size_t requests = 0;
    if (result == 0) {
        peer_closed_ = true;
        requests = protocol_.finish(replies);
    } else {
        std::size_t received = std::min(static_cast<std::size_t>(result), read_buffer_.size());
        requests = protocol_.consume({read_buffer_.data(), received}, replies);
    }
    for (std::size_t i = 0; i < requests; ++i) simulate_request_work(options);
}

void CompletionConnection::on_write_complete(long result) noexcept {
    writing_ = false;
    if (stopped_) return;
    // 0 bytes of a non-empty write: the socket takes nothing more (it would
    // otherwise be submitted again and again).
    if (result <= 0) return stop();
    output_sent_ += std::min(static_cast<std::size_t>(result),
                             unsent_output().size());  // short: the rest stays
    if (!unsent_output().empty()) return;
    output_.clear();
    output_sent_ = 0;
    if (output_.capacity() > kKeptCapacity) std::string().swap(output_);
    output_.swap(queued_);  // the replies produced meanwhile, if any, are next
}

void CompletionConnection::on_cancelled(Operation operation) noexcept {
    if (operation == Operation::read) reading_ = false;
    if (operation == Operation::write) writing_ = false;
}

void CompletionConnection::stop() noexcept {
    stopped_ = true;
    ::shutdown(fd(), SHUT_RDWR);
}

}  // namespace iolab
