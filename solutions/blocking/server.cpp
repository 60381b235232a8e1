// Iterative blocking server: the simplest model and the baseline of the kit.
//
// One thread accepts a client, serves it until the client closes, then accepts
// the next. While one client is being served, every other one waits in the
// kernel's listen backlog: a single idle client stalls everybody (the
// checker's concurrency probe shows it). Each call blocks the only thread.
//
// Compare with solutions/fork/server.cpp and solutions/threads/server.cpp:
// they call the same serve_until_eof(), from a process or a thread per client.
// BEGIN LAB 3: (the per-client routine is yours to write at this level)
// STUB:
#include "blocking_session.hpp"
// END LAB 3
#include "server_main.hpp"
#include "shutdown.hpp"

namespace {

using namespace iolab;

// BEGIN LAB 3: The iterative server: accept one client, serve it to the end, accept the next.
// Serving a client means the whole conversation with blocking calls: recv()
// returns whatever bytes have arrived (half a line, many lines), LineProtocol
// turns them into replies, and every reply must be sent whole, however many
// send() calls that takes. recv() returning 0 is the client's end of file: its
// last, unterminated line is still a request. Reply to what was read before
// reading more, or a client that never reads grows the server without bound.
// A shutdown (SIGTERM) must stop the server within a second even when it is
// asleep in recv() on an idle client: see ShutdownWatch in shutdown.hpp. Each
// connection is closed once served (UniqueFd), or descriptors run out.
// STUB: void run(Listener& listener, const Options& options) {
// STUB:     $THROW
// STUB: }
void run(Listener& listener, const Options& options) {
    // BEGIN LAB 2: Serve clients one after another, until a shutdown is requested.
    // The listener's accept() sleeps until a client has connected; it comes back
    // empty when a signal interrupted it (the shutdown, say) or when the client
    // left before it was accepted, and neither is a failure. A client's descriptor
    // must be closed once it is served: the server meets thousands of clients.
    // Write serve_until_eof() first (labs/common/blocking_session.cpp).
    // STUB: $THROW
    // BEGIN LAB: Accept clients one at a time with listener.accept() (it blocks
    // until a client connects, or returns an empty UniqueFd after a signal).
    // Serve each with serve_until_eof() until it closes, then accept the next.
    // Return once shutdown_requested() is true.
    while (!shutdown_requested()) {
        UniqueFd client = listener.accept();
        if (client) serve_until_eof(client, options);
    }  // each client's descriptor is closed by its UniqueFd, here
    // END LAB
    // END LAB 2
}
// END LAB 3

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv, {"blocking", "one client at a time (iterative)"}, run);
}
