#include "server_main.hpp"

#include "shutdown.hpp"

#include <cerrno>
#include <cstdio>
#include <optional>
#include <system_error>

namespace iolab {

namespace {

// What to do about the setup failures students meet most.
const char* hint_for(const std::system_error& error, const ModelInfo& model) {
    switch (error.code().value()) {
    case EADDRINUSE:
        if (model.shares_port)
            return " (every listener on the port must set SO_REUSEPORT before bind(); if they do, "
                   "another program holds it: pick another port with --port)";
        return " (another program listens on this port: stop it, or pick another with --port)";
    case EACCES: return " (ports below 1024 need root: pick another with --port)";
    case EADDRNOTAVAIL: return " (--host must be an address of this machine, e.g. 127.0.0.1)";
    default: return "";
    }
}

}  // namespace

int server_main(int argc, char** argv, const ModelInfo& model, RunFunction run) {
    Options options = parse_options(argc, argv, model);
    // Outlives the handlers below: the waiting clients are reset only once the
    // reason the server stops has been printed, so whoever sees the reset (the
    // checker, say) finds the reason in the server's output.
    std::optional<Listener> listener;
    try {
        listener.emplace(options, model.shares_port ? PortSharing::shared : PortSharing::exclusive);
        install_shutdown_handlers(listener->fd());
        std::printf("%s: listening on %s:%d\n", model.name, options.host.c_str(), listener->port());
        std::fflush(stdout);
        run(*listener, options);
        std::printf("%s: shutting down\n", model.name);
        return 0;
    } catch (const std::system_error& error) {
        std::fprintf(stderr, "%s: %s%s\n", model.name, error.what(), hint_for(error, model));
    } catch (const NotImplemented& error) {
        std::fprintf(stderr, "%s: not implemented yet: %s\n", model.name, error.what());
    } catch (const std::exception& error) {
        std::fprintf(stderr, "%s: %s\n", model.name, error.what());
    }
    return 1;
}

}  // namespace iolab
