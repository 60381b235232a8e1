// A move-only owner of one file descriptor: the descriptor is closed exactly
// once, when its owner goes out of scope, so no code path can forget close()
// or close a descriptor twice (which, after the number is reused by another
// open/accept, would close somebody else's connection).
#pragma once

#include <unistd.h>

#include <utility>

namespace iolab {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    ~UniqueFd() { reset(); }

    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

    // Gives up ownership without closing (for example to hand the descriptor
    // to another owner). The caller is now responsible for closing it.
    int release() noexcept { return std::exchange(fd_, -1); }

    // Closes the owned descriptor (if any) and takes ownership of `fd`.
    // close() is not retried on EINTR: on Linux the descriptor is released
    // even when close() reports EINTR, and a retry could close a reused number.
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

}  // namespace iolab
