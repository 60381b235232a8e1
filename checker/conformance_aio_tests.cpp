// conformance of the aio lab: the server is built on POSIX AIO, which the
// checker reads from the functions its binary imports (binary_imports.hpp).
// A server that passes every behavioural test with threads, or with poll(),
// passes for the wrong reason; this test says so.
#include "test_cases.hpp"

#include "binary_imports.hpp"

#include <set>
#include <string>

namespace checker::tests {

namespace {

// The calls that put a POSIX AIO request in flight, one for each direction.
const std::set<std::string> kAioCalls = {"aio_read", "aio_write"};

// Readiness (the reactor's calls) and the calls that read or write a socket
// directly: a server of this lab issues its socket reads and writes with
// aio_read()/aio_write() and never asks which socket is ready. With
// _FORTIFY_SOURCE, poll and ppoll may be imported as their checking variants.
const std::set<std::string> kNotAio = {
    "select",     "pselect",     "poll",        "ppoll",         "__poll_chk",
    "__ppoll_chk", "epoll_wait", "epoll_pwait", "epoll_pwait2",  "epoll_ctl",
    "epoll_create", "epoll_create1", "recv",    "recvfrom",      "recvmsg",
    "send",       "sendto",      "sendmsg",
};

// What else a student may have used, to name it in the diagnosis.
const std::set<std::string> kOtherModels = {"pthread_create", "fork", "io_submit", "io_uring_enter", "read", "write"};

std::string joined(const std::set<std::string>& names) {
    std::string text;
    for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
    return text.empty() ? "none" : text;
}

void test_uses_posix_aio(TestContext& context) {
    auto imports = imported_functions(context.executable);
    if (!imports)
        throw TestFailure(context.executable + " is not a dynamically linked ELF binary, so the checker cannot see "
                          "which functions it calls: build it with the kit's Makefile (no -static)");
    std::set<std::string> missing, forbidden, other;
    for (const std::string& name : kAioCalls)
        if (!imports->count(name)) missing.insert(name);
    for (const std::string& name : *imports) {
        if (kNotAio.count(name)) forbidden.insert(name);
        if (kOtherModels.count(name)) other.insert(name);
    }
    std::string seen = "its binary imports " + (imports->count("aio_read") ? std::string("aio_read") : "no aio_read") +
                       ", " + (imports->count("aio_write") ? std::string("aio_write") : "no aio_write") +
                       "; readiness or direct socket calls: " + joined(forbidden) + "; also: " + joined(other);
    if (!missing.empty())
        throw TestFailure(seen + ". This lab is graded on its model: every read and write on a connected socket "
                          "must be a POSIX AIO request (aio_read, aio_write), and the server learns of its completion "
                          "afterwards; " + joined(missing) + " never appear" + (missing.size() == 1 ? "s" : "") +
                          " in it");
    if (!forbidden.empty())
        throw TestFailure(seen + ". In the proactor model the server does not ask which socket is ready "
                          "(select, poll, epoll) nor call recv/send itself: it issues aio_read()/aio_write() and "
                          "is told when each is done");
    context.observed = "imports aio_read and aio_write; none of select, poll, epoll, recv, send";
}

}  // namespace

const TestCase uses_posix_aio{"uses_posix_aio", Category::Conformance,
                              "imports aio_read and aio_write; no select, poll, epoll, recv or send",
                              test_uses_posix_aio, /*needs_process=*/true};

}  // namespace checker::tests
