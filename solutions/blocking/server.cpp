// Iterative blocking server: the simplest model and the baseline of the kit.
//
// One thread accepts a client, serves it until the client closes, then accepts
// the next. While one client is being served, every other one waits in the
// kernel's listen backlog: a single idle client stalls everybody (the
// checker's concurrency probe shows it). Each call blocks the only thread.
//
// Compare with solutions/fork/server.cpp and solutions/threads/server.cpp:
// they call the same serve_until_eof(), from a process or a thread per client.
#include "blocking_session.hpp"
#include "server_main.hpp"
#include "shutdown.hpp"

namespace {

using namespace iolab;

void run(Listener& listener, const Options& options) {
    // BEGIN LAB: Accept clients one at a time with listener.accept() (it blocks
    // until a client connects, or returns an empty UniqueFd after a signal).
    // Serve each with serve_until_eof() until it closes, then accept the next.
    // Return once shutdown_requested() is true.
    while (!shutdown_requested()) {
        UniqueFd client = listener.accept();
        if (client) serve_until_eof(client, options);
    }  // each client's descriptor is closed by its UniqueFd, here
    // END LAB
}

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv, {"blocking", "one client at a time (iterative)"}, run);
}
