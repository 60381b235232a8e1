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
#include "blocking_session.hpp"
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

// Shared by all threads. A plain `++served` would be a data race: two threads
// can both read 41 and both write 42. std::atomic makes each update indivisible.
std::atomic<int> running_threads{0};
std::atomic<long> connections_served{0};

// The whole life of a connection thread. It takes the connection and a copy of
// the options by value: the thread is detached, and must not refer to anything
// of the main thread's, which may be gone by the time it runs.
void serve_in_thread(UniqueFd client, Options options) {
    // TODO: Serve the client (serve_until_eof), close the connection
    //       (client.reset(): closed once, by its only owner), then count it in
    //       connections_served and this thread out of running_threads.
    throw NotImplemented("labs/threads/server.cpp:37: see the TODO there");
}

// Starts a detached thread serving `client`. If no thread can be started
// (the process has too many, or memory for stacks ran out), std::thread
// throws; the connection, already moved into the failed thread's arguments,
// is closed with them: this client is turned away, the others go on.
void start_connection_thread(UniqueFd client, const Options& options) {
    // TODO: Count the thread in running_threads first (so that a shutdown
    //       cannot miss it), then std::thread(serve_in_thread, std::move(client),
    //       options).detach(). On std::system_error, count it out again and report.
    throw NotImplemented("labs/threads/server.cpp:48: see the TODO there");
}

// At shutdown, every connection thread is woken (the scaffolding's
// ShutdownWatch shuts its connection down) and ends within moments. Waits for
// them, at most 500 ms, so that none is cut off in the middle of a reply.
void wait_for_connection_threads() {
    // TODO: Wait while running_threads > 0, at most 500 ms (sleep a few
    //       milliseconds between looks).
    throw NotImplemented("labs/threads/server.cpp:58: see the TODO there");
}

void run(Listener& listener, const Options& options) {
    // TODO: Accept clients like the iterative server, handing each to
    //       start_connection_thread(). Once shutdown_requested(),
    //       wait_for_connection_threads() before returning.
    throw NotImplemented("labs/threads/server.cpp:64: see the TODO there");
    std::printf("threads: %ld connections served\n", connections_served.load());
}

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv, {"threads", "one thread per client"}, run);
}
