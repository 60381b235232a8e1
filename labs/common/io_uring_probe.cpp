#include "io_uring_probe.hpp"

#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace iolab {

namespace {

// kernel.io_uring_disabled: 0 allowed, 1 only for the group io_uring_group
// and CAP_SYS_ADMIN, 2 for nobody. -1: the sysctl does not exist (before 6.6).
int disabled_sysctl() {
    std::ifstream file("/proc/sys/kernel/io_uring_disabled");
    int value = -1;
    file >> value;
    return file ? value : -1;
}

}  // namespace

std::string io_uring_unavailable_reason(int error) {
    std::string what = std::string("io_uring is not available: io_uring_setup failed with ") +
                       std::strerror(error) + ". ";
    int disabled = disabled_sysctl();
    if (error == EPERM && disabled > 0)
        return what + "The sysctl kernel.io_uring_disabled is " + std::to_string(disabled) +
               ": as root, run sysctl kernel.io_uring_disabled=0";
    if (error == ENOSYS || error == EPERM)
        return what +
               "A seccomp filter blocks the call (Docker's default profile does: run the "
               "container with --security-opt seccomp=unconfined), or the kernel is older than 5.1";
    return what + "The kernel may be too old (the uring lab needs 6.0 or later) or out of memory";
}

std::optional<std::string> io_uring_unavailable() {
    io_uring_params params{};
    long fd = ::syscall(__NR_io_uring_setup, 1, &params);
    if (fd >= 0) {
        ::close(static_cast<int>(fd));
        return std::nullopt;
    }
    return io_uring_unavailable_reason(errno);
}

}  // namespace iolab
