// How a graded server is contained, beside its process group: a pids cgroup
// (the only thing that stops a fork bomb when running as root), a network
// namespace of its own, and the checker's interrupt handler, which kills the
// server being graded if the checker itself is interrupted. Used by
// ServerProcess (server_process.cpp); its public face is in server_process.hpp.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace checker {

// A fresh pids cgroup (v1 or v2) for one server, or "" when the machine offers none.
std::string make_pids_cgroup(int max_processes);
std::vector<pid_t> cgroup_members(const std::string& cgroup);

// Moves the calling process into a network namespace of its own with its
// loopback up. Async-signal-safe (plain system calls). False if not allowed.
bool enter_private_network();

// The server the interrupt handler kills (its process group and its cgroup's
// members), and the end of that duty.
void guard_against_interrupts(pid_t server_group, const std::string& cgroup_procs);
void stop_guarding(pid_t server_group);

}  // namespace checker
