// The graded server as a child process of the checker, contained so that no
// grading run leaves anything behind, whatever the server does: it runs in a
// process group of its own, in a pids cgroup where the machine offers one
// (the only thing that stops a fork bomb when running as root), with limits
// on descriptors, file size and core dumps, and with its output captured.
// At the end the checker kills the server and every descendant it can find,
// including ones that changed session or process group, and reaps them all.
//
// Where it lives: starting, waiting and killing in server_process.cpp; the
// cgroup, the network namespace and the interrupt handler in containment.cpp;
// what /proc says of the server in proc_files.cpp; bench's sampling in
// resource_usage.cpp.
//
// Runs on the checker's main thread; not thread-safe. Several may run at once
// (checker batch runs one per grading job): each reaps and kills only its own.
#pragma once

#include "connection.hpp"
#include "deadline.hpp"
#include "unique_fd.hpp"

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace checker {

class FileView;

struct ServerLimits {
    int open_files = 1024;  // RLIMIT_NOFILE
    int processes = 512;    // pids.max of the cgroup, where there is one
    long long max_memory_bytes =
        0;  // RLIMIT_AS (0: none). AddressSanitizer needs none: never set it for ASan builds
    bool private_network =
        false;  // a network namespace of its own (loopback only), where the machine allows one
    std::string working_directory{};  // where it starts ("": the checker's own directory)
    const FileView* view = nullptr;  // checker batch's view of the files (box.hpp), entered as root
    int run_as_uid = -1;             // then the user ID it runs under (-1: the checker's own)
};

// What the server and every process it started use, from /proc (for bench).
struct ResourceUsage {
    double cpu_seconds =
        0;  // user + system: every process, its ended threads, the children it reaped
    long long memory_bytes =
        0;  // proportional set size (Pss) summed: a page k processes share counts 1/k each
    long long anon_memory_bytes =
        0;  // its anonymous part (heap, stacks, copy-on-write copies): no program text
    int processes = 0;
    int threads = 0;
    int descriptors = 0;
    long long context_switches =
        -1;  // voluntary + involuntary, of the threads alive now (-1: not counted)
};

class ServerProcess {
public:
    // Starts `command`. Throws std::runtime_error with a one-line diagnosis
    // if it cannot be started at all (no such file, not executable).
    // `environment` ("NAME=value" each) is added to the checker's own,
    // replacing variables of the same names.
    ServerProcess(const std::vector<std::string>& command, ServerLimits limits,
                  const std::vector<std::string>& environment = {});
    ~ServerProcess();
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    pid_t pid() const { return pid_; }
    // The binary the server process runs now (/proc/PID/exe): what a wrapper
    // that exec()s the server (a script, a timer) ends up running. "" once it ended.
    std::string executable() const;

    // Waits until `server` accepts connections. Returns a diagnosis when it
    // does not: it exited, crashed, or listens somewhere else.
    std::optional<std::string> wait_until_listening(const Endpoint& server, Deadline deadline);

    bool running();                         // false once the server process has ended
    bool wait_for_exit(Deadline deadline);  // true if it ended in time
    void send_signal(int signal_number);    // to the server process itself
    std::optional<int> exit_status() const { return status_; }  // raw wait status, once ended
    std::string exit_description() const;  // "exited with status 1", "was killed by SIGSEGV (...)"
    // The last lines it printed (after a sanitizer report's headline, when that came before).
    // At most `max_lines` lines, read from the last `max_bytes` bytes.
    std::string output_tail(std::size_t max_lines = 12, std::size_t max_bytes = 32768) const;
    std::string output(std::size_t max_bytes = 1
                                               << 20) const;  // from the start (at most max_bytes)

    // Whether a socket that is not the server's listens on TCP `port`: another
    // program took the port the checker picked for the server.
    bool port_taken_by_another(int port) const;

    // Kills the server and all its descendants and reaps them (bounded).
    void kill_everything();

    // What /proc says about the server now (-1 where it cannot tell).
    int open_descriptors() const;
    int thread_count() const;              // threads of the server process
    std::vector<pid_t> processes() const;  // the server and all its descendants
    std::vector<pid_t> zombies() const;    // descendants that have exited but are not reaped
    // User + system time of the server process, all threads. Never less than
    // an earlier reading: once the process has ended /proc has nothing to say
    // (or, its pid reused, speaks of another process), and the last reading
    // stands. So the difference of two readings is never negative.
    Duration cpu_time() const;
    long resident_kib() const;  // its resident memory (VmRSS)
    bool has_mapped(
        const std::string& file) const;  // whether `file` is mapped into it (a preloaded library)
    // Only reads /proc: may be called from another thread while the server runs.
    // `precise`: CPU time to the nanosecond and context switches, thread by thread
    // (slower; not for processes of more than 256 threads, which get clock ticks and no switch count).
    ResourceUsage resource_usage(bool precise = false) const;

private:
    void reap();
    std::vector<pid_t> everything_to_kill() const;

    pid_t pid_ = -1;
    std::optional<int> status_;
    iolab::UniqueFd output_;            // memfd holding the server's stdout and stderr
    std::string cgroup_;                // pids cgroup directory, or "" when none
    mutable Duration last_cpu_time_{};  // cpu_time()'s last reading
};

// Finds a TCP port on 127.0.0.1 that nothing listens on right now.
int pick_free_port();

// Whether this machine lets a child have a network namespace of its own
// (ServerLimits::private_network): root, or user namespaces, and no seccomp filter against it.
bool private_network_available();

// Makes the checker the reaper of orphaned descendants (PR_SET_CHILD_SUBREAPER),
// so that a grandchild whose parent died is reparented to the checker, not to init.
void become_subreaper();

// If the checker itself is interrupted (Ctrl-C, SIGTERM, SIGHUP), kill the
// server being graded and everything in its cgroup before dying.
void kill_servers_when_interrupted();

// Descriptive name of a signal: "SIGPIPE (broken pipe)".
std::string signal_name(int signal_number);

}  // namespace checker
