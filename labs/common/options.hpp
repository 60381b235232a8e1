// The command-line options every server of the kit accepts. They are parsed
// once, here, so that all models are started and compared the same way.
#pragma once

#include <string>

namespace iolab {

struct Options {
    std::string host = "127.0.0.1";
    int port = 8080;
    int workers = 0;    // size of the worker pool, where the model has one (0: the model's default)
    long delay_us = 0;  // simulated blocking call per request (a database query, say)
    long compute_us = 0;  // simulated CPU work per request
};

// What a server tells the option parser about itself (for --help).
struct ModelInfo {
    const char* name;          // "blocking", "poll", ...
    const char* summary;       // one line for --help
    bool has_workers = false;  // does --workers mean anything for this model?
    const char* workers_help =
        nullptr;  // --help text for --workers, where the model gives it its own meaning
    bool shares_port = false;  // the model opens more listeners on its port (SO_REUSEPORT)
};

// Parses argv. On --help prints the help and exits 0; on a bad option prints
// a one-line diagnosis and exits 2.
Options parse_options(int argc, char** argv, const ModelInfo& model);

}  // namespace iolab
