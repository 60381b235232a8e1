// OMIT FROM LEVEL 3
#include "completion_connection.hpp"

#include "request_work.hpp"
#include "server_main.hpp"  // NotImplemented, thrown by the TODOs of levels 2 and 3

#include <sys/socket.h>

#include <algorithm>

namespace iolab {

namespace {

// A reply buffer that once held a burst is given back when it empties, so
// that thousands of idle connections do not each keep their peak.
constexpr std::size_t kKeptCapacity = 64 * 1024;

}  // namespace

CompletionConnection::CompletionConnection(UniqueFd socket) noexcept : socket_(std::move(socket)) {}

Operation CompletionConnection::next() const {
    // BEGIN LAB 2: Choose the next operation to submit, from the connection's state alone. The
    // kernel holds a buffer for as long as its operation is in flight, so never
    // two reads or two writes at once. Replies come before more reading: if the
    // server kept reading from a client that sends and never reads, its replies
    // would pile up in memory without bound; by not reading, it leaves the bytes
    // in the kernel's socket buffers, which fill, and the client's own send()
    // blocks (backpressure). Read nothing more once the client has half-closed,
    // and nothing at all once stopped.
    // STUB: $THROW
    if (stopped_) return Operation::none;
    // Backpressure: replies first. A client that sends without reading then
    // fills the kernel's buffers and blocks in its own send(), instead of
    // growing the server's memory without bound.
    if (pending_output() > 0) return writing_ ? Operation::none : Operation::write;
    if (reading_ || peer_closed_) return Operation::none;
    return Operation::read;
    // END LAB 2
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
    reading_ = false;  // in flight no more, whatever the result
    // BEGIN LAB 2: A read has completed: its bytes (result of them) are in read_buffer_. A
    // failure (result < 0, -errno) ends the connection; 0 is the client's
    // half-close, after which a trailing partial line is still its last request.
    // Feed the bytes to the protocol, which keeps the partial line between two
    // reads, and run the simulated work once per complete request. Mind THE RULE:
    // while a write is in flight, output_ is the kernel's (appending could
    // reallocate it under the kernel), so replies made meanwhile go elsewhere
    // until it completes. Bytes that arrive after stop() are not answered.
    // STUB: static_cast<void>(result), static_cast<void>(options);
    // STUB: $THROW
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
    // END LAB 2
}

void CompletionConnection::on_write_complete(long result) {
    writing_ = false;  // in flight no more, whatever the result
    // BEGIN LAB 2: A write has completed, maybe with fewer bytes than asked: a socket takes
    // what fits in its send buffer, and the rest must be sent by the next write,
    // never dropped. A failure ends the connection, and so does 0 bytes written of
    // a non-empty write (submitted again, it would complete with 0 again,
    // forever). Once everything is sent, the replies that waited for this write
    // become the output, and a buffer grown by a burst is given back (thousands of
    // idle clients must not each keep their peak).
    // STUB: static_cast<void>(result);
    // STUB: $THROW
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
    // END LAB 2
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
