#include "server_process.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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

constexpr off_t kMaxOutputBytes = 64 << 20;   // RLIMIT_FSIZE: a server printing without end is stopped

struct ProcEntry {
    pid_t pid;
    pid_t parent;
    char state;
};

// Every process on the machine, from /proc/PID/stat.
std::vector<ProcEntry> all_processes() {
    std::vector<ProcEntry> result;
    DIR* proc = ::opendir("/proc");
    if (!proc) return result;
    while (dirent* entry = ::readdir(proc)) {
        char* end = nullptr;
        long pid = std::strtol(entry->d_name, &end, 10);
        if (*end != '\0' || pid <= 0) continue;
        std::ifstream stat("/proc/" + std::string(entry->d_name) + "/stat");
        std::string line;
        if (!std::getline(stat, line)) continue;
        std::size_t close_paren = line.rfind(')');   // the command name may contain spaces and parentheses
        if (close_paren == std::string::npos) continue;
        std::istringstream fields(line.substr(close_paren + 2));
        ProcEntry e{static_cast<pid_t>(pid), 0, '?'};
        fields >> e.state >> e.parent;
        result.push_back(e);
    }
    ::closedir(proc);
    return result;
}

std::vector<pid_t> descendants_of(pid_t root, bool include_root, char only_state = 0) {
    std::vector<ProcEntry> everyone = all_processes();
    std::multimap<pid_t, const ProcEntry*> children;
    for (const ProcEntry& e : everyone) children.emplace(e.parent, &e);
    std::vector<pid_t> found;
    std::vector<pid_t> todo{root};
    while (!todo.empty()) {
        pid_t parent = todo.back();
        todo.pop_back();
        auto [first, last] = children.equal_range(parent);
        for (auto it = first; it != last; ++it) {
            if (!only_state || it->second->state == only_state) found.push_back(it->second->pid);
            todo.push_back(it->second->pid);
        }
    }
    if (include_root && ::kill(root, 0) == 0) found.insert(found.begin(), root);
    return found;
}

std::string read_first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

bool writable_dir(const std::string& path) { return ::access(path.c_str(), W_OK) == 0; }

// A fresh pids cgroup (v1 or v2) for one server, or "" when the machine offers none.
std::string make_pids_cgroup(int max_processes) {
    static int counter = 0;
    std::string name = "iolab-checker-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    std::vector<std::string> parents;
    if (writable_dir("/sys/fs/cgroup/pids")) parents.push_back("/sys/fs/cgroup/pids");   // cgroup v1
    if (read_first_line("/sys/fs/cgroup/cgroup.controllers").find("pids") != std::string::npos) {
        std::string own = read_first_line("/proc/self/cgroup");                           // "0::/path"
        if (own.rfind("0::", 0) == 0) parents.push_back("/sys/fs/cgroup" + own.substr(3));
    }
    for (const std::string& parent : parents) {
        std::string dir = parent + "/" + name;
        if (::mkdir(dir.c_str(), 0755) < 0) continue;
        std::ofstream(dir + "/pids.max") << max_processes;
        if (std::ifstream(dir + "/pids.max").good() && std::ifstream(dir + "/cgroup.procs").good()) return dir;
        ::rmdir(dir.c_str());
    }
    return "";
}

std::vector<pid_t> cgroup_members(const std::string& cgroup) {
    std::vector<pid_t> members;
    if (cgroup.empty()) return members;
    std::ifstream procs(cgroup + "/cgroup.procs");
    for (pid_t pid; procs >> pid;) members.push_back(pid);
    return members;
}

// In the child, between fork() and exec(): only async-signal-safe calls.
[[noreturn]] void exec_server(char* const argv[], char* const envp[], int output_fd, int error_pipe,
                              const ServerLimits& limits, const char* cgroup_procs) {
    ::setpgid(0, 0);
    if (cgroup_procs[0] != '\0') {
        int fd = ::open(cgroup_procs, O_WRONLY);
        if (fd >= 0) { [[maybe_unused]] ssize_t ignored = ::write(fd, "0", 1); ::close(fd); }
    }
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);       // if the checker dies, so does the server
    rlimit files{static_cast<rlim_t>(limits.open_files), static_cast<rlim_t>(limits.open_files)};
    rlimit no_core{0, 0};
    rlimit output_size{kMaxOutputBytes, kMaxOutputBytes};
    ::setrlimit(RLIMIT_NOFILE, &files);
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::setrlimit(RLIMIT_FSIZE, &output_size);
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);   // only its copy on 0 outlives exec
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

// Which TCP ports the given processes listen on (from /proc/net/tcp, matched by socket inode).
std::vector<int> listening_ports(const std::vector<pid_t>& pids) {
    std::set<std::string> inodes;
    for (pid_t pid : pids) {
        std::string dir = "/proc/" + std::to_string(pid) + "/fd";
        DIR* fds = ::opendir(dir.c_str());
        if (!fds) continue;
        while (dirent* entry = ::readdir(fds)) {
            char target[64] = {};
            if (::readlink((dir + "/" + entry->d_name).c_str(), target, sizeof target - 1) > 0 &&
                std::strncmp(target, "socket:[", 8) == 0)
                inodes.insert(std::string(target + 8, std::strlen(target + 8) - 1));
        }
        ::closedir(fds);
    }
    std::vector<int> ports;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);   // header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
            fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
            if (state == "0A" && inodes.count(inode))    // 0A: TCP_LISTEN
                ports.push_back(std::stoi(local.substr(local.find(':') + 1), nullptr, 16));
        }
    }
    return ports;
}

// The checker's environment with `extra` ("NAME=value") added or replacing.
std::vector<std::string> server_environment(const std::vector<std::string>& extra) {
    std::vector<std::string> result;
    auto name_of = [](const std::string& variable) { return variable.substr(0, variable.find('=')); };
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
    std::string name = abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(signal_number);
    return description ? name + " (" + description + ")" : name;
}

void become_subreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

int pick_free_port() {
    iolab::UniqueFd probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (!probe || ::bind(probe.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0 ||
        ::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&address), &length) < 0)
        throw std::system_error(errno, std::generic_category(), "could not find a free port on 127.0.0.1");
    return ntohs(address.sin_port);
}

ServerProcess::ServerProcess(const std::vector<std::string>& command, ServerLimits limits,
                             const std::vector<std::string>& environment) {
    if (command.empty()) throw std::runtime_error("no server command given");
    output_.reset(::memfd_create("server-output", MFD_CLOEXEC));
    if (!output_) throw std::system_error(errno, std::generic_category(), "memfd_create");
    int error_pipe[2];
    if (::pipe2(error_pipe, O_CLOEXEC) < 0) throw std::system_error(errno, std::generic_category(), "pipe2");
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
        exec_server(argv.data(), envp.data(), output_.get(), error_write.get(), limits, cgroup_procs.c_str());
    ::setpgid(pid_, pid_);      // also here, so that the group exists whichever runs first
    error_write.reset();

    int exec_error = 0;
    if (::read(error_read.get(), &exec_error, sizeof exec_error) == sizeof exec_error) {
        kill_everything();
        throw std::runtime_error("cannot run " + command[0] + ": " + std::strerror(exec_error) +
                                 (exec_error == ENOENT ? " (was it built? run make)" : ""));
    }
}

ServerProcess::~ServerProcess() { kill_everything(); }

void ServerProcess::reap() {
    for (;;) {
        int status = 0;
        pid_t ended = ::waitpid(-1, &status, WNOHANG);
        if (ended <= 0) return;
        if (ended == pid_) status_ = status;
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
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        std::string how = "was killed by " + signal_name(WTERMSIG(status));
        if (WTERMSIG(status) == SIGPIPE)
            how += ": it wrote to a connection the client had closed; ignore SIGPIPE or send with MSG_NOSIGNAL";
        if (WTERMSIG(status) == SIGXFSZ) how += ": it printed more than 64 MiB of output";
        return how;
    }
    return "ended (wait status " + std::to_string(status) + ")";
}

std::string ServerProcess::output_tail(std::size_t max_lines) const {
    struct stat info{};
    if (::fstat(output_.get(), &info) < 0 || info.st_size == 0) return "";
    off_t size = std::min<off_t>(info.st_size, 8192);
    std::string text(static_cast<std::size_t>(size), '\0');
    ssize_t got = ::pread(output_.get(), text.data(), text.size(), info.st_size - size);
    text.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    std::size_t start = text.size();
    for (std::size_t lines = 0; start > 0 && lines <= max_lines;)
        if (text[--start] == '\n' && start + 1 < text.size()) ++lines;
    if (start > 0) start = text.find('\n', start) + 1;
    return text.substr(start);
}

std::vector<pid_t> ServerProcess::everything_to_kill() const {
    // Descendants of the checker itself: the server's children are reparented
    // to the checker (a subreaper) when the server dies, whatever their group.
    std::vector<pid_t> pids = descendants_of(::getpid(), false);
    for (pid_t pid : cgroup_members(cgroup_)) pids.push_back(pid);
    return pids;
}

void ServerProcess::kill_everything() {
    if (pid_ <= 0) return;
    Deadline deadline(3s);
    while (!deadline.passed()) {
        ::kill(-pid_, SIGKILL);                   // the process group
        std::vector<pid_t> left = everything_to_kill();
        for (pid_t pid : left) ::kill(pid, SIGKILL);
        reap();
        if (left.empty() && status_) break;
        std::this_thread::sleep_for(2ms);
    }
    if (!cgroup_.empty() && ::rmdir(cgroup_.c_str()) == 0) cgroup_.clear();
}

std::optional<std::string> ServerProcess::wait_until_listening(const Endpoint& server, Deadline deadline) {
    for (;;) {
        Connection probe;
        std::string why;
        if (Connection::try_open(server, deadline.sooner(200ms), probe, why)) return std::nullopt;
        if (!running())
            return "the server " + exit_description() + " before it accepted a connection on " + server.str();
        if (deadline.passed()) break;
        std::this_thread::sleep_for(20ms);
    }
    std::vector<int> ports = listening_ports(processes());
    if (!ports.empty())
        return "the server listens on port " + std::to_string(ports.front()) + ", not on the port " +
               std::to_string(server.port) + " it was given: it must use the --port option";
    return "the server did not listen on " + server.str() + " in time (it must listen on the --port it is given)";
}

int ServerProcess::open_descriptors() const {
    DIR* fds = ::opendir(("/proc/" + std::to_string(pid_) + "/fd").c_str());
    if (!fds) return -1;
    int count = 0;
    while (dirent* entry = ::readdir(fds))
        if (entry->d_name[0] != '.') ++count;
    ::closedir(fds);
    return count;
}

int ServerProcess::thread_count() const {
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
    return -1;
}

std::vector<pid_t> ServerProcess::processes() const { return descendants_of(pid_, true); }

std::vector<pid_t> ServerProcess::zombies() const { return descendants_of(pid_, false, 'Z'); }

Duration ServerProcess::cpu_time() const {
    std::string line = read_first_line("/proc/" + std::to_string(pid_) + "/stat");
    std::size_t close_paren = line.rfind(')');
    if (close_paren == std::string::npos) return Duration::zero();
    std::istringstream fields(line.substr(close_paren + 2));
    std::string skipped;
    for (int field = 3; field < 14; ++field) fields >> skipped;   // state ... cmajflt
    long long user_ticks = 0, system_ticks = 0;
    fields >> user_ticks >> system_ticks;
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(
        static_cast<double>(user_ticks + system_ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK))));
}

long ServerProcess::resident_kib() const {
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

bool ServerProcess::has_mapped(const std::string& file) const {
    std::ifstream maps("/proc/" + std::to_string(pid_) + "/maps");
    for (std::string line; std::getline(maps, line);)
        if (line.size() >= file.size() && line.compare(line.size() - file.size(), file.size(), file) == 0) return true;
    return false;
}

}  // namespace checker
