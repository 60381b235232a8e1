// Setup failures are reported as std::system_error carrying errno and the
// name of the call that failed, e.g. "bind: Address already in use".
#pragma once

#include <cerrno>
#include <string>
#include <system_error>

namespace iolab {

[[noreturn]] inline void throw_errno(const std::string& call) {
    throw std::system_error(errno, std::generic_category(), call);
}

}  // namespace iolab
