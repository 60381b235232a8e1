// What /proc says about processes and sockets: the process table, a process's
// descendants, the sockets it holds and the TCP ports that listen. Read by
// ServerProcess (server_process.cpp) and the checker's tests; plain reads of
// /proc, safe from any thread.
#pragma once

#include <sys/types.h>

#include <set>
#include <string>
#include <vector>

namespace checker {

struct ProcEntry {
    pid_t pid;
    pid_t parent;
    char state;
};

// Every process on the machine, from /proc/PID/stat.
std::vector<ProcEntry> all_processes();

// The descendants of `root` (and `root` itself if `include_root`), only those
// in `only_state` ('Z': zombies) unless it is 0.
std::vector<pid_t> descendants_of(pid_t root, bool include_root, char only_state = 0);

std::string read_first_line(const std::string& path);

// How many of a process's descriptors lead to `target`, as /proc/PID/fd
// shows it: "anon_inode:[eventpoll]" for epoll sets.
int descriptors_to(pid_t pid, const std::string& target);

// The inodes of the sockets the given processes hold open.
std::set<std::string> socket_inodes(const std::vector<pid_t>& pids);

struct ListeningSocket {
    int port;
    std::string inode;
};

// Every TCP socket in LISTEN state in this network namespace (from /proc/net/tcp).
std::vector<ListeningSocket> listening_sockets();

// Which TCP ports the given processes listen on, matched by socket inode.
std::vector<int> listening_ports(const std::vector<pid_t>& pids);

}  // namespace checker
