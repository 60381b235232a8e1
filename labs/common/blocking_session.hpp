// Serving one connection with blocking calls, start to end: the per-client
// routine that the blocking, fork-per-client and thread-per-client models all
// share (Stevens' str_echo). Only who calls it, and when, differs by model.
// At level 3 the students write their own: this file is not given.
// OMIT FROM LEVEL 3
#pragma once

#include "options.hpp"
#include "unique_fd.hpp"

namespace iolab {

// Reads requests and writes replies until the client half-closes (then the
// last partial line is answered), the connection fails, or shutdown is
// requested. Runs the simulated work for every request. Never throws for a
// failure of this connection: the caller just closes it and moves on.
void serve_until_eof(const UniqueFd& client, const Options& options);

// Writes all of `bytes`, however many send() calls that takes (a blocking
// send may still write less than asked when a signal interrupts it).
// Returns false when the connection failed or shutdown was requested.
bool send_all(int fd, const char* bytes, std::size_t length);

}  // namespace iolab
