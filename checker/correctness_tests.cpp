// correctness: the server speaks the protocol (docs/protocol.md) byte for
// byte, however the bytes are split, whatever they are, however many.
#include "test_cases.hpp"
#include "text.hpp"

#include "clients.hpp"
#include "diagnosis.hpp"

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace checker::tests {

namespace {

// Lines "NAME 000001 xxxx...\n" of the given length, numbered so that a
// reordered or repeated line is easy to spot in a failure message.
std::string numbered_lines(const char* name, std::size_t count, std::size_t length) {
    std::string text;
    text.reserve(count * length);
    for (std::size_t i = 0; i < count; ++i) {
        std::string line = std::string(name) + " " + std::to_string(1000000 + i).substr(1) + " ";
        line.resize(length - 1, static_cast<char>('a' + i % 26));
        text += line + '\n';
    }
    return text;
}

void test_one_line(TestContext& context) {
    Connection client = Connection::open(context.server, context.deadline);
    std::string line = "hello, echo\n";
    client.send(line, context.deadline);
    expect_reply(
        client, line, line, context.deadline,
        "The server must read the request, then write the same bytes back on the same connection, "
        "without waiting for more input first (with POSIX AIO on Linux, an aio_write issued while an "
        "aio_read is pending on the same socket waits for that read to complete)");
}

void test_pipelined_lines(TestContext& context) {
    Connection client = Connection::open(context.server, context.deadline);
    std::string lines = numbered_lines("pipelined", 2000, 40);
    client.send(lines, context.deadline);
    expect_reply(
        client, "2000 lines of 40 bytes in one write", lines, context.deadline,
        "One recv() can return several lines, or a line and a half: the server must answer every "
        "complete line in it, in order, and keep the rest for the next recv()");
}

void test_large_payload(TestContext& context) {
    // The client keeps a small receive buffer and does not read at first, so
    // the server's send() cannot write everything at once: a blocking send
    // waits, a non-blocking one comes up short and must finish the rest later.
    Connection client = Connection::open(context.server, context.deadline, 16 * 1024);
    std::string lines = numbered_lines("payload", 8 * 1024, 1024);  // 8 MiB
    ReadResult reply = client.exchange(lines, lines.size(), context.deadline, 300ms);
    std::string difference = describe_difference(lines, reply.data);
    if (!difference.empty())
        throw TestFailure(
            "sent 8 MiB of 1 KiB lines to a client that paused reading for 0.3 s; " + difference +
            "; " + reply.how() +
            ". Partial writes: send() may take fewer bytes than asked; the rest must still be sent, "
            "in order");
}

void test_any_byte_values(TestContext& context) {
    Connection client = Connection::open(context.server, context.deadline);
    std::string lines;
    lines += std::string("nul\0inside\r\n", 12);
    lines += "caf\xc3\xa9 \xe2\x9c\x93 utf-8\n";
    std::string every_byte;
    for (int c = 0; c < 256; ++c)
        if (c != '\n') every_byte += static_cast<char>(c);
    lines += every_byte + "\n";
    client.send(lines, context.deadline);
    expect_reply(
        client, lines, lines, context.deadline,
        "Every byte value except '\\n' is data: a server that treats the bytes as a C string stops at "
        "\\0, one that looks for \"\\r\\n\" or trims whitespace changes the line");
}

void test_trickled_line(TestContext& context) {
    Connection client = Connection::open(context.server, context.deadline);
    std::string line = "one byte at a time\n";
    for (char c : line) {
        client.send(std::string_view(&c, 1), context.deadline);
        std::this_thread::sleep_for(5ms);  // TCP_NODELAY is on: each byte travels alone
    }
    expect_reply(
        client, line + " (one byte per send, 5 ms apart)", line, context.deadline,
        "recv() returns whatever has arrived, here one byte: the server must keep a partial line until "
        "its '\\n' comes");
}

void test_partial_line_at_eof(TestContext& context) {
    Connection client = Connection::open(context.server, context.deadline);
    std::string bytes = "complete line\nno newline at the end";
    client.send(bytes, context.deadline);
    client.shutdown_write();
    ReadResult reply = client.read_until_eof(context.deadline);
    std::string difference = describe_difference(bytes, reply.data);
    if (!difference.empty())
        throw TestFailure(
            "sent " + show(bytes) +
            " then half-closed (shutdown SHUT_WR); expected all of it back; " + difference + "; " +
            reply.how() +
            ". recv() returning 0 means the client will send nothing more: a trailing partial line is "
            "then a final request, to be answered before closing");
    if (reply.end != ReadResult::Eof)
        throw TestFailure("sent " + show(bytes) +
                          " then half-closed; the replies came back but the server did not "
                          "close the connection (" +
                          reply.how() +
                          "). After EOF from the client and the last "
                          "reply, the server must close its side");
}

void test_overlong_line(TestContext& context) {
    Connection client = Connection::open(context.server, context.deadline);
    std::string longest(64 * 1024, 'L');
    std::string too_long(100 * 1024, 'X');
    std::string bytes = longest + "\n" + too_long + "\nafter\n";
    std::string expected = longest + "\nERR line too long\nafter\n";
    ReadResult reply = client.exchange(bytes, expected.size(), context.deadline);
    std::string difference = describe_difference(expected, reply.data);
    if (!difference.empty())
        throw TestFailure(
            "sent a line of exactly 64 KiB (to be echoed), one of 100 KiB (to be refused with "
            "\"ERR line too long\\n\", once) and \"after\\n\" (to be echoed); " +
            difference + "; " + reply.how() +
            ". A line longer than 64 KiB must not be buffered whole: reply with the "
            "error once, discard the rest of that line up to its '\\n', go on with the next");
}

// Several clients stream at the same time, each its own numbered lines, in
// rounds so that every connection has bytes arriving while the others do.
// Each half-closes, then its replies are read back: even a server that serves
// one client at a time passes (the others' bytes wait in the kernel).
void test_concurrent_streams(TestContext& context) {
    constexpr int kClients = 8;
    constexpr std::size_t kRounds = 8, kLinesPerRound = 8, kLineLength = 512;  // 32 KiB per client
    std::vector<Connection> clients;
    std::vector<std::string> sent(kClients);
    for (int i = 0; i < kClients; ++i)
        clients.push_back(Connection::open(context.server, context.deadline));
    for (std::size_t round = 0; round < kRounds; ++round) {
        for (int i = 0; i < kClients; ++i) {
            std::string name = "client" + std::to_string(i) + "-round" + std::to_string(round);
            std::string lines = numbered_lines(name.c_str(), kLinesPerRound, kLineLength);
            clients[i].send(lines, context.deadline);
            sent[i] += lines;
        }
    }
    for (Connection& client : clients) client.shutdown_write();
    for (int i = 0; i < kClients; ++i) {
        ReadResult reply = clients[i].read_until_eof(context.deadline, 2 * sent[i].size());
        std::string difference = describe_difference(sent[i], reply.data);
        if (!difference.empty())
            throw TestFailure(
                str(kClients,
                    " clients sent 32 KiB each at the same time (lines naming "
                    "the client), then half-closed; client",
                    i, ": ", difference, "; ", reply.how()) +
                ". Each connection's replies must come from its own bytes only: a read "
                "buffer, an aiocb or a line buffer shared by several connections mixes their data as "
                "soon as two of them have a read in flight");
    }
}

// Many clients at once, each pipelining a long stream of lines numbered in
// sequence, so that a reply out of place names the line it belongs to.
constexpr int kPipelinedClients = 32;
constexpr std::size_t kLinesPerClient = 2000;

std::string sequenced_lines(int client) {
    std::string name = "client " + std::to_string(100 + client).substr(1) + " seq";
    return numbered_lines(name.c_str(), kLinesPerClient, 48);
}

// The stream cut in four pieces, at places that fall in the middle of lines.
std::vector<std::string> cut_in_four(const std::string& stream, int client) {
    std::size_t quarter = stream.size() / 4;
    std::size_t cut1 = quarter + static_cast<std::size_t>(client) * 7 % 48, cut2 = 2 * quarter + 13,
                cut3 = 3 * quarter + 31;
    return {stream.substr(0, cut1), stream.substr(cut1, cut2 - cut1),
            stream.substr(cut2, cut3 - cut2), stream.substr(cut3)};
}

void test_pipelined_clients(TestContext& context) {
    std::vector<SwarmClient> clients =
        open_swarm(context.server, kPipelinedClients, context.deadline);
    for (std::size_t i = 0; i < clients.size(); ++i) {
        clients[i].expected = sequenced_lines(static_cast<int>(i));
        clients[i].pieces = cut_in_four(clients[i].expected, static_cast<int>(i));
        clients[i].half_close = true;  // a server that serves one client at a time then moves on
    }
    SwarmCount count = run_swarm(clients, 0s, context.deadline);
    context.observed =
        str(kPipelinedClients, " clients x ", kLinesPerClient, " lines: ", count.str());
    if (count.served == kPipelinedClients) return;
    std::string message =
        str(kPipelinedClients, " clients each sent ", kLinesPerClient,
            " lines numbered in sequence (", kLinesPerClient * 48 / 1024,
            " KiB), all at the same time and without waiting for replies, then half-closed: ",
            count.str());
    if (count.wrong > 0)
        throw TestFailure(
            message + ". First wrong: " + count.first_wrong +
            ". Replies out of order, or mixed with "
            "another client's lines, mean that a connection's bytes were not handled as one ordered "
            "stream: either its state (partial line, pending replies) is shared with other "
            "connections, or two threads served it at once, each recv()ing a part of the stream (with "
            "a pool, EPOLLONESHOT gives a connection one worker at a time)");
    throw TestFailure(message + ". Every line of every client must be answered, in order");
}

// One client trickles requests that each take kSequenceDelayUs to serve: a
// connection's requests are served one after another, so the replies cannot
// all be back before the sum of their service times. (A lower bound that
// holds whatever the machine's load: nanosleep never wakes early.)
constexpr int kSequenceRequests = 8;
constexpr long kSequenceDelayUs = 50'000;
constexpr Duration kSequenceGap = 2ms;  // between two requests, well below one's service time
// How each threaded model keeps a connection to one thread at a time.
constexpr const char* kOneThreadPerConnection =
    "with a pool, EPOLLONESHOT gives a connection one worker at a time; with a loop per thread, "
    "each connection belongs to one loop, the only thread waiting on its epoll set";

// Whether more bytes came back within `took` than the replies of the
// requests that one-after-the-other service could have finished by then.
bool sooner_than_one_by_one(const SwarmClient& client, Duration took) {
    auto finishable = static_cast<std::size_t>(took / std::chrono::microseconds(kSequenceDelayUs));
    std::size_t reply_size = client.pieces.front().size();
    return client.received.size() > finishable * reply_size;
}

// After replies wrong or missing on one connection: the requests again, on a new one,
// counting the bytes back (whatever they are) a little after the first
// requests were sent. One after the other, no more than kSerialBy requests
// can be answered by then (nanosleep never wakes early): more bytes than
// their replies mean several requests were in service at once, so two
// threads served the connection.
bool requests_side_by_side(TestContext& context) {
    constexpr int kSerialBy = 5;
    constexpr Duration kLookAt = std::chrono::microseconds(kSerialBy * kSequenceDelayUs);
    try {
        // Its own time, a moment: the test's may be spent on the replies that never came.
        Connection client = Connection::open(context.server, Deadline(1s));
        Deadline look(kLookAt);
        Deadline no_work_done_yet(std::chrono::microseconds(kSequenceDelayUs * 9 / 10));
        std::size_t serial_bytes = 0;
        for (int i = 1; i <= kSequenceRequests; ++i) {
            std::string request = str("request ", i, " of ", kSequenceRequests, "\n");
            client.send(request, look);
            if (i <= kSerialBy) serial_bytes += request.size();
            std::this_thread::sleep_for(kSequenceGap);
        }
        // A reply before any request's work could be done: the server skips the work
        // (--delay-us), which says nothing of how many threads serve the connection.
        if (!client.read_exact(1, no_work_done_yet).data.empty()) return false;
        return client.read_exact(serial_bytes, look).data.size() >= serial_bytes;
    } catch (const TestFailure&) {
        return false;
    }
}

void test_requests_in_sequence(TestContext& context) {
    std::vector<SwarmClient> clients = open_swarm(context.server, 1, context.deadline);
    SwarmClient& client = clients.front();
    for (int i = 1; i <= kSequenceRequests; ++i)
        client.pieces.push_back(str("request ", i, " of ", kSequenceRequests, "\n"));
    for (const std::string& piece : client.pieces) client.expected += piece;
    Clock::time_point start = Clock::now();
    SwarmCount count = run_swarm(clients, kSequenceGap, context.deadline);
    Duration took = Clock::now() - start;
    auto gap_ms = std::chrono::duration_cast<std::chrono::milliseconds>(kSequenceGap).count();
    std::string situation = str(kSequenceRequests, " requests sent on one connection ", gap_ms,
                                " ms apart, to a server started with --delay-us ", kSequenceDelayUs,
                                " (each request takes ", kSequenceDelayUs / 1000, " ms)");
    context.observed =
        str("answered in ", fixed(seconds(took), 2), " s; one after the other takes at least ",
            fixed(kSequenceRequests * (kSequenceDelayUs / 1e6), 2), " s");
    if (count.served != 1)
        throw TestFailure(
            situation + ": " + (count.wrong ? count.first_wrong : count.str()) +
                ". A connection's "
                "requests are answered in the order they came, each exactly once; two threads "
                "serving one connection at once mix its replies up (" +
                kOneThreadPerConnection + ")",
            (count.wrong > 0 && sooner_than_one_by_one(client, took)) ||
                    requests_side_by_side(context)
                ? std::string(causes::two_threads_on_one_connection)
                : "");
    if (took < std::chrono::microseconds(kSequenceRequests * kSequenceDelayUs * 95 / 100))
        throw TestFailure(
            situation + ": " + context.observed +
                ". So several requests of this one connection were in "
                "service at the same time: two threads served the connection at once, and its buffers "
                "are shared between them unsynchronized (a data race). With a pool, register each "
                "connection with EPOLLONESHOT: the kernel then reports it to one worker, and not again "
                "until that worker re-arms it; with a loop per thread, each connection belongs to one "
                "loop, the only thread waiting on its epoll set",
            took >= std::chrono::microseconds(kSequenceDelayUs)
                ? std::string(causes::two_threads_on_one_connection)
                : "");  // sooner than one request's work: the server skips it (--delay-us)
}

}  // namespace

const TestCase pipelined_clients{
    .name = "pipelined_clients",
    .category = Category::Correctness,
    .checks = "32 clients at once, each pipelining 2,000 numbered lines: all in order, byte-exact",
    .run = test_pipelined_clients,
};
const TestCase requests_in_sequence{
    .name = "requests_in_sequence",
    .category = Category::Correctness,
    .checks =
        "8 requests trickled on one connection, 50 ms of work each (--delay-us): "
        "answered in order, one after the other",
    .run = test_requests_in_sequence,
    .arguments = {"--delay-us", std::to_string(kSequenceDelayUs), "--workers", "8"},
};
const TestCase one_line{
    .name = "one_line",
    .category = Category::Correctness,
    .checks = "one line is echoed",
    .run = test_one_line,
};
const TestCase pipelined_lines{
    .name = "pipelined_lines",
    .category = Category::Correctness,
    .checks = "2,000 lines sent in one go come back complete and in order",
    .run = test_pipelined_lines,
};
const TestCase large_payload{
    .name = "large_payload",
    .category = Category::Correctness,
    .checks = "8 MiB to a slow-reading client with a small buffer: partial writes are finished",
    .run = test_large_payload,
};
const TestCase any_byte_values{
    .name = "any_byte_values",
    .category = Category::Correctness,
    .checks = "NUL, \\r, UTF-8 and every other byte value are echoed unchanged",
    .run = test_any_byte_values,
};
const TestCase trickled_line{
    .name = "trickled_line",
    .category = Category::Correctness,
    .checks = "a line sent one byte at a time",
    .run = test_trickled_line,
};
const TestCase partial_line_at_eof{
    .name = "partial_line_at_eof",
    .category = Category::Correctness,
    .checks = "at half-close a trailing partial line is answered, then the server closes",
    .run = test_partial_line_at_eof,
};
const TestCase overlong_line{
    .name = "overlong_line",
    .category = Category::Correctness,
    .checks = "64 KiB line echoed; longer line refused with ERR once; the next line echoed",
    .run = test_overlong_line,
};
const TestCase concurrent_streams{
    .name = "concurrent_streams",
    .category = Category::Correctness,
    .checks = "8 clients stream 32 KiB each at the same time; each gets exactly its own lines",
    .run = test_concurrent_streams,
};

}  // namespace checker::tests
