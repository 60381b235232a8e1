// The least a closed-loop client can do: one epoll thread, one line in flight
// per connection, every reply counted by its '\n' and answered with the next
// line at once. It verifies nothing and records no latency. `checker bench
// --calibrate` runs it against the same server as the verifying load
// generator, in turn, to measure what the generator's checking costs: if the
// generator, not the server, is the limit, the two differ.
//
// Runs on the calling thread; owns its sockets, all closed when it returns.
#pragma once

#include "connection.hpp"
#include "deadline.hpp"

#include <cstddef>
#include <cstdint>

namespace checker::bench {

struct MinimalLoad {
    std::uint64_t replies = 0;  // lines received during the measured window
    double window_seconds = 0;
    int connected = 0;  // connections that were established
    double requests_per_second() const {
        return window_seconds > 0 ? static_cast<double>(replies) / window_seconds : 0;
    }
};

// Opens `connections` to `server` (each given `connect_limit` to be accepted),
// loads them for `warmup`, then counts the replies for `measure`. Throws
// std::system_error for a failure of its own (epoll_create1, socket).
MinimalLoad run_minimal_load(const Endpoint& server, int connections, std::size_t line_bytes,
                             Duration warmup, Duration measure, Duration connect_limit = 5s);

}  // namespace checker::bench
