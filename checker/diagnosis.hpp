// Diagnosis from the symptom. A test's message explains the concept it checks,
// which is right when that concept is the cause and misleading when another
// defect caused the symptom: a server that glibc aborted for an FD_SET past
// FD_SETSIZE fails c10k "for not serving every connection". What the server
// printed as it died, how it died, and what the checker saw it do (spin, sit
// idle while a client waits, keep a descriptor per client) often name the real
// mistake; the report says it first ("Likely cause: ...").
#pragma once

#include "connection.hpp"
#include "server_process.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace checker {

// The causes the tests name from what they observe (TestFailure's cause), one
// sentence each, kept here beside those read from the server's output.
namespace causes {
// A new client's first line answered, its second never, the server idle.
extern const std::string_view served_once;
// A burst answered in part, the server idle, and more of it after one more line.
extern const std::string_view one_read_per_arrival;
// The loop spins while a client is connected, and stops when it leaves.
extern const std::string_view write_interest_always_on;
// The loop spins with no client connected at all.
extern const std::string_view zero_timeout;
// One connection's requests were in service side by side, or its replies
// mixed, in a server running several threads.
extern const std::string_view two_threads_on_one_connection;
// The server's descriptor count rose by about one with every client.
extern const std::string_view descriptor_per_client;
// Children of the server left as zombies after their clients had gone.
extern const std::string_view children_never_reaped;
// Children of the server still running after their clients had gone.
extern const std::string_view children_never_exit;
// The server's thread count stayed up after its clients had gone.
extern const std::string_view threads_never_return;
}  // namespace causes

// "Likely cause: CAUSE." (the line the report puts first in a failure).
std::string cause_line(std::string_view cause);

// The likely cause of a failure, as cause_line(), when its symptom shows one:
// `message` is the test's failure message (which names how the server ended),
// `server_output` the tail of what the server printed.
std::optional<std::string> likely_cause(std::string_view message, std::string_view server_output);

// After a failure in which a reply stopped short, what a fresh client sees
// (bounded by `deadline`: a second or two to find a stall, up to four when the
// replies to a burst stop short, a moment to find none):
enum class Stall {
    None,               // served, or a symptom of something else
    ServedOnce,         // its first line answered, then never its second, the server idle
    OneReadPerArrival,  // a burst answered in part, the server idle, more after one more line
};
Stall probe_stall(const Endpoint& server, ServerProcess& process, Deadline deadline);

}  // namespace checker
