// One client of a proactor (POSIX AIO, io_uring): everything the server knows
// about the connection, and the table that keeps connections alive while the
// kernel works on them.
//
// A reactor (event_connection.hpp) is told that a socket is ready and calls
// recv() and send() itself, into buffers it may reuse the moment they return.
// A proactor submits the whole operation, "read into this buffer", "write
// these bytes", and learns later, from a completion, that it is done. So the
// buffers are no longer the server's between submission and completion: the
// kernel (io_uring), or a glibc pool thread doing a blocking read() for us
// (POSIX AIO), may write into them or read from them at any moment until then.
//
// THE RULE: while an operation is in flight, its buffer (read_buffer(), or the
// bytes of unsent_output()) is neither freed, moved nor reused, nor is the
// connection that owns it. That is why CompletionConnection can be neither
// copied nor moved, why CompletionTable keeps each one on the heap, and why
// the table erases a connection only when nothing is in flight on it.
//
// This file knows nothing of how an operation is submitted or reaped: each
// model's server.cpp does that (aio_read/aio_write and a signal, or io_uring
// SQEs and CQEs) and tells the connection what it submitted and what came
// back, with results as io_uring reports them: a byte count, or -errno.
//
// Ownership: a CompletionConnection owns its socket (UniqueFd: closed when it
// is destroyed), its read buffer and its pending replies; CompletionTable owns
// the connections (std::unique_ptr, one heap object each, never moved).
//
// Threads: a connection is used by one thread at a time: the one that adds it
// submits its first operation under the table's lock (CompletionTable::add),
// and from then on only the thread that takes completions (the loop) touches
// it. CompletionTable is locked, so that a thread of its own may accept and
// add connections (POSIX has no asynchronous accept; io_uring's loop accepts
// itself).
#pragma once
// OMIT FROM LEVEL 3

#include "line_protocol.hpp"
#include "options.hpp"
#include "unique_fd.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>

namespace iolab {

// An operation on a connection's socket, as submitted to the kernel.
enum class Operation { none, read, write };

class CompletionConnection {
public:
    // Bytes asked of one read. No read is submitted while replies are pending
    // (backpressure), so a connection holds at most one chunk, one partial
    // line (LineProtocol::kMaxLine) and the replies to one chunk.
    static constexpr std::size_t kReadChunk = 16 * 1024;
    // A model whose read stays armed while it writes (io_uring's multishot
    // receive) stops receiving once this much output is pending, as the
    // readiness models do (event_connection.hpp).
    static constexpr std::size_t kHighWaterMark = kOutputHighWaterMark;

    // Takes the accepted socket. It stays blocking: nothing here calls
    // recv() or send(); the kernel (or glibc's pool) waits in our place.
    explicit CompletionConnection(UniqueFd socket) noexcept;
    // Pinned in memory: the kernel holds the addresses of its buffers.
    CompletionConnection(const CompletionConnection&) = delete;
    CompletionConnection& operator=(const CompletionConnection&) = delete;

    int fd() const noexcept { return socket_.get(); }

    // What to submit next. A write while replies are pending (and none is in
    // flight); otherwise a read, unless one is in flight, the client has
    // half-closed or the connection is stopped; else nothing.
    Operation next() const;
    // Nothing in flight and nothing to submit: erase (and so close) it.
    bool finished() const { return !in_flight() && next() == Operation::none; }

    // Where a read goes, and what a write sends: hand these to the kernel.
    // The connection's own read buffer (kReadChunk) is allocated on first use,
    // so a connection that reads into buffers lent to it (set_read_buffer(),
    // io_uring's provided buffers) holds none at all while it is idle.
    std::span<char> read_buffer();
    std::span<const char> unsent_output() const noexcept;
    // Points reads at `buffer` instead of the connection's own, for buffers
    // that live elsewhere (io_uring's provided buffers, lent to one read and
    // given back once its bytes are consumed). THE RULE applies to it too.
    void set_read_buffer(std::span<char> buffer) noexcept { read_buffer_ = buffer; }

    // The operation was submitted; it is in flight until its completion.
    // Call it only once the kernel (or glibc) has accepted it.
    void submitted(Operation operation) noexcept;
    bool in_flight() const noexcept { return reading_ || writing_; }
    bool read_in_flight() const noexcept { return reading_; }
    bool write_in_flight() const noexcept { return writing_; }

    // Completions, on the loop's thread. `result`: bytes, or -errno.
    // A read's bytes are in read_buffer(): fed to the protocol, the simulated
    // work run once per request, the replies queued (0: the client
    // half-closed, a trailing partial line is its last request).
    void on_read_complete(long result, const Options& options);
    // A write may complete with fewer bytes than asked: the rest stays pending.
    void on_write_complete(long result);
    // An operation completed after stop(), or was cancelled: it is no longer
    // in flight, and its result does not matter any more.
    void on_cancelled(Operation operation) noexcept;

    // No more operations: the connection is broken, or the server stops. The
    // socket is shut down (shutdown(2), SHUT_RDWR), so that an operation in
    // flight completes soon: a read blocked in a glibc pool thread returns 0
    // (closing the descriptor would not wake it), and so does an io_uring recv.
    void stop() noexcept;

    std::size_t pending_output() const noexcept { return unsent_output().size() + queued_.size(); }
    bool peer_closed() const noexcept { return peer_closed_; }
    bool stopped() const noexcept { return stopped_; }

private:
    UniqueFd socket_;
    std::unique_ptr<char[]> own_buffer_;  // kReadChunk bytes, from the first read_buffer()
    std::span<char> read_buffer_;
    LineProtocol protocol_;  // the partial line between two reads
    std::string output_;     // replies, from output_sent_ on not yet written
    std::size_t output_sent_ = 0;
    // Replies produced while a write of output_ is in flight (only when reads
    // and writes overlap): appending to output_ then could reallocate it under
    // the kernel. They join output_ once that write completes.
    std::string queued_;
    bool reading_ = false;      // a read is in flight
    bool writing_ = false;      // a write is in flight
    bool peer_closed_ = false;  // a read completed with 0: the client sends nothing more
    bool stopped_ = false;      // no more operations (failed, or shutting down)
};

// A proactor's live connections. A completion names its connection by the
// connection's address (io_uring's user_data, AIO's sigev_value): safe as an
// id because a connection is erased only when no operation, hence no
// completion, can still name it. Also an optional limit on their number.
// Every method may be called from any thread (one mutex inside).
template <typename Connection>  // CompletionConnection, or a class derived from it
class CompletionTable {
public:
    explicit CompletionTable(std::size_t capacity = SIZE_MAX) : capacity_(capacity) {}

    // Waits until a connection may be added; false once closed.
    bool wait_for_room() {
        std::unique_lock lock(mutex_);
        room_.wait(lock, [&] { return closed_ || connections_.size() < capacity_; });
        return !closed_;
    }

    // Adds the connection if `start(connection)` puts its first operation in
    // flight; under the lock, so that its completion cannot be looked up
    // before it is in the table. Otherwise it is closed at once.
    template <typename Start>
    void add(std::unique_ptr<Connection> connection, Start start) {
        std::lock_guard lock(mutex_);
        if (start(*connection)) connections_.emplace(connection.get(), std::move(connection));
    }

    // The connection a completion names, or null if none.
    Connection* find(const void* id) {
        std::lock_guard lock(mutex_);
        auto found = connections_.find(static_cast<const Connection*>(id));
        return found == connections_.end() ? nullptr : found->second.get();
    }

    // Erases (frees, closes) the connection if nothing is in flight on it;
    // false, and the connection kept, if something is.
    bool erase(const Connection* connection) {
        std::unique_ptr<Connection> freed;  // destroyed after the unlock
        {
            std::lock_guard lock(mutex_);
            auto found = connections_.find(connection);
            if (found == connections_.end() || found->second->in_flight()) return false;
            freed = std::move(found->second);
            connections_.erase(found);
        }
        room_.notify_one();
        return true;
    }

    // `visit(connection)` for each, under the lock: it must not erase.
    template <typename Visit>
    void for_each(Visit visit) {
        std::lock_guard lock(mutex_);
        for (auto& [id, connection] : connections_) visit(*connection);
    }

    std::size_t size() {
        std::lock_guard lock(mutex_);
        return connections_.size();
    }

    // No more connections: wakes a thread waiting for room.
    void close() {
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        room_.notify_all();
    }

    // Lets go of the connections without freeing them: for operations still in
    // flight when the process exits, whose buffers may still be written.
    void abandon() {
        std::lock_guard lock(mutex_);
        for (auto& [id, connection] : connections_) static_cast<void>(connection.release());
        connections_.clear();
    }

private:
    std::mutex mutex_;
    std::condition_variable room_;
    std::unordered_map<const Connection*, std::unique_ptr<Connection>> connections_;
    std::size_t capacity_;
    bool closed_ = false;
};

}  // namespace iolab
