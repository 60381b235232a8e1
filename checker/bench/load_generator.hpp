// The load generator of `checker bench`: one thread, one epoll loop, any
// number of connections (10,000 is fine), every reply byte verified.
//
// Three ways to load a server:
//  - closed loop: each connection sends a request, waits for its reply, sends
//    the next (with --pipeline D, keeps D in flight). Finds peak throughput.
//  - open loop: requests leave on a fixed schedule (--rate R per second over
//    all connections), whether or not earlier ones were answered, and latency
//    counts from the scheduled time. A server that stalls for 100 ms then shows
//    100 ms of latency for every request scheduled in that time, instead of
//    one slow request and a quiet pause (Gil Tene's "coordinated omission").
//  - churn: each connection connects, sends one request, reads the reply and
//    closes, then starts over; latency counts from connect() on. Measures what
//    a new connection costs the model (fork pays a process per connection).
//
// A run: connections are ramped in, at most `ramp_window` of them waiting for
// a first reply at a time (so the server's listen backlog never overflows),
// then a warm-up that is not measured, then the measured window, then a short
// drain for the replies still due. A request that never got its reply is
// counted at the age it reached (a lower bound of its latency), never dropped.
#pragma once

#include "connection.hpp"
#include "deadline.hpp"
#include "histogram.hpp"

#include <cstdint>
#include <functional>
#include <string>

namespace checker::bench {

enum class LoadMode { ClosedLoop, OpenLoop, Churn };
const char* mode_name(LoadMode mode);  // "closed loop", "open loop", "churn"

struct LoadSpec {
    Endpoint server;
    LoadMode mode = LoadMode::ClosedLoop;
    int connections = 100;  // held open; in churn mode, connections in progress at once
    // Closed and open loop: only this many of the connections carry the load
    // (0: all). The others, opened first, are an idle crowd: each is answered
    // once during the ramp-in, so that the server surely holds it, then stays
    // silent. What a model pays per request for the crowd it watches is what
    // epoll was made for: poll() and select() scan every descriptor per call.
    int active = 0;
    int loaded_connections() const { return active > 0 ? active : connections; }
    std::size_t line_bytes = 64;  // bytes per request, its '\n' included
    int pipeline = 1;             // closed loop: requests in flight per connection
    double rate = 0;              // open loop: requests per second over all connections
    Duration warmup = 500ms;
    Duration measure = 2s;
    Duration stall_limit = 1s;  // the ramp-in gives up after this long without progress
    Duration ramp_limit = 10s;  // and after this long in all (plus 1 ms per connection)
    Duration drain_limit = 1s;  // after the window, the longest wait for replies still due
    int ramp_window = 128;      // connections opened and not yet answered, at most
};

struct LoadResult {
    LatencyHistogram latency_ns;    // every measured request (unanswered ones at their age)
    std::uint64_t answered = 0;     // measured requests whose reply came back, verified
    std::uint64_t unanswered = 0;   // measured requests that had no complete reply at the end
    std::uint64_t reply_bytes = 0;  // bytes of the measured replies
    double window_seconds = 0;      // the measured window as it really was

    // What became of the connections (in churn mode: of the connection attempts).
    int opened = 0;                // connect() called
    int answered_connections = 0;  // got at least one reply
    int served = 0;   // got a reply after the ramp-in (in the warm-up, the window or the drain)
    int refused = 0;  // connect failed, or closed by the server before any reply
    int closed_after_reply = 0;  // closed by the server after replying (not by the client)
    int still_connecting = 0;    // handshake not done at the end (the backlog was full)
    int waiting = 0;             // connected but never answered
    int starved = 0;             // answered during the ramp-in, never after it, still open

    // Fairness: measured replies per connection (per client slot in churn mode),
    // over the connections opened. An average hides a connection that the
    // model left waiting while the others were served.
    std::uint64_t per_connection_min = 0;
    std::uint64_t per_connection_median = 0;
    std::uint64_t per_connection_max = 0;
    int unserved_in_window = 0;  // opened, and not one measured request of theirs answered
    std::string
        ramp_stopped;  // why the ramp-in ended before every connection was answered ("" if it did not)
    double ramp_seconds = 0;
    std::string first_connection_error;

    std::uint64_t corrupt_replies = 0;
    std::string corruption;  // the first reply that differed from its request, described

    double client_cpu_seconds = 0;  // the load generator's CPU time during the window
    LatencyHistogram
        send_lag_ns;  // open loop: how late the generator itself sent, after the schedule
};

// Called on the load generator's thread when the measured window opens and
// closes (for sampling the server; they must return quickly), and at the end
// while every connection is still open (the server's state then is still the
// one under load: a fork server's children are alive).
struct LoadHooks {
    std::function<void()> window_opened;
    std::function<void()> window_closed;
    std::function<void()> finished;
};

// Runs the load against `spec.server`. Throws std::system_error for a failure
// of the generator itself (epoll_create, say); everything the server does
// wrong is in the result.
LoadResult run_load(const LoadSpec& spec, const LoadHooks& hooks = {});

}  // namespace checker::bench
