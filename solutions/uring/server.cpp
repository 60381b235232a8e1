// io_uring server: the proactor done in the kernel. Completion, not readiness.
//
// Like POSIX AIO (solutions/aio/server.cpp), the server hands the kernel whole
// operations, "receive into a buffer", "send these bytes", "accept a client",
// and learns later that they are done. Unlike glibc's AIO, nothing blocks in a
// thread for us: the kernel completes each operation itself when the socket
// is ready. Operations go in as SQEs on the submission queue, results come
// back as CQEs on the completion queue, two rings shared with the kernel; one
// io_uring_enter() call both submits a batch and waits for completions.
//
// One thread, one ring:
//   - one multishot accept: armed once, it completes once per client;
//   - one multishot receive per connection, into buffers the kernel picks
//     from a ring of provided buffers: an idle connection holds no buffer;
//   - one send in flight per connection, the rest of its output queued;
//   - the shutdown self-pipe, read through the ring like any socket.
//
// BEGIN LAB 3: At this level, what any proactor does with a completion (feed the bytes to the
// protocol, queue the replies, choose the next operation) is yours to write too,
// in this file: see the comment above run().
// STUB:
// What any proactor does with a completion (feed the bytes to the protocol,
// queue the replies, choose the next operation) is CompletionConnection's, in
// labs/common/completion_connection.hpp, as aio uses it too: this file only
// submits the operations and reaps their completions.
// END LAB 3
// Compare with solutions/aio/server.cpp (`diff` shows how operations are
// submitted and reaped) and solutions/epoll/server.cpp (readiness).
// labs/uring/README.md has the figures.
// BEGIN LAB 3: Your own connection state (labs/common has no proactor's connection at this
// level): see the comment above run().
// STUB:
#include "completion_connection.hpp"
// END LAB 3
#include "errors.hpp"
#include "io_uring_probe.hpp"
#include "server_main.hpp"
#include "shutdown.hpp"

#include <liburing.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace {

using namespace iolab;
// BEGIN LAB 3: The whole server, in run(): a proactor on io_uring, one thread and one ring.
// Every operation (accept, receive, send) goes to the kernel as a submission, and
// comes back later as a completion naming what it was about (its user_data):
// nothing here waits in recv() or send(), and one io_uring_enter() both submits
// and waits. The kernel completes operations itself, with no thread per client.
// Accept with a multishot accept (one submission, a completion per client), and
// receive with a multishot receive into a ring of provided buffers, so that an
// idle client holds no buffer; give each buffer back as soon as its bytes are
// consumed, and expect -ENOBUFS when they run out. A buffer handed to the kernel
// is the kernel's until its operation completes, and so is the connection that
// owns it: free nothing in flight. One send in flight per connection, the rest
// queued; a short send is resent from where it stopped. Backpressure: stop
// receiving while replies pile up, receive again once they have drained. Out of
// descriptors (EMFILE), stop accepting until a client leaves instead of spinning.
// On SIGTERM (the shutdown descriptor, read through the ring), cancel everything,
// wait a bounded time for the completions, and exit 0 within a second. Refuse,
// with io_uring_probe's words, a kernel without io_uring. labs/uring/README.md
// explains each point.
using namespace std::chrono_literals;

// Provided receive buffers when --workers is 0: shared by every connection,
// so memory stays the same at 10 or 10,000 clients. Rounded to a power of two.
constexpr unsigned kDefaultBuffers = 1024;
constexpr unsigned kMaxBuffers = 32768;
constexpr unsigned kBufferSize = 4096;       // bytes of one provided buffer
constexpr unsigned kBufferGroup = 0;         // the id the receives name the ring by
constexpr unsigned kRingEntries = 1024;      // submission queue slots
constexpr unsigned kCompletionSlots = 8192;  // completion queue slots

// What an io_uring too old for this server says (EINVAL) to a ring of
// provided buffers (Linux 5.19) or to a multishot receive (6.0).
constexpr const char* kTooOld =
    "io_uring is too old here: provided-buffer rings need Linux 5.19, multishot receive 6.0; "
    "run the kit on a newer kernel";

// How long shutdown waits for the cancelled operations to complete.
constexpr auto kDrainBudget = 500ms;

// What a completion is about, kept in the low bits of its user_data: a
// Connection is at least 8-byte aligned, so its address leaves them free.
enum Tag : std::uintptr_t { kReceive = 0, kSend = 1, kCancel = 2, kTagMask = 7 };
// Completions that name no connection.
constexpr std::uint64_t kAccept = 8;
constexpr std::uint64_t kShutdown = 16;

// One client: the proactor's shared connection (labs/common/completion_connection.hpp:
// its buffers, the protocol, what to submit next), plus what io_uring needs.
struct Connection : CompletionConnection {
    using CompletionConnection::CompletionConnection;

    bool cancelling = false;  // a cancel of its receive is in flight (backpressure)
};

// The live connections; only the loop thread touches them.
using ConnectionTable = CompletionTable<Connection>;

[[noreturn]] void throw_uring_error(int negative_errno, const char* call) {
    throw std::system_error(-negative_errno, std::generic_category(), call);
}

// The ring, and its completion side as a queue of CQEs.
class Ring {
public:
    Ring() {
        // SINGLE_ISSUER: one thread submits. DEFER_TASKRUN: the kernel finishes
        // completions only when that thread asks for them (in io_uring_enter),
        // instead of interrupting it. Older kernels refuse them: go without.
        io_uring_params params{};
        params.flags =
            IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        params.cq_entries = kCompletionSlots;
        int result = io_uring_queue_init_params(kRingEntries, &ring_, &params);
        if (result == -EINVAL) {
            params = io_uring_params{};
            params.flags = IORING_SETUP_CQSIZE;
            params.cq_entries = kCompletionSlots;
            result = io_uring_queue_init_params(kRingEntries, &ring_, &params);
        }
        if (result < 0) throw std::runtime_error(io_uring_unavailable_reason(-result));
        // The ring's own descriptor, registered: io_uring_enter() skips the
        // lookup of the file on every call.
        io_uring_register_ring_fd(&ring_);
    }
    ~Ring() { io_uring_queue_exit(&ring_); }
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    io_uring* get() { return &ring_; }

    // A free submission slot. When the queue is full, what is in it is
    // submitted first.
    io_uring_sqe* slot() {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (sqe) return sqe;
        io_uring_submit(&ring_);
        sqe = io_uring_get_sqe(&ring_);
        if (!sqe) throw std::runtime_error("io_uring: no submission slot after submitting");
        return sqe;
    }

    // Submits what was prepared and waits for one completion at least (or for
    // `timeout`, if given): one system call.
    void submit_and_wait(std::chrono::nanoseconds timeout = -1ns) {
        int result;
        if (timeout < 0ns) {
            result = io_uring_submit_and_wait(&ring_, 1);
        } else {
            __kernel_timespec limit{timeout / 1s, (timeout % 1s).count()};
            io_uring_cqe* cqe = nullptr;
            result = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &limit, nullptr);
        }
        if (result < 0 && result != -EINTR && result != -ETIME && result != -EAGAIN &&
            result != -EBUSY)
            throw_uring_error(result, "io_uring_enter");
    }

    // `handle(cqe)` for every completion that has come, then frees their slots.
    template <typename Handle>
    void for_each_completion(Handle handle) {
        io_uring_cqe* cqe;
        unsigned head;
        unsigned seen = 0;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            handle(*cqe);
            ++seen;
        }
        io_uring_cq_advance(&ring_, seen);
    }

private:
    io_uring ring_{};
};

// The provided buffers: one block of memory cut into kBufferSize pieces, and
// the ring through which the server lends them to the kernel. A multishot
// receive takes a free one for each chunk it completes; the CQE says which
// (its buffer id), and the server gives it back once the bytes are consumed.
class BufferRing {
public:
    BufferRing(Ring& ring, unsigned count) : ring_(ring), count_(count) {
        std::size_t ring_bytes = count * sizeof(io_uring_buf);
        void* mapped =
            ::mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mapped == MAP_FAILED) throw_errno("mmap");
        entries_ = static_cast<io_uring_buf_ring*>(mapped);
        memory_ = std::make_unique<char[]>(std::size_t{count} * kBufferSize);
        io_uring_buf_reg registration{};
        registration.ring_addr = reinterpret_cast<std::uintptr_t>(entries_);
        registration.ring_entries = count;
        registration.bgid = kBufferGroup;
        int result = io_uring_register_buf_ring(ring.get(), &registration, 0);
        if (result == -EINVAL) throw std::runtime_error(kTooOld);
        if (result < 0) throw_uring_error(result, "io_uring_register_buf_ring");
        io_uring_buf_ring_init(entries_);
        for (unsigned id = 0; id < count; ++id) give_back(id);
    }
    ~BufferRing() {
        io_uring_unregister_buf_ring(ring_.get(), kBufferGroup);
        ::munmap(entries_, count_ * sizeof(io_uring_buf));
    }
    BufferRing(const BufferRing&) = delete;
    BufferRing& operator=(const BufferRing&) = delete;

    std::span<char> buffer(unsigned id) {
        return {memory_.get() + std::size_t{id} * kBufferSize, kBufferSize};
    }

    // Lends the buffer to the kernel again.
    void give_back(unsigned id) {
        io_uring_buf_ring_add(entries_, buffer(id).data(), kBufferSize, static_cast<__u16>(id),
                              io_uring_buf_ring_mask(count_), 0);
        io_uring_buf_ring_advance(entries_, 1);
    }

private:
    Ring& ring_;
    unsigned count_;
    io_uring_buf_ring* entries_ = nullptr;
    std::unique_ptr<char[]> memory_;
};

std::uint64_t user_data(Connection& connection, Tag tag) {
    return reinterpret_cast<std::uintptr_t>(&connection) | tag;
}

// Provided buffers from --workers: a power of two, as the buffer ring wants.
unsigned buffer_count(const Options& options) {
    unsigned wanted =
        options.workers > 0 ? static_cast<unsigned>(options.workers) : kDefaultBuffers;
    return std::bit_ceil(std::min(wanted, kMaxBuffers));
}

// Arms the multishot accept: one SQE, a completion per client, until it ends.
void start_accepting(Ring& ring, const Listener& listener) {
    // BEGIN LAB 2: Arm the accept once for many clients: a multishot accept completes once per
    // client until it ends. The accepted descriptors must not leak into a child
    // process (close-on-exec), and the completions must say they are about the
    // accept, not about a connection.
    // STUB: $THROW
    // BEGIN LAB: io_uring_prep_multishot_accept() on the listener, SOCK_CLOEXEC,
    // user_data kAccept.
    io_uring_sqe* sqe = ring.slot();
    io_uring_prep_multishot_accept(sqe, listener.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, kAccept);
    // END LAB
    // END LAB 2
}

// Reads the shutdown self-pipe through the ring: SIGTERM completes it.
void watch_shutdown(Ring& ring, char& byte) {
    io_uring_sqe* sqe = ring.slot();
    io_uring_prep_read(sqe, shutdown_wakeup_fd(), &byte, 1, 0);
    io_uring_sqe_set_data64(sqe, kShutdown);
}

// Arms the connection's multishot receive: the kernel picks a provided
// buffer for each chunk, and completes it again and again.
void start_read(Ring& ring, Connection& connection) {
    // BEGIN LAB 2: Arm the connection's receive once for many chunks: a multishot receive that
    // names no buffer of its own, so that the kernel takes one from the ring of
    // provided buffers only when bytes arrive, and an idle connection holds none.
    // Its completions must name the connection and say they are about a receive.
    // Tell the connection a read is in flight.
    // STUB: $THROW
    // BEGIN LAB: io_uring_prep_recv_multishot() with no buffer of its own,
    // IOSQE_BUFFER_SELECT and buf_group kBufferGroup, user_data kReceive.
    // Then tell the connection: submitted().
    io_uring_sqe* sqe = ring.slot();
    io_uring_prep_recv_multishot(sqe, connection.fd(), nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(sqe, user_data(connection, kReceive));
    connection.submitted(Operation::read);
    // END LAB
    // END LAB 2
}

// Puts the connection's one send in flight: the replies not yet sent.
void start_write(Ring& ring, Connection& connection) {
    // BEGIN LAB 2: Submit one send of the replies not yet sent; the bytes are the kernel's
    // until it completes (THE RULE, completion_connection.hpp). A client that has
    // gone away must give an error here, not kill the server with SIGPIPE. Its
    // completion must name the connection and say it is about a send.
    // STUB: $THROW
    // BEGIN LAB: io_uring_prep_send() of connection.unsent_output(),
    // MSG_NOSIGNAL, user_data kSend; then submitted().
    std::span<const char> bytes = connection.unsent_output();
    io_uring_sqe* sqe = ring.slot();
    io_uring_prep_send(sqe, connection.fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, user_data(connection, kSend));
    connection.submitted(Operation::write);
    // END LAB
    // END LAB 2
}

// Backpressure: the receive stays armed while replies are sent, until they
// pile up past the high-water mark. Then it is cancelled, and armed again
// (by submit_next) only once they have drained.
void pause_reading_if_behind(Ring& ring, Connection& connection) {
    // BEGIN LAB 2: Backpressure for a receive that stays armed. A multishot receive goes on
    // completing as long as the client sends, whether or not it reads the replies:
    // left alone, the replies of a client that never reads pile up in memory
    // without bound. Past the high-water mark, ask the kernel to cancel that
    // receive (once: a cancel already in flight is enough); the cancelled receive
    // ends with its own completion, and next() arms a new one once the replies
    // have drained.
    // STUB: $THROW
    // BEGIN LAB: If a read is in flight, no cancel is, and pending_output()
    // passed kHighWaterMark: io_uring_prep_cancel64() of its receive.
    if (!connection.read_in_flight() || connection.cancelling ||
        connection.pending_output() <= Connection::kHighWaterMark)
        return;
    io_uring_sqe* sqe = ring.slot();
    io_uring_prep_cancel64(sqe, user_data(connection, kReceive), 0);
    io_uring_sqe_set_data64(sqe, user_data(connection, kCancel));
    connection.cancelling = true;
    // END LAB
    // END LAB 2
}

// Submits what the connection asks for next (a send of pending replies, or
// else a receive), if anything.
void submit_next(Ring& ring, Connection& connection) {
    // BEGIN LAB 2: Put in flight whatever the connection asks for next, if anything
    // (CompletionConnection::next() decides), then check whether its receive must
    // pause.
    // STUB: $THROW
    switch (connection.next()) {
    case Operation::read: start_read(ring, connection); break;
    case Operation::write: start_write(ring, connection); break;
    case Operation::none: break;
    }
    pause_reading_if_behind(ring, connection);
    // END LAB 2
}

// A receive completion: bytes in a provided buffer (given back at once), the
// end of the stream, or the end of the multishot receive.
void on_receive(Connection& connection, const io_uring_cqe& cqe, BufferRing& buffers,
                const Options& options) {
    // BEGIN LAB 2: The receive's completion handler. One multishot receive completes many
    // times: each completion says whether it is still armed (the kernel sets a
    // flag while more will come), and the connection must know when it no longer
    // is, or it would never be armed again, or be armed twice. The bytes are in
    // whichever provided buffer the kernel picked (the completion names it): point
    // the connection at it for on_read_complete(), then give it back at once,
    // since the buffers are shared by every client and an idle one must hold none.
    // -ENOBUFS (the provided buffers ran out) and -ECANCELED (the backpressure
    // cancel) end the receive, not the connection. -EINVAL means a kernel too old
    // for multishot receive: say so (kTooOld).
    // STUB: $THROW
    // BEGIN LAB: With IORING_CQE_F_BUFFER, the bytes are in the buffer whose
    // id is cqe.flags >> IORING_CQE_BUFFER_SHIFT: set_read_buffer() to it,
    // on_read_complete(), then give_back() the buffer. -ENOBUFS (the ring ran
    // dry) and -ECANCELED (pause_reading_if_behind) end the receive without
    // ending the connection: on_cancelled(). While IORING_CQE_F_MORE is set
    // the receive is still armed: submitted() again.
    if (cqe.res == -EINVAL) throw std::runtime_error(kTooOld);  // no multishot receive
    if (cqe.res == -ENOBUFS || cqe.res == -ECANCELED) {
        connection.on_cancelled(Operation::read);
    } else if (cqe.flags & IORING_CQE_F_BUFFER) {
        unsigned id = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
        connection.set_read_buffer(buffers.buffer(id));
        connection.on_read_complete(cqe.res, options);
        buffers.give_back(id);  // the kernel's again: the connection no longer points at it
        connection.set_read_buffer({});
    } else {
        connection.on_read_complete(cqe.res, options);  // 0: the client half-closed
    }
    if (cqe.flags & IORING_CQE_F_MORE) connection.submitted(Operation::read);
    // END LAB
    // END LAB 2
}

// One completion on a connection: it carries on with its next operation, or
// is closed and freed once nothing of it is in the kernel's hands any more.
// True if it was closed (a descriptor is free again).
bool on_completion(const io_uring_cqe& cqe, Ring& ring, ConnectionTable& table, BufferRing& buffers,
                   const Options& options) {
    // BEGIN LAB 2: The completion dispatcher. The connection and what the completion is about
    // (receive, send, cancel) are both in the user_data the submission carried.
    // Hand the result to the right handler, then keep the connection going with
    // its next operation unless it is stopped. Free it (and so close its socket)
    // only once nothing of it is in flight, no cancel either: the kernel may still
    // write into its buffers until the last completion. Return whether it was
    // freed.
    // STUB: $THROW
    auto& connection = *reinterpret_cast<Connection*>(cqe.user_data & ~std::uint64_t{kTagMask});
    switch (cqe.user_data & kTagMask) {
    case kReceive: on_receive(connection, cqe, buffers, options); break;
    case kSend: connection.on_write_complete(cqe.res); break;  // short: the rest stays
    case kCancel: connection.cancelling = false; break;
    }
    if (!connection.stopped()) submit_next(ring, connection);
    return connection.finished() && !connection.cancelling && table.erase(&connection);
    // END LAB 2
}

// A client accepted by the multishot accept; its receive is armed at once.
void on_accept(const io_uring_cqe& cqe, Ring& ring, ConnectionTable& table,
               const Listener& listener, bool& accepting) {
    // BEGIN LAB 2: The accept's completion handler. Each completion of the multishot accept is
    // a new client (its descriptor, or -errno): add it to the table and arm its
    // receive at once. When the kernel says the accept is no longer armed, arm it
    // again, or no client is ever accepted after that; but not when descriptors
    // ran out (EMFILE, ENFILE): re-armed at once it would fail at once, forever,
    // and spin. Then wait until a connection closes (set accepting to false; run()
    // re-arms it).
    // STUB: $THROW
    // BEGIN LAB: cqe.res is the client's descriptor, or -errno. Without
    // IORING_CQE_F_MORE the accept has ended: re-arm it, except after EMFILE
    // or ENFILE (out of descriptors), where re-arming at once would fail at
    // once, forever: accepting = false until a connection closes.
    if (cqe.res >= 0)
        table.add(std::make_unique<Connection>(UniqueFd(cqe.res)), [&](Connection& accepted) {
            start_read(ring, accepted);
            return true;
        });
    if (cqe.flags & IORING_CQE_F_MORE) return;
    if (cqe.res == -EMFILE || cqe.res == -ENFILE) {
        std::fprintf(stderr, "uring: out of descriptors; accepting again once a client leaves\n");
        accepting = false;
    } else if (!shutdown_requested()) {
        start_accepting(ring, listener);
    }
    // END LAB
    // END LAB 2
}

// Shutdown. No Connection may be freed while the kernel may still write into
// its buffers: every operation is cancelled, then drain() waits for them.
void cancel_everything(Ring& ring, ConnectionTable& table) {
    // BEGIN LAB 2: Shutdown without freeing anything the kernel still uses: stop every
    // connection (its socket is shut down, so an armed receive completes at once),
    // and ask the kernel to cancel every operation still in the ring. drain() then
    // collects their completions.
    // STUB: $THROW
    // BEGIN LAB: stop() every connection (its socket is shut down: an armed
    // receive completes with 0), then submit one io_uring_prep_cancel64() of
    // every operation in the ring (IORING_ASYNC_CANCEL_ANY), user_data kShutdown.
    table.for_each([](Connection& connection) { connection.stop(); });
    io_uring_sqe* sqe = ring.slot();
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, kShutdown);
    // END LAB
    // END LAB 2
}

// Reaps the completions of the cancelled operations for at most kDrainBudget
// (on_completion erases each connection once nothing of it is in flight), and
// abandons, never frees, what is still in flight after that.
void drain(Ring& ring, ConnectionTable& table, BufferRing& buffers, const Options& options) {
    auto give_up = std::chrono::steady_clock::now() + kDrainBudget;
    while (table.size() > 0 && std::chrono::steady_clock::now() < give_up) {
        ring.submit_and_wait(10ms);
        ring.for_each_completion([&](const io_uring_cqe& cqe) {
            if (cqe.user_data == kAccept && cqe.res >= 0) UniqueFd late_client(cqe.res);
            if (cqe.user_data != kAccept && cqe.user_data != kShutdown)
                on_completion(cqe, ring, table, buffers, options);
        });
    }
    if (table.size() == 0) return;
    std::fprintf(stderr, "uring: %zu connections still in flight at exit; not freed\n",
                 table.size());
    table.abandon();
}

void run(Listener& listener, const Options& options) {
    Ring ring;
    BufferRing buffers(ring, buffer_count(options));
    ConnectionTable table;
    char shutdown_byte = 0;
    bool accepting = true;
    start_accepting(ring, listener);
    watch_shutdown(ring, shutdown_byte);
    while (!shutdown_requested()) {
        ring.submit_and_wait();
        bool closed_one = false;
        ring.for_each_completion([&](const io_uring_cqe& cqe) {
            if (cqe.user_data == kAccept) on_accept(cqe, ring, table, listener, accepting);
            else if (cqe.user_data != kShutdown)
                closed_one |= on_completion(cqe, ring, table, buffers, options);
        });
        if (!accepting && closed_one && !shutdown_requested()) {
            accepting = true;  // a client left: a descriptor is free again
            start_accepting(ring, listener);
        }
    }
    cancel_everything(ring, table);
    drain(ring, table, buffers, options);
}
// STUB: void run(Listener& listener, const Options& options) {
// STUB:     $THROW
// STUB: }
// END LAB 3

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(
        argc, argv,
        {"uring", "io_uring: the proactor done in the kernel", true,
         "provided receive buffers, shared by all clients, rounded up to a power of two "
         "(0: 1024)"},
        run);
}
