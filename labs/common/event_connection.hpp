// One client of an event loop (select, poll, epoll): everything the server
// knows about the connection lives here, in a struct.
//
// A blocking server keeps a client's state on the stack of the thread that
// serves it: the partial line, the replies not yet written, whether the client
// has half-closed. An event loop has one thread for all clients and returns to
// its wait after every readiness event, so that state must survive between
// calls: it is this object, found again by descriptor number when the kernel
// reports the socket ready. Every event-loop model shares it; each model's
// server.cpp only decides how to wait (Redis's ae.c and its ae_select.c,
// ae_epoll.c backends are split the same way).
// OMIT FROM LEVEL 3
#pragma once

#include "line_protocol.hpp"
#include "options.hpp"
#include "unique_fd.hpp"

#include <cstddef>
#include <map>
#include <string>

namespace iolab {

// What a connection waits for next. The loop asks the kernel for exactly this
// (write interest only while replies are pending: a socket with room in its
// send buffer is always writable, so asking for it otherwise wakes the loop
// at once, over and over). A connection that waits for nothing is finished.
struct Interest {
    bool read = false;
    bool write = false;
    bool finished() const noexcept { return !read && !write; }
};

class Connection {
public:
    // Replies pending above this many bytes pause reading (backpressure): a
    // client that sends without reading fills the kernel's buffers, then its
    // own send() blocks, instead of growing the server's memory without bound.
    static constexpr std::size_t kHighWaterMark = kOutputHighWaterMark;
    // Bytes asked of one recv(), once per readiness event, so that one busy
    // client cannot keep the loop from the others (Redis reads 16 KiB too).
    static constexpr std::size_t kReadChunk = 16 * 1024;

    // Takes the accepted socket and makes it non-blocking: recv() and send()
    // then return EAGAIN instead of waiting, and only the loop ever waits.
    explicit Connection(UniqueFd socket);

    int fd() const noexcept { return socket_.get(); }
    Interest interest() const;

    // The socket is readable: one recv(), the replies to every line it
    // completes (with the simulated work of each request, on this thread),
    // and an attempt to send them at once.
    Interest on_readable(const Options& options);
    // The socket is writable: send pending replies until the kernel takes no more.
    Interest on_writable();
    // Both, as the kernel reported them: writable first (draining replies may
    // resume reading). What handle_ready() does before it closes a finished
    // connection; the epoll lab's workers call it directly.
    Interest on_ready(bool readable, bool writable, const Options& options);

    std::size_t pending_output() const noexcept { return output_.size() - output_sent_; }

private:
    void flush();

    UniqueFd socket_;
    LineProtocol protocol_;  // the partial line between two recv()s
    std::string output_;     // replies produced, from output_sent_ on not yet sent
    std::size_t output_sent_ = 0;
    bool peer_closed_ = false;  // recv() returned 0: the client sends nothing more
    bool failed_ = false;       // the connection is broken (reset, ...): close it
};

// An event loop's connections, by descriptor number.
using Connections = std::map<int, Connection>;

// Hands the readiness the kernel reported for `fd` to its connection
// (writable first: draining replies may resume reading) and closes the
// connection once it is finished.
void handle_ready(Connections& connections, int fd, bool readable, bool writable,
                  const Options& options);

}  // namespace iolab
