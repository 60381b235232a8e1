#include "line_protocol.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using iolab::LineProtocol;

// Feeds `input` split into pieces of `piece` bytes; returns the replies and counts requests.
std::string feed(std::string_view input, std::size_t piece, bool eof,
                 std::size_t* requests = nullptr) {
    LineProtocol protocol;
    std::string replies;
    std::size_t count = 0;
    for (std::size_t at = 0; at < input.size(); at += piece)
        count += protocol.consume(input.substr(at, piece), replies);
    if (eof) count += protocol.finish(replies);
    if (requests) *requests = count;
    return replies;
}

TEST(LineProtocol, EchoesEachLineWithItsNewline) {
    std::size_t requests = 0;
    EXPECT_EQ(feed("a\nbb\n\n", 100, false, &requests), "a\nbb\n\n");
    EXPECT_EQ(requests, 3u);
}

TEST(LineProtocol, SameRepliesHoweverTheBytesAreSplit) {
    std::string input = "first line\nsecond\n\nthird, a longer one\nunfinished";
    for (std::size_t piece = 1; piece <= input.size(); ++piece)
        EXPECT_EQ(feed(input, piece, false), "first line\nsecond\n\nthird, a longer one\n")
            << "piece " << piece;
}

TEST(LineProtocol, HoldsAPartialLineUntilItsNewline) {
    LineProtocol protocol;
    std::string replies;
    EXPECT_EQ(protocol.consume("hel", replies), 0u);
    EXPECT_EQ(replies, "");
    EXPECT_EQ(protocol.buffered(), 3u);
    EXPECT_EQ(protocol.consume("lo\n", replies), 1u);
    EXPECT_EQ(replies, "hello\n");
    EXPECT_EQ(protocol.buffered(), 0u);
}

TEST(LineProtocol, AnyByteValueIsData) {
    std::string line("a\0b\r\xff\x01", 6);
    line += '\n';
    EXPECT_EQ(feed(line, 2, false), line);
}

TEST(LineProtocol, TrailingPartialLineIsAFinalRequestAtEof) {
    std::size_t requests = 0;
    EXPECT_EQ(feed("x\nno newline", 3, true, &requests), "x\nno newline");
    EXPECT_EQ(requests, 2u);
    EXPECT_EQ(feed("x\n", 3, true, &requests), "x\n");
    EXPECT_EQ(requests, 1u);
}

TEST(LineProtocol, LineOfExactlyTheLimitIsEchoed) {
    std::string line(LineProtocol::kMaxLine, 'L');
    line += '\n';
    EXPECT_EQ(feed(line, 4096, false), line);
}

TEST(LineProtocol, LongerLineGetsOneErrorAndIsDiscardedUpToItsNewline) {
    std::string input =
        std::string(LineProtocol::kMaxLine + 1, 'X') + std::string(200000, 'Y') + "\nafter\n";
    for (std::size_t piece : {1000u, 4096u, 70000u, 1u << 20}) {
        std::size_t requests = 0;
        EXPECT_EQ(feed(input, piece, false, &requests), "ERR line too long\nafter\n")
            << "piece " << piece;
        EXPECT_EQ(requests, 2u);
    }
}

TEST(LineProtocol, MemoryStaysBoundedInsideAnOverlongLine) {
    LineProtocol protocol;
    std::string replies;
    std::string chunk(16 * 1024, 'Z');
    for (int i = 0; i < 100; ++i) {
        protocol.consume(chunk, replies);
        ASSERT_LE(protocol.buffered(), LineProtocol::kMaxLine);
    }
    EXPECT_EQ(replies, "ERR line too long\n");
}

TEST(LineProtocol, OverlongPartialLineAtEofIsNotEchoed) {
    EXPECT_EQ(feed(std::string(LineProtocol::kMaxLine + 5, 'Q'), 1000, true),
              "ERR line too long\n");
}

}  // namespace
