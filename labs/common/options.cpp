// The only translation unit of the servers that includes CLI11: the library is
// header-only and costs seconds of compile time per file that includes it.
#include "options.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>

namespace iolab {

Options parse_options(int argc, char** argv, const ModelInfo& model) {
    Options options;
    CLI::App app{std::string(model.name) + " echo server: " + model.summary};
    app.add_option("--port", options.port, "TCP port to listen on")->check(CLI::Range(0, 65535));
    app.add_option("--host", options.host, "IPv4 address to listen on");
    if (model.has_workers) {
        const char* help =
            model.workers_help ? model.workers_help : "worker threads (0: one per CPU)";
        app.add_option("--workers", options.workers, help)->check(CLI::Range(0, 4096));
    } else {
        // Accepted so that one command line can start any model; ignored here.
        app.add_option("--workers", options.workers, "ignored: this model has no worker pool")
            ->check(CLI::Range(0, 4096));
    }
    app.add_option("--delay-us", options.delay_us,
                   "simulated blocking call per request, in microseconds (like a database query)")
        ->check(CLI::Range(0L, 60'000'000L));
    app.add_option("--compute-us", options.compute_us,
                   "simulated CPU work per request, in microseconds")
        ->check(CLI::Range(0L, 60'000'000L));
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        std::exit(app.exit(e));
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "%s: %s (try --help)\n", model.name, e.what());
        std::exit(2);
    }
    return options;
}

}  // namespace iolab
