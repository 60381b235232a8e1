// Thread-per-client server: every client is served by a thread of its own.
//
// The main thread only accepts. For each connection it starts a std::thread
// that serves that one client with the same serve_until_eof() as the iterative
// server, closes the connection and ends. Clients no longer wait for one
// another, and a thread costs less to start than a process. The price: all
// threads share one address space, so whatever two of them touch must be
// synchronized (here two counters, made atomic), and a crash in one thread
// takes down the whole server; each thread still costs a stack and a kernel task.
//
// Compare with solutions/fork/server.cpp (a process per client instead) and
// solutions/blocking/server.cpp (the same loop, serving in place).
// BEGIN LAB 3: Include what your own code uses (line_protocol.hpp, request_work.hpp...).
// STUB:
#include "blocking_session.hpp"
// END LAB 3
#include "server_main.hpp"
#include "shutdown.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <system_error>
#include <thread>

namespace {

using namespace iolab;
using namespace std::chrono_literals;

// BEGIN LAB 3: A thread per client: the main thread accepts, starts a thread, accepts again.
// - Serving a client is the blocking conversation, yours to write at this level:
//   recv() returns whatever bytes arrived, LineProtocol turns them into replies,
//   each reply is sent whole; recv() returning 0 is the end of file, and the last
//   unterminated line is still a request. Reply before reading more.
// - One table of descriptors for all threads: each connection has one owner,
//   its thread, which closes it once. A detached thread refers to nothing of the
//   main thread's, which may be gone by the time it runs.
// - Whatever two threads share and one writes must be synchronized.
// - A thread that cannot be started turns one client away, not the server down.
// - At SIGTERM every connection is woken (ShutdownWatch, shutdown.hpp); the
//   server waits for its threads a bounded time and exits 0 within a second.
// STUB: void run(Listener& listener, const Options& options) {
// STUB:     $THROW
// STUB: }
// Shared by all threads. A plain `++served` would be a data race: two threads
// can both read 41 and both write 42. std::atomic makes each update indivisible.
std::atomic<int> running_threads{0};
std::atomic<long> connections_served{0};

// The whole life of a connection thread. It takes the connection and a copy of
// the options by value: the thread is detached, and must not refer to anything
// of the main thread's, which may be gone by the time it runs.
void serve_in_thread(UniqueFd client, Options options) {
    // BEGIN LAB 2: The connection's whole life in its thread: serve it, close it, count it.
    // All threads share one table of descriptors: this thread is the connection's
    // only owner, and closes it exactly once (a second close() could cut off the
    // client another thread has just accepted under the same number). Both counters
    // are shared with the other threads: each update must be free of data races.
    // STUB: $THROW
    // BEGIN LAB: Serve the client (serve_until_eof), close the connection
    // (client.reset(): closed once, by its only owner), then count it in
    // connections_served and this thread out of running_threads.
    serve_until_eof(client, options);
    client.reset();
    connections_served.fetch_add(1);
    running_threads.fetch_sub(1);
    // END LAB
    // END LAB 2
}

// Starts a detached thread serving `client`. If no thread can be started
// (the process has too many, or memory for stacks ran out), std::thread
// throws; the connection, already moved into the failed thread's arguments,
// is closed with them: this client is turned away, the others go on.
void start_connection_thread(UniqueFd client, const Options& options) {
    // BEGIN LAB 2: Start a thread that takes this connection over, and let it run on its own.
    // The main thread must keep nothing of the connection's once the thread has it,
    // and nobody will join the thread. Count it as running before it can end, so
    // that a shutdown cannot miss it. Starting a thread can fail (too many tasks, no
    // memory for a stack): that turns this client away only (say so on stderr), and
    // the count must stay right.
    // STUB: $THROW
    // BEGIN LAB: Count the thread in running_threads first (so that a shutdown
    // cannot miss it), then std::thread(serve_in_thread, std::move(client),
    // options).detach(). On std::system_error, count it out again and report.
    running_threads.fetch_add(1);
    try {
        std::thread(serve_in_thread, std::move(client), options).detach();
    } catch (const std::system_error& error) {
        running_threads.fetch_sub(1);
        std::fprintf(stderr, "cannot start a thread (%s), turning a client away\n", error.what());
    }
    // END LAB
    // END LAB 2
}

// At shutdown, every connection thread is woken (the scaffolding's
// ShutdownWatch shuts its connection down) and ends within moments. Waits for
// them, at most 500 ms, so that none is cut off in the middle of a reply.
void wait_for_connection_threads() {
    // BEGIN LAB 2: At shutdown, wait until the connection threads have ended, for a bounded time.
    // Each is woken by the shutdown and ends within moments; the server must exit
    // within a second, and a thread cut off in the middle of a reply loses it.
    // STUB: $THROW
    // BEGIN LAB: Wait while running_threads > 0, at most 500 ms (sleep a few
    // milliseconds between looks).
    for (auto give_up = std::chrono::steady_clock::now() + 500ms;
         running_threads.load() > 0 && std::chrono::steady_clock::now() < give_up;)
        std::this_thread::sleep_for(5ms);
    // END LAB
    // END LAB 2
}

void run(Listener& listener, const Options& options) {
    // BEGIN LAB 2: Accept clients and give each a thread of its own; once a shutdown is
    // requested, let the connection threads finish before returning.
    // STUB: $THROW
    // BEGIN LAB: Accept clients like the iterative server, handing each to
    // start_connection_thread(). Once shutdown_requested(),
    // wait_for_connection_threads() before returning.
    while (!shutdown_requested()) {
        UniqueFd client = listener.accept();
        if (client) start_connection_thread(std::move(client), options);
    }
    wait_for_connection_threads();
    // END LAB
    // END LAB 2
    std::printf("threads: %ld connections served\n", connections_served.load());
}
// END LAB 3

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv, {"threads", "one thread per client"}, run);
}
