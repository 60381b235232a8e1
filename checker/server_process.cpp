#include "server_process.hpp"

#include "box.hpp"
#include "containment.hpp"
#include "proc_files.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace checker {

namespace {

constexpr off_t kMaxOutputBytes = 64
                                  << 20;  // RLIMIT_FSIZE: a server printing without end is stopped
constexpr int kSanitizerExitStatus = 66;  // TSAN_OPTIONS=exitcode=66 in the Makefile's tsan target

// The ServerProcess objects alive in this process, by pid: each reaps any
// child that ended, and hands the status to the object it belongs to.
std::map<pid_t, ServerProcess*>& live_processes() {
    static std::map<pid_t, ServerProcess*> processes;
    return processes;
}

// In the child, between fork() and exec(): only async-signal-safe calls.
[[noreturn]] void exec_server(char* const argv[], char* const envp[], int output_fd, int error_pipe,
                              const ServerLimits& limits, const char* cgroup_procs) {
    ::setpgid(0, 0);
    if (cgroup_procs[0] != '\0') {
        int fd = ::open(cgroup_procs, O_WRONLY);
        if (fd >= 0) {
            [[maybe_unused]] ssize_t ignored = ::write(fd, "0", 1);
            ::close(fd);
        }
    }
    rlimit files{static_cast<rlim_t>(limits.open_files), static_cast<rlim_t>(limits.open_files)};
    rlimit no_core{0, 0};
    rlimit output_size{kMaxOutputBytes, kMaxOutputBytes};
    ::setrlimit(RLIMIT_NOFILE, &files);
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::setrlimit(RLIMIT_FSIZE, &output_size);
    if (limits.max_memory_bytes > 0) {
        rlimit memory{static_cast<rlim_t>(limits.max_memory_bytes),
                      static_cast<rlim_t>(limits.max_memory_bytes)};
        ::setrlimit(RLIMIT_AS, &memory);
    }
    // Without one, it shares the machine's loopback; the grader then detects a
    // port another program took (port_taken_by_another) and picks another.
    if (limits.private_network) enter_private_network();
    // checker batch's box: the view of the files, then its user ID. Both
    // before exec(), so that not one instruction of the program runs outside.
    int box_error = 0;
    if (!limits.working_directory.empty() && ::chdir(limits.working_directory.c_str()) < 0)
        box_error = errno;
    if (box_error == 0 && limits.view) box_error = limits.view->enter();
    if (box_error == 0 && limits.run_as_uid >= 0)
        box_error = become_user(static_cast<uid_t>(limits.run_as_uid));
    if (box_error != 0) {
        [[maybe_unused]] ssize_t ignored = ::write(error_pipe, &box_error, sizeof box_error);
        ::_exit(127);
    }
    // If the checker dies, so does the server. (After the change of user,
    // which clears it.)
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // only its copy on 0 outlives exec
    ::dup2(null_fd, 0);
    ::dup2(output_fd, 1);
    ::dup2(output_fd, 2);
    // Nothing else the checker has open (or inherited) reaches the server: an
    // extra descriptor would count against its RLIMIT_NOFILE. (Close-on-exec
    // rather than closed: error_pipe must outlive a failed exec.)
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    // Signals the checker ignores or blocks would be inherited: give the server defaults.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execvpe(argv[0], argv, envp);
    int error = errno;
    [[maybe_unused]] ssize_t ignored = ::write(error_pipe, &error, sizeof error);
    ::_exit(127);
}

// The checker's environment with `extra` ("NAME=value") added or replacing.
std::vector<std::string> server_environment(const std::vector<std::string>& extra) {
    std::vector<std::string> result;
    auto name_of = [](const std::string& variable) {
        return variable.substr(0, variable.find('='));
    };
    std::set<std::string> replaced;
    for (const std::string& variable : extra) replaced.insert(name_of(variable));
    for (char** variable = environ; *variable; ++variable)
        if (!replaced.count(name_of(*variable))) result.emplace_back(*variable);
    result.insert(result.end(), extra.begin(), extra.end());
    return result;
}

}  // namespace

std::string signal_name(int signal_number) {
    const char* abbrev = sigabbrev_np(signal_number);
    const char* description = sigdescr_np(signal_number);
    std::string name =
        abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(signal_number);
    return description ? name + " (" + description + ")" : name;
}

ServerProcess::ServerProcess(const std::vector<std::string>& command, ServerLimits limits,
                             const std::vector<std::string>& environment) {
    if (command.empty()) throw std::runtime_error("no server command given");
    output_.reset(::memfd_create("server-output", MFD_CLOEXEC));
    if (!output_) throw std::system_error(errno, std::generic_category(), "memfd_create");
    int error_pipe[2];
    if (::pipe2(error_pipe, O_CLOEXEC) < 0)
        throw std::system_error(errno, std::generic_category(), "pipe2");
    iolab::UniqueFd error_read(error_pipe[0]), error_write(error_pipe[1]);

    cgroup_ = make_pids_cgroup(limits.processes);
    std::string cgroup_procs = cgroup_.empty() ? "" : cgroup_ + "/cgroup.procs";
    std::vector<char*> argv;
    for (const std::string& word : command) argv.push_back(const_cast<char*>(word.c_str()));
    argv.push_back(nullptr);
    std::vector<std::string> env_strings = server_environment(environment);
    std::vector<char*> envp;
    for (std::string& variable : env_strings) envp.push_back(variable.data());
    envp.push_back(nullptr);

    pid_ = ::fork();
    if (pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid_ == 0)
        exec_server(argv.data(), envp.data(), output_.get(), error_write.get(), limits,
                    cgroup_procs.c_str());
    ::setpgid(pid_, pid_);  // also here, so that the group exists whichever runs first
    guard_against_interrupts(pid_, cgroup_procs);
    live_processes()[pid_] = this;
    error_write.reset();

    int exec_error = 0;
    if (::read(error_read.get(), &exec_error, sizeof exec_error) == sizeof exec_error) {
        kill_everything();
        live_processes().erase(pid_);
        throw std::runtime_error("cannot run " + command[0] + ": " + std::strerror(exec_error) +
                                 (exec_error == ENOENT ? " (was it built? run make)" : ""));
    }
}

ServerProcess::~ServerProcess() {
    kill_everything();
    live_processes().erase(pid_);
}

// Reaps every child that ended (orphans reparented to the checker included),
// handing each status to its ServerProcess.
void ServerProcess::reap() {
    for (;;) {
        int status = 0;
        pid_t ended = ::waitpid(-1, &status, WNOHANG);
        if (ended <= 0) return;
        auto owner = live_processes().find(ended);
        if (owner != live_processes().end()) owner->second->status_ = status;
    }
}

bool ServerProcess::running() {
    reap();
    return !status_.has_value();
}

bool ServerProcess::wait_for_exit(Deadline deadline) {
    while (running()) {
        if (deadline.passed()) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

void ServerProcess::send_signal(int signal_number) {
    if (running()) ::kill(pid_, signal_number);
}

std::string ServerProcess::exit_description() const {
    if (!status_) return "is still running";
    int status = *status_;
    if (WIFEXITED(status) && WEXITSTATUS(status) == kSanitizerExitStatus)
        return "exited with status " + std::to_string(kSanitizerExitStatus) +
               ", the status make tsan gives ThreadSanitizer: it found a data race (its report is in the "
               "server's output)";
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        std::string how = "was killed by " + signal_name(WTERMSIG(status));
        if (WTERMSIG(status) == SIGPIPE)
            how +=
                ": it wrote to a connection the client had closed; ignore SIGPIPE or send with MSG_NOSIGNAL";
        if (WTERMSIG(status) == SIGXFSZ) how += ": it printed more than 64 MiB of output";
        return how;
    }
    return "ended (wait status " + std::to_string(status) + ")";
}

std::string ServerProcess::output(std::size_t max_bytes) const {
    std::string text(max_bytes, '\0');
    ssize_t got = ::pread(output_.get(), text.data(), text.size(), 0);
    text.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    return text;
}

bool ServerProcess::port_taken_by_another(int port) const {
    std::set<std::string> ours = socket_inodes(processes());
    for (const ListeningSocket& socket : listening_sockets())
        if (socket.port == port && !ours.count(socket.inode)) return true;
    return false;
}

std::string ServerProcess::output_tail(std::size_t max_lines, std::size_t max_bytes) const {
    struct stat info {};
    if (::fstat(output_.get(), &info) < 0 || info.st_size == 0) return "";
    off_t size = std::min<off_t>(info.st_size, static_cast<off_t>(max_bytes));
    std::string text(static_cast<std::size_t>(size), '\0');
    ssize_t got = ::pread(output_.get(), text.data(), text.size(), info.st_size - size);
    text.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    std::size_t start = text.size();
    for (std::size_t lines = 0; start > 0 && lines <= max_lines;)
        if (text[--start] == '\n' && start + 1 < text.size()) ++lines;
    if (start > 0) start = text.find('\n', start) + 1;
    // A sanitizer's report ends in pages of legend: its headline, which names
    // the error, goes first, before the last lines.
    std::size_t headline = text.rfind("==ERROR: ", start);
    if (start > 0 && headline != std::string::npos) {
        std::size_t begin = text.rfind('\n', headline);
        begin = begin == std::string::npos ? 0 : begin + 1;
        std::string line = text.substr(begin, text.find('\n', headline) - begin);
        return line + "\n...\n" + text.substr(start);
    }
    return text.substr(start);
}

std::vector<pid_t> ServerProcess::everything_to_kill() const {
    // The server and its descendants, and the orphans: the checker is a
    // subreaper, so a descendant whose parent died becomes a child of the
    // checker, whatever its group. Every child of the checker that is not
    // another running ServerProcess is such an orphan; the other
    // ServerProcesses' descendants are theirs, not ours.
    std::multimap<pid_t, pid_t> children;
    for (const ProcEntry& e : all_processes()) children.emplace(e.parent, e.pid);
    std::vector<pid_t> todo{pid_};
    auto [first, last] = children.equal_range(::getpid());
    for (auto it = first; it != last; ++it)
        if (it->second != pid_ && !live_processes().count(it->second)) todo.push_back(it->second);
    std::vector<pid_t> pids;
    while (!todo.empty()) {
        pid_t pid = todo.back();
        todo.pop_back();
        if (::kill(pid, 0) == 0) pids.push_back(pid);
        auto [child, end] = children.equal_range(pid);
        for (; child != end; ++child) todo.push_back(child->second);
    }
    for (pid_t pid : cgroup_members(cgroup_)) pids.push_back(pid);
    return pids;
}

void ServerProcess::kill_everything() {
    if (pid_ <= 0) return;
    Deadline deadline(3s);
    while (!deadline.passed()) {
        ::kill(-pid_, SIGKILL);  // the process group
        std::vector<pid_t> left = everything_to_kill();
        for (pid_t pid : left) ::kill(pid, SIGKILL);
        reap();
        if (left.empty() && status_) break;
        std::this_thread::sleep_for(2ms);
    }
    if (!cgroup_.empty() && ::rmdir(cgroup_.c_str()) == 0) cgroup_.clear();
    stop_guarding(pid_);
}

std::optional<std::string> ServerProcess::wait_until_listening(const Endpoint& server,
                                                               Deadline deadline) {
    for (;;) {
        Connection probe;
        std::string why;
        if (Connection::try_open(server, deadline.sooner(200ms), probe, why)) return std::nullopt;
        if (!running())
            return "the server " + exit_description() + " before it accepted a connection on " +
                   server.str();
        if (deadline.passed()) break;
        std::this_thread::sleep_for(20ms);
    }
    std::vector<int> ports = listening_ports(processes());
    if (!ports.empty())
        return "the server listens on port " + std::to_string(ports.front()) +
               ", not on the port " + std::to_string(server.port) +
               " it was given: it must use the --port option";
    return "the server did not listen on " + server.str() +
           " in time (it must listen on the --port it is given)";
}

}  // namespace checker
