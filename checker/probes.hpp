// What several probes share: counting clients in words, and asking the
// server (through /proc, and through a fresh client) how it is doing.
#pragma once

#include "test_cases.hpp"

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

namespace checker::tests {

// A count read from /proc, or "?" where /proc could not tell (-1: the server
// had ended): never a negative figure.
inline std::string count_text(int count) { return count >= 0 ? std::to_string(count) : "?"; }

inline std::string clients(std::size_t count) {
    return std::to_string(count) + (count == 1 ? " client" : " clients");
}

inline int milliseconds(Duration d) {
    return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

// ", the server running N threads", from /proc (nothing with --connect).
inline std::string threads_now(const TestContext& context) {
    int threads = context.process ? context.process->thread_count() : -1;
    return threads > 0 ? ", the server running " + std::to_string(threads) +
                             (threads == 1 ? " thread" : " threads")
                       : "";
}

// The threads ThreadSanitizer's runtime adds to a threaded server (its
// background thread), seen in /proc/PID/maps: 1 under TSan, else 0.
inline int thread_sanitizer_threads(const ServerProcess& server) {
    std::ifstream maps("/proc/" + std::to_string(server.pid()) + "/maps");
    for (std::string line; std::getline(maps, line);)
        if (line.find("/libtsan.so") != std::string::npos) return 1;
    return 0;
}

// The server's open descriptors, once they stop growing towards `target`.
inline int settled_count(const ServerProcess& server, int target, Deadline deadline) {
    int count = server.open_descriptors();
    Clock::time_point last_change = Clock::now();
    while (count < target && !deadline.passed() && Clock::now() - last_change < 500ms) {
        std::this_thread::sleep_for(20ms);
        int now = server.open_descriptors();
        if (now != count) last_change = Clock::now();
        count = now;
    }
    return count;
}

// ThreadSanitizer's runtime runs a thread of its own in a threaded program.
inline bool runs_thread_sanitizer(pid_t pid) {
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    for (std::string line; std::getline(maps, line);)
        if (line.find("/libtsan.so") != std::string::npos) return true;
    return false;
}

// A fresh client sends one line; true if the reply came back in time.
inline bool new_client_served(const Endpoint& server, Deadline deadline) {
    Connection probe;
    std::string why;
    if (!Connection::try_open(server, deadline, probe, why)) return false;
    std::string line = "a new client\n";
    try {
        probe.send(line, deadline);
        return probe.read_exact(line.size(), deadline).data == line;
    } catch (const TestFailure&) {
        return false;
    }
}

}  // namespace checker::tests
