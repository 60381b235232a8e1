// The main() shared by every server: parse options, open the listening
// socket, install the signal handlers, run the model, report setup failures.
#pragma once

#include "listener.hpp"
#include "options.hpp"

#include <stdexcept>
#include <string>

namespace iolab {

// A model's server loop. Returns when shutdown_requested() becomes true.
using RunFunction = void (*)(Listener& listener, const Options& options);

// Returns main()'s exit status: 0 after an orderly shutdown, 1 when setup
// failed (the reason is printed on one line), 2 for bad options.
int server_main(int argc, char** argv, const ModelInfo& model, RunFunction run);

// Thrown by the unfinished parts of a lab stub.
struct NotImplemented : std::logic_error {
    explicit NotImplemented(const std::string& what) : std::logic_error(what) {}
};

}  // namespace iolab
