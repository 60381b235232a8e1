// checker talk: a small interactive client for trying a server by hand, on
// any machine that has built the kit (no nc needed).
//
//   build/checker talk --port 8080 [--host 127.0.0.1] [--wait 3]
//
// Each line typed (or piped in) is sent as it is ended; each line that comes
// back is printed with how long it took, counted from when its request was sent:
//   hello   (0.2 ms)
// Replies are matched to requests in order, as the protocol answers them.
// Every wait is bounded: a reply that does not come within --wait seconds is
// reported, and talk goes on (a late reply is still shown, marked late). At
// the end of input the write side is closed (the server then answers a last
// partial line and closes); talk waits --wait seconds more for that.
//
// Exit status: 0 when the server closed the connection or the input ended,
// 1 when the connection was reset or the server stopped reading, 2 when it
// could not connect. Runs on the checker's main thread.
#pragma once

#include "connection.hpp"

#include <iosfwd>

namespace checker {

struct TalkOptions {
    Endpoint server;
    Duration reply_wait = 3s;
};

// Talks to `options.server`, reading the lines to send from descriptor `input`
// (stdin) and printing replies and events to `out`, errors to `err`.
int talk(const TalkOptions& options, int input, std::ostream& out, std::ostream& err);

}  // namespace checker
