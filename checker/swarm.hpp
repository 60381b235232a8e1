// Many clients of one test at once, all driven from the checker's one thread
// with poll(): a thousand clients cost a thousand sockets and nothing more,
// and the checker itself never needs the concurrency it is testing.
#pragma once

#include "connection.hpp"

#include <string>
#include <vector>

namespace checker {

struct SwarmClient {
    Connection connection;
    // Sent in rounds: round k sends piece k of every client, then pauses, so
    // that the server sees the clients' partial lines interleaved.
    std::vector<std::string> pieces;
    std::string expected;                 // the replies, byte for byte
    bool half_close = false;              // after the last piece, shut down the sending side (the server reads EOF)

    enum State { Waiting, Served, Refused, Wrong } state = Waiting;
    std::string received;
};

struct SwarmCount {
    int served = 0;       // every reply, exactly
    int refused = 0;      // closed or reset by the server before any reply
    int wrong = 0;        // a reply differed, or the connection closed in the middle of one
    int waiting = 0;      // the deadline passed before the replies were complete
    std::string first_wrong;   // what was sent and what came back, for the first wrong client
    std::string str() const;   // "498 served, 2 refused, ..."
};

// Runs the rounds with `pause` between them, then reads until every client
// is served, refused or wrong, or until the deadline.
SwarmCount run_swarm(std::vector<SwarmClient>& clients, Duration pause, Deadline deadline);

// Opens `count` connections one after the other (each handshake completes in
// the kernel's backlog, served or not). Throws TestFailure if one cannot.
std::vector<SwarmClient> open_swarm(const Endpoint& server, int count, Deadline deadline);

// Raises the checker's own RLIMIT_NOFILE (soft limit) to at least `needed`,
// or throws std::runtime_error saying how to raise the hard limit.
void ensure_own_descriptor_limit(int needed);

}  // namespace checker
