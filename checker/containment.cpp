#include "containment.hpp"

#include "server_process.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <system_error>

#include "proc_files.hpp"

namespace checker {

// ---- pids cgroups

static bool writable_dir(const std::string& path) { return ::access(path.c_str(), W_OK) == 0; }

// Removes the cgroups an interrupted checker could not remove (its pid, in the
// name, no longer runs; a cgroup with processes in it refuses rmdir anyway).
static void remove_stale_cgroups(const std::string& parent) {
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

std::string make_pids_cgroup(int max_processes) {
    static int counter = 0;
    std::string name =
        "iolab-checker-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    std::vector<std::string> parents;
    if (writable_dir("/sys/fs/cgroup/pids")) parents.push_back("/sys/fs/cgroup/pids");  // cgroup v1
    if (read_first_line("/sys/fs/cgroup/cgroup.controllers").find("pids") != std::string::npos) {
        std::string own = read_first_line("/proc/self/cgroup");  // "0::/path"
        if (own.rfind("0::", 0) == 0) parents.push_back("/sys/fs/cgroup" + own.substr(3));
    }
    for (const std::string& parent : parents) {
        if (counter == 1) remove_stale_cgroups(parent);
        std::string dir = parent + "/" + name;
        if (::mkdir(dir.c_str(), 0755) < 0) continue;
        std::ofstream(dir + "/pids.max") << max_processes;
        if (std::ifstream(dir + "/pids.max").good() && std::ifstream(dir + "/cgroup.procs").good())
            return dir;
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

// ---- a network of its own

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

// ---- the checker interrupted

// What the interrupt handler needs, kept in plain storage it can read safely.
namespace {

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
        for (ssize_t i = 0; i < length; ++i) {  // no stdio in a signal handler: parse by hand
            if (text[i] >= '0' && text[i] <= '9') {
                pid = pid * 10 + (text[i] - '0');
                continue;
            }
            if (pid > 0) ::kill(pid, SIGKILL);
            pid = 0;
        }
    }
    ::signal(signal_number, SIG_DFL);
    ::raise(signal_number);
}

}  // namespace

void guard_against_interrupts(pid_t server_group, const std::string& cgroup_procs) {
    running_server_group = server_group;
    std::string path = cgroup_procs.substr(0, sizeof running_server_cgroup_procs - 1);
    std::memcpy(running_server_cgroup_procs, path.c_str(), path.size() + 1);
}

void stop_guarding(pid_t server_group) {
    if (running_server_group != server_group) return;
    running_server_group = 0;
    running_server_cgroup_procs[0] = '\0';
}

void kill_servers_when_interrupted() {
    struct sigaction action {};
    action.sa_handler = on_checker_interrupted;
    sigemptyset(&action.sa_mask);
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP})
        ::sigaction(signal_number, &action, nullptr);
}

// ---- the public face (server_process.hpp)

bool private_network_available() {
    pid_t probe = ::fork();
    if (probe < 0) return false;
    if (probe == 0) ::_exit(enter_private_network() ? 0 : 1);
    int status = 0;
    while (::waitpid(probe, &status, 0) < 0 && errno == EINTR) {
    }
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
        throw std::system_error(errno, std::generic_category(),
                                "could not find a free port on 127.0.0.1");
    return ntohs(address.sin_port);
}

}  // namespace checker
