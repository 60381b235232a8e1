// The proactors' shared CompletionConnection and CompletionTable, driven by
// hand: the test plays the kernel, filling the read buffer and reporting
// completions, so no AIO or io_uring is involved.
#include "completion_connection.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace {

using iolab::CompletionConnection;
using iolab::Operation;
using iolab::Options;
using iolab::UniqueFd;

struct Pair {
    UniqueFd server;  // handed to the connection
    UniqueFd client;  // the test's end
};

Pair socket_pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::string as_string(std::span<const char> bytes) { return {bytes.data(), bytes.size()}; }

// What the kernel does for a read: the bytes land in the buffer the read was
// submitted with, then the completion reports how many.
void complete_read(CompletionConnection& connection, std::string_view bytes) {
    ASSERT_TRUE(connection.read_in_flight());
    ASSERT_LE(bytes.size(), connection.read_buffer().size());
    std::memcpy(connection.read_buffer().data(), bytes.data(), bytes.size());
    connection.on_read_complete(static_cast<long>(bytes.size()), Options{});
}

TEST(CompletionConnection, AReadWithTwoLinesQueuesTheirRepliesAndAsksForAWriteNotARead) {
    Pair pair = socket_pair();
    CompletionConnection connection(std::move(pair.server));
    EXPECT_EQ(connection.next(), Operation::read);
    connection.submitted(Operation::read);
    EXPECT_EQ(connection.next(), Operation::none);  // one read at a time
    complete_read(connection, "one\ntwo\nthr");
    EXPECT_FALSE(connection.in_flight());
    EXPECT_EQ(connection.next(), Operation::write);  // backpressure: replies before the next read
    EXPECT_EQ(as_string(connection.unsent_output()), "one\ntwo\n");  // "thr" waits for its '\n'
}

TEST(CompletionConnection, AShortWriteLeavesTheRestPendingThenReadingResumes) {
    Pair pair = socket_pair();
    CompletionConnection connection(std::move(pair.server));
    connection.submitted(Operation::read);
    complete_read(connection, "one\ntwo\n");
    connection.submitted(Operation::write);
    EXPECT_EQ(connection.next(), Operation::none);  // no read while the write is in flight
    connection.on_write_complete(3);
    EXPECT_EQ(as_string(connection.unsent_output()), "\ntwo\n");
    EXPECT_EQ(connection.next(), Operation::write);
    connection.submitted(Operation::write);
    connection.on_write_complete(5);
    EXPECT_EQ(connection.pending_output(), 0u);
    EXPECT_EQ(connection.next(), Operation::read);
}

TEST(CompletionConnection, RepliesMadeWhileAWriteIsInFlightDoNotMoveItsBytes) {
    // Full duplex (io_uring can keep a read and a write in flight): the bytes
    // being written stay where the kernel was told they are.
    Pair pair = socket_pair();
    CompletionConnection connection(std::move(pair.server));
    connection.submitted(Operation::read);
    complete_read(connection, "first\n");
    std::span<const char> in_flight = connection.unsent_output();
    connection.submitted(Operation::write);
    connection.submitted(Operation::read);
    complete_read(connection, std::string(1000, 'x') + "\n");
    EXPECT_EQ(connection.unsent_output().data(), in_flight.data());
    EXPECT_EQ(as_string(connection.unsent_output()), "first\n");
    EXPECT_EQ(connection.pending_output(), 6u + 1001u);
    connection.on_write_complete(6);
    EXPECT_EQ(as_string(connection.unsent_output()), std::string(1000, 'x') + "\n");
}

TEST(CompletionConnection, EndOfStreamAnswersTheTrailingPartialLineThenFinishes) {
    Pair pair = socket_pair();
    CompletionConnection connection(std::move(pair.server));
    connection.submitted(Operation::read);
    complete_read(connection, "last words");
    EXPECT_EQ(connection.next(), Operation::read);  // no reply yet: read on
    connection.submitted(Operation::read);
    connection.on_read_complete(0, Options{});
    EXPECT_TRUE(connection.peer_closed());
    EXPECT_EQ(connection.next(), Operation::write);
    connection.submitted(Operation::write);
    EXPECT_FALSE(connection.finished());
    connection.on_write_complete(10);
    EXPECT_TRUE(connection.finished());
}

TEST(CompletionConnection, AFailedOrStoppedConnectionSubmitsNothingMore) {
    Pair pair = socket_pair();
    CompletionConnection connection(std::move(pair.server));
    connection.submitted(Operation::read);
    connection.on_read_complete(-ECONNRESET, Options{});
    EXPECT_TRUE(connection.stopped());
    EXPECT_TRUE(connection.finished());

    Pair other = socket_pair();
    CompletionConnection stopping(std::move(other.server));
    stopping.submitted(Operation::read);
    stopping.stop();
    EXPECT_FALSE(stopping.finished());  // its read is still in flight
    char byte;
    EXPECT_EQ(::recv(other.client.get(), &byte, 1, 0), 0);  // shut down: the peer sees the end
    complete_read(stopping, "late\n");
    EXPECT_EQ(stopping.pending_output(), 0u);  // not answered
    EXPECT_TRUE(stopping.finished());
}

TEST(CompletionConnection, ReadsCanBePointedAtABufferOutsideTheConnection) {
    Pair pair = socket_pair();
    CompletionConnection connection(std::move(pair.server));
    char outside[8];
    connection.set_read_buffer(outside);
    EXPECT_EQ(connection.read_buffer().data(), outside);
    EXPECT_EQ(connection.read_buffer().size(), sizeof outside);
    connection.submitted(Operation::read);
    std::memcpy(outside, "hi\n", 3);
    connection.on_read_complete(3, Options{});
    EXPECT_EQ(as_string(connection.unsent_output()), "hi\n");
}

TEST(CompletionTable, ErasesAConnectionOnlyWhenNothingIsInFlight) {
    Pair pair = socket_pair();
    iolab::CompletionTable<CompletionConnection> table;
    auto owned = std::make_unique<CompletionConnection>(std::move(pair.server));
    CompletionConnection* connection = owned.get();
    table.add(std::move(owned), [](CompletionConnection& c) {
        c.submitted(Operation::read);
        return true;
    });
    ASSERT_EQ(table.find(connection), connection);  // the address is the completion's id
    EXPECT_FALSE(table.erase(connection));          // its read is in flight: kept
    EXPECT_EQ(table.size(), 1u);
    connection->on_read_complete(0, Options{});
    EXPECT_TRUE(table.erase(connection));
    EXPECT_EQ(table.size(), 0u);
    EXPECT_EQ(table.find(connection), nullptr);
    char byte;
    EXPECT_EQ(::recv(pair.client.get(), &byte, 1, 0), 0);  // erased, hence closed
}

TEST(CompletionTable, DoesNotAddAConnectionWhoseFirstOperationWasRefused) {
    Pair pair = socket_pair();
    iolab::CompletionTable<CompletionConnection> table(1);
    table.add(std::make_unique<CompletionConnection>(std::move(pair.server)),
              [](CompletionConnection&) { return false; });
    EXPECT_EQ(table.size(), 0u);
    EXPECT_TRUE(table.wait_for_room());
    table.close();
    EXPECT_FALSE(table.wait_for_room());
}

}  // namespace
