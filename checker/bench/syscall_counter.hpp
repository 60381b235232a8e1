// System calls per request: `strace -c -f` attached to a running server's
// processes while the measured window is open, detached when it closes.
// ptrace stops the server at every system call, several times slower: a run
// that counts is for counting only (checker bench --syscalls), never the run
// whose throughput and latency are reported.
//
// Used from the load generator's thread (the window hooks); strace runs as a
// contained child (ServerProcess), so that nothing of it outlives the run.
#pragma once

#include "server_process.hpp"

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace checker::bench {

class SyscallCounter {
public:
    SyscallCounter();
    ~SyscallCounter();
    SyscallCounter(const SyscallCounter&) = delete;
    SyscallCounter& operator=(const SyscallCounter&) = delete;

    // Attaches to `processes` and every thread and child they have or make.
    void start(const std::vector<pid_t>& processes);
    // Detaches, and reads the count. nullopt with why() when there is none
    // (strace missing, not allowed to trace, or it never attached).
    std::optional<long long> stop();
    const std::string& why() const { return why_; }

private:
    static bool all_traced(const std::vector<pid_t>& processes);

    std::string summary_path_;
    std::optional<ServerProcess> strace_;
    std::string why_;
};

// The "total" line of `strace -c`'s summary: its number of calls.
std::optional<long long> total_calls(const std::string& summary);

}  // namespace checker::bench
