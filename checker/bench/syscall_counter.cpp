#include "syscall_counter.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace checker::bench {

SyscallCounter::SyscallCounter()
    : summary_path_("/tmp/iolab-strace-" + std::to_string(::getpid()) + ".txt") {}

SyscallCounter::~SyscallCounter() {
    if (strace_) strace_->kill_everything();
    std::remove(summary_path_.c_str());
}

void SyscallCounter::start(const std::vector<pid_t>& processes) {
    // -c: count, summary at the end; -f: every thread, and children made meanwhile; -q: quiet.
    std::vector<std::string> command{"strace", "-c", "-f", "-q", "-o", summary_path_};
    for (pid_t pid : processes) command.insert(command.end(), {"-p", std::to_string(pid)});
    try {
        strace_.emplace(command, ServerLimits{});
    } catch (const std::runtime_error& error) {
        why_ = std::string("strace cannot run (") + error.what() +
               "): install it (apt-get install strace)";
        return;
    }
    // Counting starts once strace is attached: the processes name it as their tracer.
    Deadline attached(2s);
    while (!attached.passed() && strace_->running() && !all_traced(processes)) ::usleep(2000);
}

bool SyscallCounter::all_traced(const std::vector<pid_t>& processes) {
    for (pid_t pid : processes) {
        std::ifstream status("/proc/" + std::to_string(pid) + "/status");
        bool traced = false;
        for (std::string line; std::getline(status, line);)
            if (line.rfind("TracerPid:", 0) == 0) traced = std::stol(line.substr(10)) != 0;
        if (!traced) return false;
    }
    return true;
}

std::optional<long long> SyscallCounter::stop() {
    if (!strace_) {
        if (why_.empty()) why_ = "strace was not started";
        return std::nullopt;
    }
    // SIGINT: strace detaches from every process and writes its summary.
    strace_->send_signal(SIGINT);
    bool ended = strace_->wait_for_exit(Deadline(5s));
    std::string output = strace_->output_tail(3);
    strace_->kill_everything();
    strace_.reset();
    std::ifstream file(summary_path_);
    std::stringstream summary;
    summary << file.rdbuf();
    std::optional<long long> calls = total_calls(summary.str());
    if (!calls)
        why_ = !ended           ? "strace did not end within 5 s of SIGINT"
               : output.empty() ? "strace wrote no summary"
                                : "strace: " + output.substr(0, output.find('\n')) +
                                      " (tracing needs root, or kernel.yama.ptrace_scope 0 or 1)";
    return calls;
}

std::optional<long long> total_calls(const std::string& summary) {
    std::istringstream lines(summary);
    for (std::string line; std::getline(lines, line);) {
        // "100.00    0.123456           1    123456      1234 total" (errors may be blank)
        std::istringstream fields(line);
        std::vector<std::string> words;
        for (std::string word; fields >> word;) words.push_back(word);
        if (words.size() >= 5 && words.back() == "total") {
            try {
                return std::stoll(words[3]);
            } catch (const std::exception&) {
                return std::nullopt;
            }
        }
    }
    return std::nullopt;
}

}  // namespace checker::bench
