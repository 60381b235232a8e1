// A client connection of the checker, with every operation bounded by a
// Deadline. The socket is non-blocking; waits happen in poll().
#pragma once

#include "deadline.hpp"
#include "unique_fd.hpp"

#include <cstddef>
#include <stdexcept>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace checker {

// A test's verdict "failed", with the message the student reads, and the
// mistake its symptom points to when the test observed one (a sentence, ""
// if none: the message then explains the concept the test checks).
struct TestFailure : std::runtime_error {
    explicit TestFailure(const std::string& message, std::string likely_cause = "")
        : std::runtime_error(message), cause(std::move(likely_cause)) {}
    std::string cause;
};

struct Endpoint {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string str() const { return host + ":" + std::to_string(port); }
};

// "127.0.0.1:8080" as an Endpoint; nullopt if it is not HOST:PORT.
std::optional<Endpoint> parse_endpoint(const std::string& text);

// How a read ended.
struct ReadResult {
    enum End { Complete, Timeout, Eof, Reset } end = Complete;
    std::string data;
    std::string how()
        const;  // "nothing came back within 2.0 s", "the server closed the connection", ...
    Duration waited{};
};

class Connection {
public:
    // Connects, or throws TestFailure saying why (refused, timed out).
    // receive_buffer > 0 shrinks SO_RCVBUF before connecting (the window is
    // negotiated in the handshake), so that the server's writes come up short.
    static Connection open(const Endpoint& server, Deadline deadline, int receive_buffer = 0);
    // Connects and reports failure instead of throwing.
    static bool try_open(const Endpoint& server, Deadline deadline, Connection& out,
                         std::string& why, int receive_buffer = 0);

    // Sends all of `bytes`; throws TestFailure if the server stops taking them until the deadline.
    void send(std::string_view bytes, Deadline deadline);
    // Sends what fits without blocking; returns the number of bytes sent.
    std::size_t send_some(std::string_view bytes);

    ReadResult read_exact(std::size_t count, Deadline deadline);
    // Reads until the server closes (EOF) or the deadline; at most `limit` bytes.
    ReadResult read_until_eof(Deadline deadline, std::size_t limit = 1 << 26);
    // Sends and reads at the same time, as a client must when it sends more
    // than the socket buffers hold. Reading starts only after `pause`.
    ReadResult exchange(std::string_view bytes, std::size_t expect, Deadline deadline,
                        Duration pause = 0s);

    void shutdown_write();  // half-close: the server reads EOF
    void reset();           // close with SO_LINGER 0: the server gets a RST
    void close() { fd_.reset(); }
    int fd() const { return fd_.get(); }

private:
    iolab::UniqueFd fd_;
};

// Bytes as a student can read them: printable ASCII as is, the rest escaped
// (\n, \r, \0, \xNN), long strings shortened around the middle.
std::string show(std::string_view bytes, std::size_t max_shown = 60);

// Compares `got` with `expected` and, if they differ, explains where and how.
// Returns "" when equal.
std::string describe_difference(std::string_view expected, std::string_view got);

// Reads `expected.size()` bytes and fails with a full explanation if they are
// not `expected`: what was sent, what came back, and what it usually means.
void expect_reply(Connection& connection, std::string_view sent, std::string_view expected,
                  Deadline deadline, std::string_view usual_cause = {});

}  // namespace checker
