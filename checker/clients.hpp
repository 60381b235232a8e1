// Many clients connected to the server at the same time, for the tests that
// need concurrency: each client is connected before any of them speaks, and
// all stay connected until the test ends.
#pragma once

#include "connection.hpp"
#include "server_process.hpp"

#include <string>
#include <vector>

namespace checker {

class ClientCrowd {
public:
    // Connects `count` clients, one after the other. Throws TestFailure if one
    // cannot connect.
    ClientCrowd(const Endpoint& server, int count, Deadline deadline);

    // Every client sends its message (all of them before any reply is read),
    // then each reply is read, up to the message's length, until `deadline`.
    // Returns what came back to each client, in order.
    std::vector<ReadResult> send_and_read(const std::vector<std::string>& messages, Deadline deadline);

    // Each client sends one line of its own and waits for it back, all until
    // `deadline`. Returns how many got their line back exactly.
    int exchange_lines(Deadline deadline);

    std::size_t size() const { return clients_.size(); }
    void close_all() { clients_.clear(); }

private:
    std::vector<Connection> clients_;
};

// The server's thread count at rest, after one client has come and gone: the
// lowest count seen within `settle` after that client left. The client first
// makes the server start whatever it starts lazily (a sanitizer's background
// thread, say), and the wait lets the threads of earlier clients (such as the
// checker's probe that saw it listening) end.
int thread_count_at_rest(const Endpoint& server, const ServerProcess& process, Deadline deadline,
                         Duration settle = 200ms);

}  // namespace checker
