// Diagnosis from the symptom. A test's message explains the concept it checks,
// which is right when that concept is the cause and misleading when another
// defect caused the symptom: a server that glibc aborted for an FD_SET past
// FD_SETSIZE fails c10k "for not serving every connection". What the server
// printed as it died, and how it died, often name the real mistake; this says
// it first.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace checker {

// The likely cause of a failure, in one sentence, when its symptom shows one:
// `message` is the test's failure message (which names how the server ended),
// `server_output` the tail of what the server printed.
std::optional<std::string> likely_cause(std::string_view message, std::string_view server_output);

}  // namespace checker
