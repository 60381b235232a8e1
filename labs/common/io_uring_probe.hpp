// Whether io_uring may be used here, and if not, why, in one line that says
// what to do. The kernel feature is more often switched off than missing:
// Docker's default seccomp profile blocks io_uring_setup(2), and since Linux
// 6.6 the sysctl kernel.io_uring_disabled can forbid it to some or all.
// Used by the uring server (which exits with the reason) and by the checker
// (which then reports the uring lab as skipped, with the same reason).
#pragma once

#include <optional>
#include <string>

namespace iolab {

// Why io_uring_setup(2) failed with `error` (an errno value), and what to do.
std::string io_uring_unavailable_reason(int error);

// Sets up (and closes) a one-entry ring: nothing if that works, else the reason.
std::optional<std::string> io_uring_unavailable();

}  // namespace iolab
