// The checker's clients beyond a single connection. Many clients of one test
// at once (a swarm), all driven from the checker's one thread with poll(): a
// thousand clients cost a thousand sockets and nothing more, and the checker
// itself never needs the concurrency it is testing. Each client is connected
// before any of them speaks, and stays connected while its SwarmClient lives.
#pragma once

#include "connection.hpp"
#include "server_process.hpp"

#include <optional>
#include <string>
#include <vector>

namespace checker {

struct SwarmClient {
    Connection connection;
    // Sent in rounds: round k sends piece k of every client, then pauses, so
    // that the server sees the clients' partial lines interleaved.
    std::vector<std::string> pieces;
    std::string expected;  // the replies, byte for byte
    bool half_close =
        false;  // after the last piece, shut down the sending side (the server reads EOF)

    enum State { Waiting, Served, Refused, Wrong } state = Waiting;
    std::string received;
    bool closed_by_server = false;  // the server closed or reset it before every reply came
};

struct SwarmCount {
    int served = 0;           // every reply, exactly
    int refused = 0;          // closed or reset by the server before any reply
    int wrong = 0;            // a reply differed, or the connection closed in the middle of one
    int closed_midway = 0;    // of the wrong: closed by the server after some replies, all right
    int waiting = 0;          // the deadline passed before the replies were complete
    std::string first_wrong;  // what was sent and what came back, for the first wrong client
    std::string str() const;  // "498 served, 2 refused, ..."
};

// Runs the rounds with `pause` between them, then reads until every client
// is served, refused or wrong, or until the deadline.
SwarmCount run_swarm(std::vector<SwarmClient>& clients, Duration pause, Deadline deadline);

// Opens `count` connections one after the other (each handshake completes in
// the kernel's backlog, served or not). Throws TestFailure if one cannot.
std::vector<SwarmClient> open_swarm(const Endpoint& server, int count, Deadline deadline);

// Gives each client a line of its own ("client 3 of 8 is here"), sends them
// all, and returns how many got their line back exactly by `deadline`.
int exchange_lines(std::vector<SwarmClient>& clients, Deadline deadline);

// The server's thread count at rest, after one client has come and gone: the
// lowest count seen within `settle` after that client left. The client first
// makes the server start whatever it starts lazily (a sanitizer's background
// thread, say), and the wait lets the threads of earlier clients (such as the
// checker's probe that saw it listening) end.
int thread_count_at_rest(const Endpoint& server, const ServerProcess& process, Deadline deadline,
                         Duration settle = 200ms);

// How many descriptors the server holds beyond `baseline`, both counts from
// /proc (ServerProcess::open_descriptors). Never negative: the server may have
// closed some of its own since (the checker's probe connection, say). Nothing
// when either count is -1: the process had ended, and /proc could not tell.
std::optional<int> descriptors_gained(int baseline, int now);

// Raises the checker's own RLIMIT_NOFILE (soft limit) to at least `needed`,
// or throws std::runtime_error saying how to raise the hard limit.
void ensure_own_descriptor_limit(int needed);

}  // namespace checker
