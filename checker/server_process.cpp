#include "server_process.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
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
constexpr int kSanitizerExitStatus = 66;       // TSAN_OPTIONS=exitcode=66 in the Makefile's tsan target

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

// Removes the cgroups an interrupted checker could not remove (its pid, in the
// name, no longer runs; a cgroup with processes in it refuses rmdir anyway).
void remove_stale_cgroups(const std::string& parent) {
    DIR* dir = ::opendir(parent.c_str());
    if (!dir) return;
    while (dirent* entry = ::readdir(dir)) {
        int owner = 0;
        if (std::sscanf(entry->d_name, "iolab-checker-%d-", &owner) == 1 && owner != ::getpid() &&
            ::kill(owner, 0) != 0)
            ::rmdir((parent + "/" + entry->d_name).c_str());
    }
    ::closedir(dir);
}

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
        if (counter == 1) remove_stale_cgroups(parent);
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

// The ServerProcess objects alive in this process, by pid: each reaps any
// child that ended, and hands the status to the object it belongs to.
std::map<pid_t, ServerProcess*>& live_processes() {
    static std::map<pid_t, ServerProcess*> processes;
    return processes;
}

// A new network namespace holds only a loopback interface, and that is down:
// bring it up. Async-signal-safe (plain system calls). False if not allowed.
bool enter_private_network() {
    if (::unshare(CLONE_NEWNET) < 0) return false;
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    ifreq request{};
    std::memcpy(request.ifr_name, "lo", 3);
    bool up = ::ioctl(fd, SIOCGIFFLAGS, &request) == 0 &&
              (request.ifr_flags |= IFF_UP, ::ioctl(fd, SIOCSIFFLAGS, &request) == 0);
    ::close(fd);
    return up;
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
    if (limits.max_memory_bytes > 0) {
        rlimit memory{static_cast<rlim_t>(limits.max_memory_bytes), static_cast<rlim_t>(limits.max_memory_bytes)};
        ::setrlimit(RLIMIT_AS, &memory);
    }
    // Without one, it shares the machine's loopback; the grader then detects a
    // port another program took (port_taken_by_another) and picks another.
    if (limits.private_network) enter_private_network();
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

// The inodes of the sockets the given processes hold open.
std::set<std::string> socket_inodes(const std::vector<pid_t>& pids) {
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
    return inodes;
}

struct ListeningSocket {
    int port;
    std::string inode;
};

// Every TCP socket in LISTEN state in this network namespace (from /proc/net/tcp).
std::vector<ListeningSocket> listening_sockets() {
    std::vector<ListeningSocket> sockets;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);   // header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
            fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
            if (state == "0A")    // TCP_LISTEN
                sockets.push_back({std::stoi(local.substr(local.find(':') + 1), nullptr, 16), inode});
        }
    }
    return sockets;
}

// Which TCP ports the given processes listen on, matched by socket inode.
std::vector<int> listening_ports(const std::vector<pid_t>& pids) {
    std::set<std::string> inodes = socket_inodes(pids);
    std::vector<int> ports;
    for (const ListeningSocket& socket : listening_sockets())
        if (inodes.count(socket.inode)) ports.push_back(socket.port);
    return ports;
}

// What the interrupt handler needs, kept in plain storage it can read safely.
volatile pid_t running_server_group = 0;
char running_server_cgroup_procs[512];

extern "C" void on_checker_interrupted(int signal_number) {
    if (running_server_group > 0) ::kill(-running_server_group, SIGKILL);
    int procs = running_server_cgroup_procs[0] ? ::open(running_server_cgroup_procs, O_RDONLY) : -1;
    if (procs >= 0) {
        char text[4096];
        ssize_t length = ::read(procs, text, sizeof text - 1);
        ::close(procs);
        pid_t pid = 0;
        for (ssize_t i = 0; i < length; ++i) {   // no stdio in a signal handler: parse by hand
            if (text[i] >= '0' && text[i] <= '9') { pid = pid * 10 + (text[i] - '0'); continue; }
            if (pid > 0) ::kill(pid, SIGKILL);
            pid = 0;
        }
    }
    ::signal(signal_number, SIG_DFL);
    ::raise(signal_number);
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

void kill_servers_when_interrupted() {
    struct sigaction action{};
    action.sa_handler = on_checker_interrupted;
    sigemptyset(&action.sa_mask);
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(signal_number, &action, nullptr);
}

std::string signal_name(int signal_number) {
    const char* abbrev = sigabbrev_np(signal_number);
    const char* description = sigdescr_np(signal_number);
    std::string name = abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(signal_number);
    return description ? name + " (" + description + ")" : name;
}

bool private_network_available() {
    pid_t probe = ::fork();
    if (probe < 0) return false;
    if (probe == 0) ::_exit(enter_private_network() ? 0 : 1);
    int status = 0;
    while (::waitpid(probe, &status, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
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
    running_server_group = pid_;
    std::string procs_path = cgroup_procs.substr(0, sizeof running_server_cgroup_procs - 1);
    std::memcpy(running_server_cgroup_procs, procs_path.c_str(), procs_path.size() + 1);
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
            how += ": it wrote to a connection the client had closed; ignore SIGPIPE or send with MSG_NOSIGNAL";
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
        ::kill(-pid_, SIGKILL);                   // the process group
        std::vector<pid_t> left = everything_to_kill();
        for (pid_t pid : left) ::kill(pid, SIGKILL);
        reap();
        if (left.empty() && status_) break;
        std::this_thread::sleep_for(2ms);
    }
    if (!cgroup_.empty() && ::rmdir(cgroup_.c_str()) == 0) cgroup_.clear();
    if (running_server_group == pid_) {
        running_server_group = 0;
        running_server_cgroup_procs[0] = '\0';
    }
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

std::string ServerProcess::executable() const {
    std::error_code gone;
    return std::filesystem::read_symlink("/proc/" + std::to_string(pid_) + "/exe", gone).string();
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

// ---- resource usage (checker bench) -------------------------------------------

namespace checker {

namespace {

// A whole /proc file (they are small), or "" if the process is gone.
std::string read_proc_file(const std::string& path) {
    iolab::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::string text;
    if (!fd) return text;
    char buffer[4096];
    for (ssize_t got; (got = ::read(fd.get(), buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(got));
    return text;
}

// The number after `key` in a "Key:   value" file such as status or smaps_rollup.
long long proc_field(const std::string& text, const char* key) {
    std::size_t at = text.find(key);
    return at == std::string::npos ? -1 : std::atoll(text.c_str() + at + std::strlen(key));
}

int directory_entries(const std::string& path) {
    DIR* dir = ::opendir(path.c_str());
    if (!dir) return 0;
    int count = 0;
    while (dirent* entry = ::readdir(dir))
        if (entry->d_name[0] != '.') ++count;
    ::closedir(dir);
    return count;
}

// Threads beyond which a process is not read thread by thread: reading 10,000
// threads' files takes longer than a measured window lasts.
constexpr int kThreadsReadOneByOne = 256;

// The sum over a process's threads alive now of `field` of each one's `file`.
long long sum_over_threads(pid_t pid, const char* file, long long (*field)(const std::string&)) {
    std::string tasks = "/proc/" + std::to_string(pid) + "/task";
    DIR* dir = ::opendir(tasks.c_str());
    if (!dir) return 0;
    long long total = 0;
    while (dirent* entry = ::readdir(dir))
        if (entry->d_name[0] != '.') total += field(read_proc_file(tasks + "/" + entry->d_name + "/" + file));
    ::closedir(dir);
    return total;
}

// CPU time of a process's threads alive now, in nanoseconds, from schedstat:
// /proc/PID/stat counts in clock ticks and rounds each process down to 10 ms,
// which loses everything a young fork child did.
long long thread_cpu_ns(pid_t pid) {
    return sum_over_threads(pid, "schedstat", [](const std::string& text) { return std::atoll(text.c_str()); });
}

long long thread_context_switches(pid_t pid) {
    return sum_over_threads(pid, "status", [](const std::string& status) {
        return std::max(0LL, proc_field(status, "\nvoluntary_ctxt_switches:")) +
               std::max(0LL, proc_field(status, "nonvoluntary_ctxt_switches:"));
    });
}

}  // namespace

ResourceUsage ServerProcess::resource_usage(bool precise) const {
    static const double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
    static const long long page_bytes = ::sysconf(_SC_PAGESIZE);
    ResourceUsage usage;
    // The cgroup lists the server's processes directly; walking /proc is the fallback.
    std::vector<pid_t> pids = cgroup_.empty() ? processes() : cgroup_members(cgroup_);
    std::vector<std::pair<pid_t, int>> alive;   // and their threads

    // First the CPU times, all close together in time.
    for (pid_t pid : pids) {
        std::string stat = read_proc_file("/proc/" + std::to_string(pid) + "/stat");
        std::size_t close_paren = stat.rfind(')');
        if (close_paren == std::string::npos) continue;    // gone meanwhile
        // After the command name: state ppid ... utime(14) stime cutime cstime ... num_threads(20).
        std::istringstream fields(stat.substr(close_paren + 2));
        std::vector<std::string> field(18);
        for (std::string& each : field) fields >> each;
        if (field[0] == "Z") continue;                     // a zombie's time is its parent's once reaped
        int threads = std::atoi(field[17].c_str());
        // Its own time (ended threads included) and that of the children it reaped.
        double own = (std::atof(field[11].c_str()) + std::atof(field[12].c_str())) / ticks_per_second;
        double reaped_children = (std::atof(field[13].c_str()) + std::atof(field[14].c_str())) / ticks_per_second;
        if (precise && threads <= kThreadsReadOneByOne)   // to the nanosecond, unless ended threads weigh more
            own = std::max(own, static_cast<double>(thread_cpu_ns(pid)) * 1e-9);
        usage.cpu_seconds += own + reaped_children;
        usage.threads += threads;
        ++usage.processes;
        alive.emplace_back(pid, threads);
    }

    // Then memory, descriptors and context switches.
    if (precise) usage.context_switches = 0;
    for (auto [pid, threads] : alive) {
        std::string dir = "/proc/" + std::to_string(pid);
        std::string rollup = read_proc_file(dir + "/smaps_rollup");
        long long pss_kib = proc_field(rollup, "\nPss:");
        long long anon_kib = proc_field(rollup, "\nPss_Anon:");    // Linux 5.12 and later
        if (pss_kib >= 0) {
            usage.memory_bytes += pss_kib * 1024;
            usage.anon_memory_bytes += (anon_kib >= 0 ? anon_kib : pss_kib) * 1024;
        } else {   // no smaps_rollup (kernel before 4.14): resident pages, shared ones counted in full
            std::istringstream statm(read_proc_file(dir + "/statm"));
            long long size = 0, resident = 0;
            statm >> size >> resident;
            usage.memory_bytes += resident * page_bytes;
            usage.anon_memory_bytes += resident * page_bytes;
        }
        usage.descriptors += directory_entries(dir + "/fd");
        if (precise && usage.context_switches >= 0)
            usage.context_switches = threads <= kThreadsReadOneByOne ? usage.context_switches + thread_context_switches(pid) : -1;
    }
    return usage;
}

}  // namespace checker
