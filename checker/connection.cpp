#include "connection.hpp"
#include "text.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace checker {

namespace {

bool wait_for(int fd, short events, Deadline deadline) {
    pollfd p{fd, events, 0};
    for (;;) {
        int ready = ::poll(&p, 1, deadline.remaining_ms());
        if (ready > 0) return true;
        if (ready == 0) return false;
        if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
    }
}

std::string format_seconds(Duration d) { return fixed(seconds(d), 1) + " s"; }

}  // namespace

std::string ReadResult::how() const {
    switch (end) {
    case Complete: return "the reply was complete";
    case Timeout: return "nothing more came back within " + format_seconds(waited);
    case Eof: return "the server closed the connection";
    case Reset: return "the connection was reset";
    }
    return "";
}

std::optional<Endpoint> parse_endpoint(const std::string& text) {
    std::size_t colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    try {
        return Endpoint{text.substr(0, colon), std::stoi(text.substr(colon + 1))};
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

bool Connection::try_open(const Endpoint& server, Deadline deadline, Connection& out,
                          std::string& why, int receive_buffer) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(server.port));
    if (::inet_pton(AF_INET, server.host.c_str(), &address.sin_addr) != 1) {
        why = server.host + " is not an IPv4 address";
        return false;
    }
    iolab::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) throw std::system_error(errno, std::generic_category(), "socket (checker)");
    int on = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    // Before connect(): the window scale is fixed in the handshake.
    if (receive_buffer > 0)
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0 &&
        errno != EINPROGRESS) {
        why = std::string("connect to ") + server.str() + ": " + std::strerror(errno);
        return false;
    }
    if (!wait_for(fd.get(), POLLOUT, deadline)) {
        why = "connect to " + server.str() +
              " did not complete in time (the listen backlog is full?)";
        return false;
    }
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
        why = std::string("connect to ") + server.str() + ": " + std::strerror(error);
        return false;
    }
    out.fd_ = std::move(fd);
    return true;
}

Connection Connection::open(const Endpoint& server, Deadline deadline, int receive_buffer) {
    Connection connection;
    std::string why;
    if (!try_open(server, deadline, connection, why, receive_buffer))
        throw TestFailure("could not connect: " + why);
    return connection;
}

std::size_t Connection::send_some(std::string_view bytes) {
    ssize_t sent = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent >= 0) return static_cast<std::size_t>(sent);
    if (errno == EAGAIN || errno == EINTR) return 0;
    throw TestFailure(
        std::string("sending to the server failed: ") + std::strerror(errno) +
        " (the server closed or reset the connection while the client was still sending)");
}

void Connection::send(std::string_view bytes, Deadline deadline) {
    Clock::time_point start = Clock::now();
    std::size_t total = bytes.size();
    while (!bytes.empty()) {
        bytes.remove_prefix(send_some(bytes));
        if (bytes.empty()) break;
        if (!wait_for(fd_.get(), POLLOUT, deadline))
            throw TestFailure(str("the server stopped reading: ", total - bytes.size(), " of ",
                                  total, " bytes were sent, and for ",
                                  format_seconds(Clock::now() - start), " no more could be"));
    }
}

namespace {

// One recv() into `into`; returns false at EOF/reset (setting `end`).
bool receive_once(int fd, std::string& into, std::size_t max, ReadResult::End& end) {
    char buffer[64 * 1024];
    ssize_t got = ::recv(fd, buffer, std::min(sizeof buffer, max), MSG_DONTWAIT);
    if (got > 0) {
        into.append(buffer, static_cast<std::size_t>(got));
        return true;
    }
    if (got == 0) {
        end = ReadResult::Eof;
        return false;
    }
    if (errno == EAGAIN || errno == EINTR) return true;
    end = ReadResult::Reset;
    return false;
}

}  // namespace

ReadResult Connection::read_exact(std::size_t count, Deadline deadline) {
    ReadResult result;
    Clock::time_point start = Clock::now();
    while (result.data.size() < count) {
        if (!wait_for(fd_.get(), POLLIN, deadline)) {
            result.end = ReadResult::Timeout;
            break;
        }
        if (!receive_once(fd_.get(), result.data, count - result.data.size(), result.end)) break;
    }
    result.waited = Clock::now() - start;
    return result;
}

ReadResult Connection::read_until_eof(Deadline deadline, std::size_t limit) {
    ReadResult result;
    Clock::time_point start = Clock::now();
    for (;;) {
        if (result.data.size() >= limit) {
            result.end = ReadResult::Complete;
            break;
        }
        if (!wait_for(fd_.get(), POLLIN, deadline)) {
            result.end = ReadResult::Timeout;
            break;
        }
        if (!receive_once(fd_.get(), result.data, limit - result.data.size(), result.end)) break;
    }
    result.waited = Clock::now() - start;
    return result;
}

ReadResult Connection::exchange(std::string_view bytes, std::size_t expect, Deadline deadline,
                                Duration pause) {
    ReadResult result;
    Clock::time_point start = Clock::now();
    Clock::time_point start_reading = start + pause;
    while (result.data.size() < expect) {
        bool reading = Clock::now() >= start_reading;
        pollfd p{fd_.get(),
                 static_cast<short>((reading ? POLLIN : 0) | (bytes.empty() ? 0 : POLLOUT)), 0};
        Deadline wake = reading ? deadline : deadline.sooner(start_reading - Clock::now());
        int ready = ::poll(&p, 1, wake.remaining_ms());
        if (ready < 0 && errno != EINTR)
            throw std::system_error(errno, std::generic_category(), "poll");
        if (ready == 0 && deadline.passed()) {
            result.end = ReadResult::Timeout;
            break;
        }
        if (p.revents & POLLOUT) bytes.remove_prefix(send_some(bytes));
        if (reading && (p.revents & (POLLIN | POLLHUP | POLLERR)))
            if (!receive_once(fd_.get(), result.data, expect - result.data.size(), result.end))
                break;
    }
    result.waited = Clock::now() - start;
    if (!bytes.empty() && result.end == ReadResult::Complete) result.end = ReadResult::Timeout;
    return result;
}

void Connection::shutdown_write() { ::shutdown(fd_.get(), SHUT_WR); }

void Connection::reset() {
    linger immediate{1, 0};  // close() then sends RST and discards unsent data
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &immediate, sizeof immediate);
    fd_.reset();
}

std::string show(std::string_view bytes, std::size_t max_shown) {
    auto render = [](std::string_view part) {
        std::string out;
        for (unsigned char c : part) {
            if (c == '\n') out += "\\n";
            else if (c == '\r') out += "\\r";
            else if (c == '\t') out += "\\t";
            else if (c == '\0') out += "\\0";
            else if (c == '\\') out += "\\\\";
            else if (c == '"') out += "\\\"";
            else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
            else {
                char hex[8];
                std::snprintf(hex, sizeof hex, "\\x%02x", c);
                out += hex;
            }
        }
        return out;
    };
    if (bytes.size() <= max_shown) return "\"" + render(bytes) + "\"";
    std::size_t half = max_shown / 2;
    return str("\"", render(bytes.substr(0, half)), "\"…\"",
               render(bytes.substr(bytes.size() - half)), "\" (", bytes.size(), " bytes)");
}

std::string describe_difference(std::string_view expected, std::string_view got) {
    if (expected == got) return "";
    std::size_t at = 0;
    while (at < expected.size() && at < got.size() && expected[at] == got[at]) ++at;
    if (at == got.size())
        return str("the reply stopped short: ", got.size(), " of ", expected.size(),
                   " bytes came back, the first missing one is byte ", at, " of ",
                   show(expected.substr(at, 40)));
    std::size_t from = at > 20 ? at - 20 : 0;
    return str("the reply differs from byte ", at, " on: expected ",
               show(expected.substr(from, 60)), ", got ", show(got.substr(from, 60)),
               from > 0 ? str(" (both shown from byte ", from, ")") : "");
}

void expect_reply(Connection& connection, std::string_view sent, std::string_view expected,
                  Deadline deadline, std::string_view usual_cause) {
    ReadResult reply = connection.read_exact(expected.size(), deadline);
    std::string difference = describe_difference(expected, reply.data);
    if (difference.empty()) return;
    std::string message = "sent " + show(sent) + "; expected " + show(expected) + " back; ";
    if (reply.data.empty()) message += "got nothing: " + reply.how();
    else message += difference + (reply.end == ReadResult::Complete ? "" : "; then " + reply.how());
    if (!usual_cause.empty()) message += ". " + std::string(usual_cause);
    throw TestFailure(message);
}

}  // namespace checker
