// The event loops' shared Connection, driven by hand over a socketpair: the
// per-connection buffers, write interest, backpressure and end of stream.
#include "event_connection.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>

#include <string>

namespace {

using iolab::Connection;
using iolab::Connections;
using iolab::Options;
using iolab::UniqueFd;

struct Pair {
    UniqueFd server;  // handed to the Connection
    UniqueFd client;  // the test's end, non-blocking
};

Pair socket_pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    Pair pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
    ::fcntl(pair.client.get(), F_SETFL, O_NONBLOCK);
    return pair;
}

std::string drain(int fd) {
    std::string bytes;
    char buffer[64 * 1024];
    for (ssize_t got; (got = ::recv(fd, buffer, sizeof buffer, 0)) > 0;)
        bytes.append(buffer, static_cast<std::size_t>(got));
    return bytes;
}

void send_text(int fd, const std::string& text) {
    ASSERT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(text.size()));
}

TEST(EventConnection, AnswersCompleteLinesAndKeepsThePartialOne) {
    Pair pair = socket_pair();
    Connection connection(std::move(pair.server));
    send_text(pair.client.get(), "one\ntw");
    iolab::Interest next = connection.on_readable(Options{});
    EXPECT_TRUE(next.read);
    EXPECT_FALSE(next.write);  // the reply fitted in the socket buffer at once
    EXPECT_EQ(drain(pair.client.get()), "one\n");
    send_text(pair.client.get(), "o\n");
    connection.on_readable(Options{});
    EXPECT_EQ(drain(pair.client.get()), "two\n");
}

TEST(EventConnection, StopsReadingPastTheHighWaterMarkAndResumesWhenDrained) {
    Pair pair = socket_pair();
    int small = 4096;
    ::setsockopt(pair.server.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    Connection connection(std::move(pair.server));
    std::string line(99, 'x');
    line += '\n';
    std::string sent;
    // The client sends without reading; the connection reads until its
    // pending replies pass the mark, then asks only to write.
    for (int round = 0; round < 10000 && connection.interest().read; ++round) {
        while (::send(pair.client.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
            sent += line;
        connection.on_readable(Options{});
    }
    EXPECT_FALSE(connection.interest().read);
    EXPECT_TRUE(connection.interest().write);
    EXPECT_GE(connection.pending_output(), Connection::kHighWaterMark);
    // One more read's replies may come on top of the mark: a chunk, plus a
    // partial line begun in the read before.
    EXPECT_LE(connection.pending_output(),
              Connection::kHighWaterMark + Connection::kReadChunk + iolab::LineProtocol::kMaxLine);

    // The client reads; the replies drain and reading resumes; nothing is lost.
    std::string received;
    for (int round = 0; round < 100000 && connection.interest().write; ++round) {
        received += drain(pair.client.get());
        connection.on_writable();
    }
    EXPECT_TRUE(connection.interest().read);
    for (int round = 0; round < 100000 && received.size() < sent.size(); ++round) {
        connection.on_readable(Options{});  // does nothing while reading is paused
        connection.on_writable();
        received += drain(pair.client.get());
    }
    EXPECT_EQ(received.size(), sent.size());
    EXPECT_TRUE(received == sent);
}

TEST(EventConnection, AnswersTheTrailingPartialLineAtEndOfStreamThenFinishes) {
    Pair pair = socket_pair();
    Connections connections;
    int fd = pair.server.get();
    connections.try_emplace(fd, std::move(pair.server));
    send_text(pair.client.get(), "last words");
    ::shutdown(pair.client.get(), SHUT_WR);
    iolab::handle_ready(connections, fd, true, false, Options{});  // reads the line
    iolab::handle_ready(connections, fd, true, false, Options{});  // reads the end of stream
    EXPECT_EQ(drain(pair.client.get()), "last words");
    EXPECT_TRUE(connections.empty());  // finished, hence closed
    char byte;
    EXPECT_EQ(::recv(pair.client.get(), &byte, 1, 0), 0);
}

TEST(EventConnection, ClosesWhenThePeerIsGone) {
    Pair pair = socket_pair();
    Connections connections;
    int fd = pair.server.get();
    connections.try_emplace(fd, std::move(pair.server));
    pair.client.reset();
    iolab::handle_ready(connections, fd, true, true, Options{});
    EXPECT_TRUE(connections.empty());
}

}  // namespace
