#include "shutdown.hpp"

#include "errors.hpp"
#include "unique_fd.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>

namespace iolab {

namespace {

std::atomic<bool> requested{false};

// Connections watched by a ShutdownWatch, indexed by descriptor number (a
// descriptor above the table is simply not watched: it still sees EINTR).
constexpr int kWatchedMax = 1 << 16;
std::atomic<bool> watched[kWatchedMax];
int listen_socket = -1;
int wakeup_pipe[2] = {-1, -1};

bool open_wakeup_pipe() noexcept { return ::pipe2(wakeup_pipe, O_CLOEXEC | O_NONBLOCK) == 0; }

// Runs in whichever thread the kernel picked, between any two instructions of
// it: only async-signal-safe calls here (write and shutdown are).
extern "C" void on_shutdown_signal(int) {
    int saved_errno = errno;
    requested.store(true);
    char byte = 1;
    [[maybe_unused]] ssize_t ignored = ::write(wakeup_pipe[1], &byte, 1);
    if (listen_socket >= 0) ::shutdown(listen_socket, SHUT_RD);
    for (int fd = 0; fd < kWatchedMax; ++fd)
        if (watched[fd].load()) ::shutdown(fd, SHUT_RDWR);
    errno = saved_errno;
}

}  // namespace

void install_shutdown_handlers(int listen_fd) {
    static_assert(std::atomic<bool>::is_always_lock_free, "the handler needs a lock-free flag");
    listen_socket = listen_fd;
    if (!open_wakeup_pipe()) throw_errno("pipe2");

    struct sigaction action {};
    action.sa_handler = on_shutdown_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: interrupted calls return EINTR
    if (::sigaction(SIGINT, &action, nullptr) < 0 || ::sigaction(SIGTERM, &action, nullptr) < 0)
        throw_errno("sigaction");
    action.sa_handler = SIG_IGN;
    if (::sigaction(SIGPIPE, &action, nullptr) < 0) throw_errno("sigaction(SIGPIPE)");
}

void reset_shutdown_handling_in_child() noexcept {
    // The signals wait while the handler's state changes under its feet; one
    // that arrives meanwhile is delivered when they are unblocked.
    sigset_t shutdown_signals, previous;
    sigemptyset(&shutdown_signals);
    sigaddset(&shutdown_signals, SIGINT);
    sigaddset(&shutdown_signals, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &shutdown_signals, &previous);
    listen_socket = -1;
    // Only the entries set are written: writing would copy each page of the
    // table, shared copy-on-write with the parent until then.
    for (std::atomic<bool>& connection : watched)
        if (connection.load()) connection.store(false);
    UniqueFd parents_read_end(wakeup_pipe[0]),
        parents_write_end(wakeup_pipe[1]);  // closed on return
    // Out of descriptors, the child goes without: the handler's write then
    // fails harmlessly, and a blocking child never looks at the pipe.
    if (!open_wakeup_pipe()) wakeup_pipe[0] = wakeup_pipe[1] = -1;
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

bool shutdown_requested() noexcept { return requested.load(); }

int shutdown_wakeup_fd() noexcept { return wakeup_pipe[0]; }

// Registering first and looking at the flag second (both sequentially
// consistent) means that either the handler sees this connection, or this
// constructor sees the flag: never neither.
ShutdownWatch::ShutdownWatch(int connection_fd) noexcept : fd_(connection_fd) {
    if (fd_ < 0 || fd_ >= kWatchedMax) return;
    watched[fd_].store(true);
    if (requested.load()) ::shutdown(fd_, SHUT_RDWR);
}

ShutdownWatch::~ShutdownWatch() {
    if (fd_ >= 0 && fd_ < kWatchedMax) watched[fd_].store(false);
}

}  // namespace iolab
