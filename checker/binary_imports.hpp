// Which functions a dynamically linked server imports from shared libraries
// (its undefined dynamic symbols: accept, fork, pthread_create, epoll_wait...).
// Conformance tests read it to see which system interfaces a server can call.
#pragma once

#include <optional>
#include <set>
#include <string>

namespace checker {

// The undefined symbols of the ELF file's .dynsym, or nullopt when the file
// is not a dynamically linked 64-bit ELF (a static binary, a script).
std::optional<std::set<std::string>> imported_functions(const std::string& path);

// The executable a command line runs: an absolute or relative path as given,
// or the first match on $PATH.
std::string resolve_executable(const std::string& command);

}  // namespace checker
