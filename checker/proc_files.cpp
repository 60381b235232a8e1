#include "proc_files.hpp"

#include "server_process.hpp"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <sstream>
#include <string>

namespace checker {

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
        std::size_t close_paren =
            line.rfind(')');  // the command name may contain spaces and parentheses
        if (close_paren == std::string::npos) continue;
        std::istringstream fields(line.substr(close_paren + 2));
        ProcEntry e{static_cast<pid_t>(pid), 0, '?'};
        fields >> e.state >> e.parent;
        result.push_back(e);
    }
    ::closedir(proc);
    return result;
}

std::vector<pid_t> descendants_of(pid_t root, bool include_root, char only_state) {
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

int descriptors_to(pid_t pid, const std::string& target) {
    int count = 0;
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* fds = ::opendir(dir.c_str());
    if (!fds) return 0;
    while (dirent* entry = ::readdir(fds)) {
        char link[64] = {};
        if (::readlink((dir + "/" + entry->d_name).c_str(), link, sizeof link - 1) > 0 &&
            target == link)
            ++count;
    }
    ::closedir(fds);
    return count;
}

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

std::vector<ListeningSocket> listening_sockets() {
    std::vector<ListeningSocket> sockets;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
            fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
                timeout >> inode;
            if (state == "0A")  // TCP_LISTEN
                sockets.push_back(
                    {std::stoi(local.substr(local.find(':') + 1), nullptr, 16), inode});
        }
    }
    return sockets;
}

std::vector<int> listening_ports(const std::vector<pid_t>& pids) {
    std::set<std::string> inodes = socket_inodes(pids);
    std::vector<int> ports;
    for (const ListeningSocket& socket : listening_sockets())
        if (inodes.count(socket.inode)) ports.push_back(socket.port);
    return ports;
}

// ---- what /proc says about the graded server

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
    if (status_) return last_cpu_time_;  // reaped: its pid may be another process's by now
    std::string line = read_first_line("/proc/" + std::to_string(pid_) + "/stat");
    std::size_t close_paren = line.rfind(')');
    if (close_paren == std::string::npos) return last_cpu_time_;  // ended
    std::istringstream fields(line.substr(close_paren + 2));
    std::string skipped;
    for (int field = 3; field < 14; ++field) fields >> skipped;  // state ... cmajflt
    long long user_ticks = 0, system_ticks = 0;
    fields >> user_ticks >> system_ticks;
    Duration now = std::chrono::duration_cast<Duration>(
        std::chrono::duration<double>(static_cast<double>(user_ticks + system_ticks) /
                                      static_cast<double>(::sysconf(_SC_CLK_TCK))));
    last_cpu_time_ = std::max(last_cpu_time_, now);
    return last_cpu_time_;
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
        if (line.size() >= file.size() &&
            line.compare(line.size() - file.size(), file.size(), file) == 0)
            return true;
    return false;
}

}  // namespace checker
