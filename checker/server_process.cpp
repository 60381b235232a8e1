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

// In the child, between fork() and exec(): only async-signal-safe calls.
[[noreturn]] void exec_server(char* const argv[], int output_fd, int error_pipe, const ServerLimits& limits,
                              const char* cgroup_procs) {
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
    int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(output_fd, 1);
    ::dup2(output_fd, 2);
    // Signals the checker ignores or blocks would be inherited: give the server defaults.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execvp(argv[0], argv);
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

ServerProcess::ServerProcess(const std::vector<std::string>& command, ServerLimits limits) {
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

    pid_ = ::fork();
    if (pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid_ == 0) exec_server(argv.data(), output_.get(), error_write.get(), limits, cgroup_procs.c_str());
    ::setpgid(pid_, pid_);      // also here, so that the group exists whichever runs first
    running_server_group = pid_;
    std::string procs_path = cgroup_procs.substr(0, sizeof running_server_cgroup_procs - 1);
    std::memcpy(running_server_cgroup_procs, procs_path.c_str(), procs_path.size() + 1);
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
