// conformance: the server really uses the I/O model of its lab. Seen from
// outside: while several clients are connected, /proc shows the processes and
// threads the model implies; and the binary imports the system interfaces of
// its model, and none of another's (the lab's InterfaceRules, in its rubric).
#include "binary_imports.hpp"
#include "clients.hpp"
#include "test_cases.hpp"
#include "text.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace checker::tests {

namespace {

constexpr int kObservedClients = 4;

// What /proc showed while kObservedClients clients were connected.
struct Observation {
    int answered = 0;          // clients whose line came back
    std::size_t children = 0;  // descendants of the server process
    int threads_before = 0;    // threads of the server process before the clients came
    int threads = 0;           // and while they were connected

    std::string describe() const {
        std::string clients = str("with ", kObservedClients, " clients connected at once (",
                                  answered, " answered), ");
        if (threads < 0 || threads_before < 0)  // /proc had nothing: the server had ended
            return clients + "the server's threads could not be counted: it had ended";
        return str(clients, "the server ran ", threads, " thread", threads == 1 ? "" : "s", " (",
                   threads_before, " before they came) and had ", children, " child process",
                   children == 1 ? "" : "es");
    }
};

// Connects the clients, gives each `patience` to have its line answered (a
// model that serves one client at a time answers only the first: that is
// observed, not failed here), then looks at the server in /proc.
Observation observe_with_clients(TestContext& context, Duration patience) {
    Observation seen;
    seen.threads_before = thread_count_at_rest(context.server, *context.process, context.deadline);
    std::vector<SwarmClient> clients =
        open_swarm(context.server, kObservedClients, context.deadline);
    seen.answered = exchange_lines(clients, context.deadline.sooner(patience));
    std::vector<pid_t> processes = context.process->processes();
    seen.children = processes.empty() ? 0 : processes.size() - 1;
    seen.threads = context.process->thread_count();
    return seen;
}

void test_process_per_client(TestContext& context) {
    Observation seen = observe_with_clients(context, 2s);
    if (seen.children < static_cast<std::size_t>(kObservedClients))
        throw TestFailure(str(seen.describe(),
                              ". A fork-per-client server serves each client in a child "
                              "process of its own, made by fork() when the client is accepted: ",
                              kObservedClients, " clients, at least ", kObservedClients,
                              " children"));
    context.observed = seen.describe();
}

void test_thread_per_client(TestContext& context) {
    Observation seen = observe_with_clients(context, 2s);
    if (seen.threads < seen.threads_before + kObservedClients)
        throw TestFailure(str(seen.describe(),
                              ". A thread-per-client server starts a thread for each client it "
                              "accepts, in its own process: ",
                              kObservedClients, " clients, at least ", kObservedClients,
                              " more threads"));
    context.observed = seen.describe();
}

void test_single_thread(TestContext& context) {
    Observation seen = observe_with_clients(context, 500ms);
    if (seen.threads != 1 || seen.children != 0)
        throw TestFailure(seen.describe() +
                          ". This model serves every client from the one thread of one process: "
                          "no threads or child processes of its own");
    context.observed = seen.describe();
}

// A function's name as a student knows it: a C++ name demangled, without its
// parameters ("std::thread::_M_start_thread"), a C name as it is.
std::string readable(const std::string& symbol) {
    int status = 0;
    std::unique_ptr<char, decltype(&std::free)> name(
        abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status), &std::free);
    if (status != 0 || !name) return symbol;
    std::string text = name.get();
    return text.substr(0, text.find('('));
}

// "fork, vfork" from the functions found.
std::string joined(const std::vector<std::string>& names) {
    std::string text;
    for (const std::string& name : names) text += (text.empty() ? "" : ", ") + readable(name);
    return text;
}

std::string family_description(const InterfaceFamily& family) {
    return family.name + std::string(" (") + family.calls + ")";
}

void test_system_interfaces(TestContext& context) {
    const InterfaceRules& rules = context.lab->interfaces;
    std::optional<std::set<std::string>> imports = imported_functions(context.executable);
    if (!imports)
        throw TestFailure("could not read which functions " + context.executable +
                          " imports: it is not a "
                          "dynamically linked 64-bit ELF binary. Grade the server built by make");
    std::vector<std::string> problems;
    std::vector<std::string> seen;
    for (const InterfaceFamily* family : rules.required) {
        std::vector<std::string> found = imported_from(*family, *imports);
        if (found.empty())
            problems.push_back("it imports nothing for " + family_description(*family) +
                               ", which this model is "
                               "built on");
        seen.insert(seen.end(), found.begin(), found.end());
    }
    for (const InterfaceFamily* family : rules.forbidden) {
        std::vector<std::string> found = imported_from(*family, *imports);
        if (!found.empty())
            problems.push_back("it imports " + joined(found) + " (" + family->name +
                               "), which is another model's");
        seen.insert(seen.end(), found.begin(), found.end());
    }
    context.observed = "imports " + (seen.empty() ? std::string("none of the functions looked for")
                                                  : joined(seen));
    if (problems.empty()) return;
    std::string message =
        "read the functions " + context.executable + " imports from shared libraries: ";
    for (std::size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
    throw TestFailure(message + ". The " + context.lab->name +
                      " lab's model: " + context.lab->model +
                      "; a server built on another model belongs in that model's lab");
}

}  // namespace

const TestCase process_per_client{
    .name = "process_per_client",
    .category = Category::Conformance,
    .checks = "with 4 clients connected, the server has a child process for each",
    .run = test_process_per_client,
    .needs_process = true,
};
const TestCase thread_per_client{
    .name = "thread_per_client",
    .category = Category::Conformance,
    .checks = "with 4 clients connected, the server has a thread more for each",
    .run = test_thread_per_client,
    .needs_process = true,
};
const TestCase single_thread{
    .name = "single_thread",
    .category = Category::Conformance,
    .checks = "with 4 clients connected, the server is still one process with one thread",
    .run = test_single_thread,
    .needs_process = true,
};
const TestCase system_interfaces{
    .name = "system_interfaces",
    .category = Category::Conformance,
    .checks = "the binary imports the system calls of its model and none of another's",
    .run = test_system_interfaces,
    .needs_process = true,
};

}  // namespace checker::tests
