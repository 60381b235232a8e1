#include "diagnosis.hpp"

namespace checker {

namespace {

// A symptom: words in the server's last output, or in how it ended, and what they mean.
struct Symptom {
    std::string_view in_output;   // "" when the output says nothing of it
    std::string_view in_message;  // "" when the failure message says nothing of it
    std::string_view cause;
};

constexpr std::string_view kFdSetPastFdSetsize =
    "FD_SET() or FD_ISSET() was given a descriptor numbered FD_SETSIZE (1024) or more, past the end "
    "of the fd_set, and the server was stopped there: close a client whose descriptor does not fit "
    "before it goes into an fd_set";

// clang-format off
constexpr Symptom kSymptoms[] = {
    // _FORTIFY_SOURCE's FD_SET/FD_ISSET check, then abort().
    {"bit out of range 0 - FD_SETSIZE", "", kFdSetPastFdSetsize},
    // UndefinedBehaviorSanitizer's bounds check on the fd_set's 16 words (1024 bits).
    {"out of bounds for type 'long int [16]'", "", kFdSetPastFdSetsize},
    // glibc's malloc, finding its own bookkeeping broken, then abort().
    {"double free", "",
     "memory was freed twice: under a pool, two threads served one connection at once (epoll without "
     "EPOLLONESHOT wakes a second worker for a socket the first is still serving), or a connection "
     "was freed while still in use"},
    {"free(): invalid", "",
     "memory was freed that was not allocated, or freed twice: two threads on one connection, or a "
     "connection freed while still in use"},
    {"corrupted", "",
     "the heap was corrupted: two threads writing one connection's buffers at once, or a write past "
     "the end of a buffer"},
    // bind() refused the port the checker had found free and given with --port.
    {"Address already in use", "",
     "bind() found the port taken though the checker had found it free: the server binds it more "
     "than once (several listening sockets on one port need SO_REUSEPORT, set on each before "
     "bind(): the kernel decides at bind() whether the port may be shared), or binds a port "
     "other than --port"},
    // labs/common/coro_reactor.cpp, as a frame it still holds to resume is destroyed.
    {"destroyed while still registered", "",
     "a coroutine frame was destroyed while still registered with the reactor (waiting for a "
     "descriptor, a timer or the pool), and the loop would have resumed freed memory (a "
     "use-after-free): hand every Task to Reactor::spawn(), which owns the frame, and never destroy "
     "a suspended coroutine yourself"},
    {"", "killed by SIGPIPE",
     "a write to a connection its client had reset raised SIGPIPE, whose default action ends the "
     "process: ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)) or pass MSG_NOSIGNAL to send()"},
};
// clang-format on

}  // namespace

std::optional<std::string> likely_cause(std::string_view message, std::string_view server_output) {
    for (const Symptom& symptom : kSymptoms) {
        bool seen = !symptom.in_output.empty()
                        ? server_output.find(symptom.in_output) != std::string_view::npos
                        : message.find(symptom.in_message) != std::string_view::npos;
        if (seen) return std::string("Likely cause: ") + std::string(symptom.cause) + ".";
    }
    return std::nullopt;
}

}  // namespace checker
