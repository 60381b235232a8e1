#include "bench.hpp"

#include "compare_report.hpp"
#include "minimal_client.hpp"
#include "syscall_counter.hpp"

#include "report.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace checker::bench {

namespace {

constexpr Duration kListenTimeout = 10s;
constexpr Duration kExitTimeout = 2s;
constexpr int kSpareDescriptors = 64;  // beyond the connections: listener, epoll, /proc reads, ...
constexpr double kSaturated = 0.9;     // a CPU busy this much of the time is the limit
constexpr double kBusyMachine =
    0.25;  // CPUs used by other processes beyond which the figures are noise

std::string percent(double share) {
    char text[16];
    std::snprintf(text, sizeof text, "%.0f%%", share * 100);
    return text;
}

std::string fixed(double value, int decimals) {
    if (std::isnan(value)) return "-";
    char text[32];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    return text;
}

// CPU time the whole machine spent busy (all CPUs, all processes), from the
// first line of /proc/stat: user nice system idle iowait irq softirq steal.
double machine_busy_seconds() {
    static const double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
    std::ifstream stat("/proc/stat");
    std::string cpu;
    double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
    return (user + nice + system + irq + softirq + steal) / ticks_per_second;
}

// How many CPUs other processes keep busy, over a tenth of a second.
double busy_cpus_now() {
    double before = machine_busy_seconds();
    Clock::time_point start = Clock::now();
    std::this_thread::sleep_for(100ms);
    return (machine_busy_seconds() - before) / seconds(Clock::now() - start);
}

// This process's CPU time: the load generator and the sampler.
double own_cpu_seconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

// ---- descriptors and CPUs -------------------------------------------------------

// Each connection is a descriptor in the load generator: raise its soft limit
// to the hard one (20,000 on the course machines) or say why it cannot run.
void raise_descriptor_limit(int needed) {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    if (limit.rlim_cur < static_cast<rlim_t>(needed))
        throw std::runtime_error(std::to_string(needed - kSpareDescriptors) + " connections need " +
                                 std::to_string(needed) + " descriptors, and this machine allows " +
                                 std::to_string(limit.rlim_cur) +
                                 " per process (ulimit -Hn): ask for fewer");
}

// Who runs where: the load generator on the last CPU this process may use,
// the server on all the others, so that neither steals the other's CPU time
// and the load generator's own share can be read as its own. Not when other
// processes keep the machine busy: a thread pinned to a CPU that others crowd
// cannot move to a freer one, and Linux's fair scheduler may then hold it off
// for seconds after a burst (EEVDF's lag), which stalls the whole run.
struct CpuPlan {
    cpu_set_t server;
    int server_cpus = 0;
    int client_cpu = -1;
    std::string not_pinned;  // why not, when it could have been
};

CpuPlan plan_cpus(bool pin, double busy_cpus) {
    CpuPlan plan;
    ::sched_getaffinity(0, sizeof plan.server, &plan.server);
    plan.server_cpus = CPU_COUNT(&plan.server);
    if (!pin || plan.server_cpus < 2) return plan;
    if (busy_cpus > kBusyMachine) {
        plan.not_pinned = "not pinned: other processes kept " + fixed(busy_cpus, 1) + " CPUs busy";
        return plan;
    }
    for (int cpu = CPU_SETSIZE - 1; cpu >= 0; --cpu)
        if (CPU_ISSET(cpu, &plan.server)) {
            plan.client_cpu = cpu;
            break;
        }
    CPU_CLR(plan.client_cpu, &plan.server);
    --plan.server_cpus;
    return plan;
}

void run_on(const cpu_set_t& cpus) { ::sched_setaffinity(0, sizeof cpus, &cpus); }  // this thread

void run_on_cpu(int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    run_on(one);
}

// ---- sampling the server --------------------------------------------------------

// Reads the server's /proc figures on a thread of its own, so that the load
// generator never waits for it: when the window opens and when it closes, for
// the CPU time and context switches spent in between, and periodically in
// between for the peaks of memory, processes, threads and descriptors. A sample of 10,000 processes takes a while: the sampler
// then waits longer between samples, so that it uses at most a fifth of the
// load generator's CPU.
class ServerSampler {
public:
    explicit ServerSampler(const ServerProcess& server)
        : server_(server), thread_([this] { loop(); }) {}
    ~ServerSampler() { stop(); }

    void window_opened() { request(opened_); }
    void window_closed() { request(closed_); }

    // Waits for the window's samples, then stops. Idempotent.
    void stop() {
        {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, 10s, [this] { return !opened_.pending && !closed_.pending; });
            stopping_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    struct Mark {
        bool pending = false, taken = false;
        Clock::time_point at;
        ResourceUsage usage;
        double machine_busy = 0;  // machine_busy_seconds() then
        double own_cpu = 0;       // own_cpu_seconds() then
    };
    const Mark& opened() const { return opened_; }
    const Mark& closed() const { return closed_; }
    const ResourceUsage& peak() const { return peak_; }

private:
    void request(Mark& mark) {
        {
            std::lock_guard lock(mutex_);
            mark.pending = true;
        }
        wake_.notify_all();
    }

    // Idle until the window opens (the ramp-in is left alone: reading a large
    // process's memory map holds its mmap lock, which new threads and page
    // faults wait for), then sample until the window closes.
    void loop() {
        Duration pause = 200ms;
        std::unique_lock lock(mutex_);
        for (;;) {
            auto marked = [this] { return stopping_ || opened_.pending || closed_.pending; };
            if (opened_.taken && !closed_.taken) wake_.wait_for(lock, pause, marked);
            else wake_.wait(lock, marked);
            if (stopping_) return;
            Mark* mark = opened_.pending ? &opened_ : closed_.pending ? &closed_ : nullptr;
            lock.unlock();
            Clock::time_point at = Clock::now();
            double machine_busy = mark ? machine_busy_seconds() : 0;
            double own_cpu = mark ? own_cpu_seconds() : 0;
            ResourceUsage usage = server_.resource_usage(mark != nullptr);
            pause = std::max<Duration>(200ms, 4 * (Clock::now() - at));  // at most a fifth of a CPU
            lock.lock();
            note_peak(usage);
            if (!mark) continue;
            mark->at = at;
            mark->usage = usage;
            mark->machine_busy = machine_busy;
            mark->own_cpu = own_cpu;
            mark->pending = false;
            mark->taken = true;
            wake_.notify_all();
        }
    }

    void note_peak(const ResourceUsage& usage) {
        peak_.memory_bytes = std::max(peak_.memory_bytes, usage.memory_bytes);
        peak_.anon_memory_bytes = std::max(peak_.anon_memory_bytes, usage.anon_memory_bytes);
        peak_.processes = std::max(peak_.processes, usage.processes);
        peak_.threads = std::max(peak_.threads, usage.threads);
        peak_.descriptors = std::max(peak_.descriptors, usage.descriptors);
    }

    const ServerProcess& server_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    Mark opened_, closed_;
    ResourceUsage peak_;
    std::thread thread_;  // last: starts once everything above exists
};

std::vector<std::string> server_command(const BenchOptions& options, int port) {
    std::vector<std::string> command = options.command;
    command.insert(command.end(), {"--port", std::to_string(port)});
    if (options.delay_us > 0)
        command.insert(command.end(), {"--delay-us", std::to_string(options.delay_us)});
    if (options.compute_us > 0)
        command.insert(command.end(), {"--compute-us", std::to_string(options.compute_us)});
    if (options.workers >= 0)
        command.insert(command.end(), {"--workers", std::to_string(options.workers)});
    return command;
}

std::string last_line(const std::string& text) {
    std::string trimmed = text.substr(0, text.find_last_not_of('\n') + 1);
    return trimmed.substr(trimmed.rfind('\n') == std::string::npos ? 0 : trimmed.rfind('\n') + 1);
}

// Takes the window's CPU time and context switches from the sampler's marks,
// scaled from the sampler's interval to the window (they differ by the
// sampler's reaction time, a few milliseconds).
void take_window_figures(BenchResult& result, const ServerSampler& sampler) {
    const auto& opened = sampler.opened();
    const auto& closed = sampler.closed();
    result.server_peak = sampler.peak();
    if (!opened.taken || !closed.taken) return;
    double sampled = seconds(closed.at - opened.at);
    double scale = sampled > 0 ? result.load.window_seconds / sampled : 1;
    double server_cpu = std::max(0.0, closed.usage.cpu_seconds - opened.usage.cpu_seconds);
    result.server_cpu_seconds = server_cpu * scale;
    double others = (closed.machine_busy - opened.machine_busy) - server_cpu -
                    (closed.own_cpu - opened.own_cpu);
    result.other_cpus = sampled > 0 ? std::max(0.0, others / sampled) : 0;
    if (opened.usage.context_switches >= 0 && closed.usage.context_switches >= 0)
        result.server_context_switches = static_cast<long long>(std::max(
            0.0,
            static_cast<double>(closed.usage.context_switches - opened.usage.context_switches) *
                scale));
}

}  // namespace

// ---- the run ----------------------------------------------------------------------

namespace {

// Puts this thread back on every CPU it may use when the run ends, however it ends.
class AffinityRestorer {
public:
    AffinityRestorer() { ::sched_getaffinity(0, sizeof saved_, &saved_); }
    ~AffinityRestorer() { run_on(saved_); }
    AffinityRestorer(const AffinityRestorer&) = delete;
    AffinityRestorer& operator=(const AffinityRestorer&) = delete;

private:
    cpu_set_t saved_;
};

// Starts the server on its CPUs (it inherits them at fork()), then moves this
// thread to the load generator's CPU. False, with the reason in
// result.setup_error, if the server cannot run or never listens.
bool start_server(const BenchOptions& options, const CpuPlan& cpus,
                  std::optional<ServerProcess>& server, BenchResult& result) {
    run_on(cpus.server);
    int port = pick_free_port();
    ServerLimits limits;
    limits.open_files = std::max(limits.open_files, options.load.connections + kSpareDescriptors);
    limits.processes = std::max(limits.processes, options.load.connections + kSpareDescriptors);
    try {
        server.emplace(server_command(options, port), limits);
    } catch (const std::runtime_error& error) {  // not built, not executable
        result.setup_error = error.what();
        return false;
    }
    if (cpus.client_cpu >= 0) run_on_cpu(cpus.client_cpu);
    result.options.load.server = Endpoint{"127.0.0.1", port};
    if (auto problem =
            server->wait_until_listening(result.options.load.server, Deadline(kListenTimeout))) {
        result.setup_error = *problem;
        result.server_output = server->output_tail();
        if (!result.server_output.empty())
            result.setup_error += " (its last output: " + last_line(result.server_output) + ")";
        return false;
    }
    return true;
}

// The load, with the server sampled meanwhile.
void measure(const ServerProcess& server, BenchResult& result) {
    ServerSampler sampler(server);
    std::optional<SyscallCounter> counter;
    if (result.options.count_syscalls) counter.emplace();
    std::optional<long long> calls;
    LoadHooks hooks{[&] {
                        sampler.window_opened();
                        if (counter) counter->start(server.processes());
                    },
                    [&] {
                        sampler.window_closed();
                        if (counter) calls = counter->stop();
                    },
                    [&] { sampler.stop(); }};
    result.load = run_load(result.options.load, hooks);
    sampler.stop();
    take_window_figures(result, sampler);
    if (counter && calls && result.load.answered > 0)
        result.syscalls_per_request =
            static_cast<double>(*calls) / static_cast<double>(result.load.answered);
    else if (counter)
        result.syscalls_not_counted = calls ? "no request was answered" : counter->why();
}

// A server started by hand (--connect), perhaps on another machine: only the
// load is measured. Its CPU and memory are not the checker's to see.
BenchResult measure_remote(BenchResult& result) {
    result.options.load.server = *result.options.connect;
    result.not_pinned = "the server was started by hand (--connect)";
    result.server_cpu_seconds = NAN;
    result.load = run_load(result.options.load);
    return result;
}

// SIGTERM, as a user would stop it; then nothing of it is left.
void stop_server(ServerProcess& server, BenchResult& result) {
    if (!server.running()) {
        result.server_failure = "the server " + server.exit_description() + " during the run";
        result.server_output = server.output_tail();
    } else {
        server.send_signal(SIGTERM);
        if (!server.wait_for_exit(Deadline(kExitTimeout)))
            result.server_output = "(the server was still running " +
                                   fixed(seconds(kExitTimeout), 0) +
                                   " s after SIGTERM and was killed)";
    }
    server.kill_everything();
}

}  // namespace

BenchResult run_bench(const BenchOptions& options) {
    BenchResult result;
    result.options = options;
    if (result.options.model.empty() && !options.command.empty())
        result.options.model =
            options.command.front().substr(options.command.front().rfind('/') + 1);
    try {
        raise_descriptor_limit(options.load.connections + kSpareDescriptors);
    } catch (const std::runtime_error& error) {
        result.not_run = error.what();
        return result;
    }
    if (options.connect) return measure_remote(result);
    AffinityRestorer restore_affinity;
    CpuPlan cpus = plan_cpus(options.pin, options.pin ? busy_cpus_now() : 0);
    result.not_pinned = cpus.not_pinned;
    result.server_cpus = cpus.server_cpus;
    result.client_cpu = cpus.client_cpu;
    std::optional<ServerProcess> server;
    if (!start_server(options, cpus, server, result)) return result;
    measure(*server, result);
    stop_server(*server, result);
    return result;
}

// ---- calibration: what the verifying generator costs -----------------------------

namespace {

std::string describe_load(const BenchOptions& options);  // "closed loop, 100 connections, ..."

double replies_per_second(const LoadResult& load) {
    return load.window_seconds > 0 ? static_cast<double>(load.answered) / load.window_seconds : 0;
}

// One pair: the verifying generator and the minimal client, in the given order.
CalibrationPair calibration_pair(const LoadSpec& spec, bool verifying_first) {
    CalibrationPair pair;
    pair.verifying_first = verifying_first;
    for (int turn = 0; turn < 2; ++turn) {
        if ((turn == 0) == verifying_first) {
            LoadResult load = run_load(spec);
            pair.verifying = replies_per_second(load);
            pair.corrupt_replies = load.corrupt_replies;
        } else {
            pair.minimal = run_minimal_load(spec.server, spec.connections, spec.line_bytes,
                                            spec.warmup, spec.measure)
                               .requests_per_second();
        }
    }
    return pair;
}

}  // namespace

double CalibrationPair::ratio() const { return minimal > 0 ? verifying / minimal : 0; }

Calibration run_calibration(const BenchOptions& options, int pairs) {
    Calibration calibration;
    BenchResult result;  // the server's start and stop, as for a run
    result.options = options;
    try {
        raise_descriptor_limit(options.load.connections + kSpareDescriptors);
    } catch (const std::runtime_error& error) {
        calibration.setup_error = error.what();
        return calibration;
    }
    AffinityRestorer restore_affinity;
    std::optional<ServerProcess> server;
    if (options.connect) {
        result.options.load.server = *options.connect;
    } else if (!start_server(options, plan_cpus(options.pin, options.pin ? busy_cpus_now() : 0),
                             server, result)) {
        calibration.setup_error = result.setup_error;
        return calibration;
    }
    // The order alternates, so that neither client always meets a warmer server.
    for (int i = 0; i < pairs && (!server || server->running()); ++i)
        calibration.pairs.push_back(calibration_pair(result.options.load, i % 2 == 0));
    if (server) stop_server(*server, result);
    calibration.server_failure = result.server_failure;
    return calibration;
}

void print_calibration(std::ostream& out, const BenchOptions& options,
                       const Calibration& calibration) {
    out << "calibrate " << options.model << ": " << describe_load(options)
        << "; the verifying load generator and a minimal client (no verification, no latency "
           "recording) run in turn against one server\n";
    if (!calibration.setup_error.empty()) {
        out << "  did not start: " << calibration.setup_error << "\n";
        return;
    }
    std::vector<double> ratios;
    for (std::size_t i = 0; i < calibration.pairs.size(); ++i) {
        const CalibrationPair& pair = calibration.pairs[i];
        out << "  pair " << i + 1
            << (pair.verifying_first ? " (verifying first)" : " (minimal first)  ")
            << "   verifying " << format_count(pair.verifying) << " requests/s   minimal "
            << format_count(pair.minimal) << " requests/s   " << fixed(pair.ratio(), 2) << "x"
            << (pair.corrupt_replies > 0 ? "   CORRUPT replies" : "") << "\n";
        if (pair.minimal > 0) ratios.push_back(pair.ratio());
    }
    if (!calibration.server_failure.empty()) out << "  " << calibration.server_failure << "\n";
    if (ratios.empty()) {
        out << "  no complete pair: nothing to compare\n";
        return;
    }
    Spread spread = spread_of(ratios);
    out << "  the verifying generator reached " << fixed(spread.median, 2)
        << "x the minimal client's throughput (median of " << ratios.size() << " pairs, spread "
        << fixed(spread.lowest, 2) << "x-" << fixed(spread.highest, 2) << "x); the goal is "
        << fixed(kCalibrationGoal, 2)
        << "x: " << (spread.median >= kCalibrationGoal ? "met" : "NOT met") << "\n";
}

namespace {

int run_calibrate_command(BenchCommandLine& command_line) {
    BenchOptions& options = command_line.options;
    if (options.load.mode != LoadMode::ClosedLoop || options.load.pipeline != 1) {
        std::cerr
            << "checker: bench: --calibrate compares closed loops with one line in flight per "
               "connection: drop --churn, --rate and --pipeline\n";
        return 2;
    }
    if (options.model.empty())
        options.model = options.command.front().substr(options.command.front().rfind('/') + 1);
    Calibration calibration = run_calibration(options, command_line.calibrate);
    print_calibration(std::cout, options, calibration);
    if (!calibration.setup_error.empty()) return 2;
    bool corrupt =
        std::any_of(calibration.pairs.begin(), calibration.pairs.end(),
                    [](const CalibrationPair& pair) { return pair.corrupt_replies > 0; });
    return corrupt || !calibration.server_failure.empty() ? 1 : 0;
}

}  // namespace

int run_bench_command(BenchCommandLine& command_line) {
    BenchOptions& options = command_line.options;
    if (!command_line.connect.empty()) {
        options.connect = parse_endpoint(command_line.connect);
        if (!options.connect || !options.command.empty()) {
            std::cerr << "checker: bench: --connect wants HOST:PORT (e.g. 192.0.2.7:8080) and no "
                         "server command\n";
            return 2;
        }
        if (options.model.empty()) options.model = command_line.connect;
    } else if (options.command.empty()) {
        std::cerr << "checker: bench: no server given: put its command after --, or --connect "
                     "HOST:PORT\n";
        return 2;
    }
    if (options.load.active > 0 &&
        (command_line.churn || options.load.active > options.load.connections)) {
        std::cerr << "checker: bench: --active N loads N of the --connections and holds the rest "
                     "idle: N may not exceed --connections, and churn has no idle connections\n";
        return 2;
    }
    if (command_line.churn) options.load.mode = LoadMode::Churn;
    else if (options.load.rate > 0) options.load.mode = LoadMode::OpenLoop;
    auto to_duration = [](double s) {
        return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
    };
    options.load.measure = to_duration(command_line.duration);
    options.load.warmup = to_duration(command_line.warmup);
    options.load.stall_limit = to_duration(command_line.stall);
    options.pin = !command_line.no_pin;
    options.count_syscalls = command_line.syscalls;
    try {
        if (command_line.calibrate > 0) return run_calibrate_command(command_line);
        BenchResult result = run_bench(options);
        if (command_line.brief) std::cout << summary_line(result) << std::endl;
        else print_bench(std::cout, result);
        if (!command_line.csv.empty()) append_csv(command_line.csv, result);
        if (!command_line.json.empty()) write_json(command_line.json, result);
        std::string status = result.status();
        if (status == "not run" || status == "did not start") return 2;
        return status == "corrupt" || status == "server died" ? 1 : 0;
    } catch (const std::exception& error) {
        std::cerr << "checker: bench: " << error.what() << "\n";
        return 2;
    }
}

// ---- derived figures ----------------------------------------------------------------

double BenchResult::requests_per_second() const {
    return load.window_seconds > 0 ? static_cast<double>(load.answered) / load.window_seconds : 0;
}

double BenchResult::per_connection_rate(std::uint64_t replies) const {
    return load.window_seconds > 0 ? static_cast<double>(replies) / load.window_seconds : 0;
}

double BenchResult::server_cpu_share() const {
    return load.window_seconds > 0 ? server_cpu_seconds / load.window_seconds : 0;
}

double BenchResult::client_cpu_share() const {
    return load.window_seconds > 0 ? load.client_cpu_seconds / load.window_seconds : 0;
}

double BenchResult::cpu_us_per_request() const {
    return load.answered > 0 ? server_cpu_seconds * 1e6 / static_cast<double>(load.answered) : NAN;
}

bool BenchResult::all_served() const {
    if (options.load.mode == LoadMode::Churn) return load.answered > 0 && load.unanswered == 0;
    return load.served == options.load.connections;
}

bool BenchResult::machine_busy() const { return other_cpus > kBusyMachine; }

bool BenchResult::client_bound() const {
    return client_cpu_share() >= kSaturated &&
           server_cpu_share() < kSaturated * std::max(1, server_cpus);
}

std::string BenchResult::status() const {
    if (!not_run.empty()) return "not run";
    if (!setup_error.empty()) return "did not start";
    if (!server_failure.empty()) return "server died";
    if (load.corrupt_replies > 0) return "corrupt";
    if (!all_served()) return "partial";
    return "ok";
}

std::string BenchResult::connections_note() const {
    if (!not_run.empty()) return not_run;
    if (!setup_error.empty()) return setup_error;
    std::string note;
    auto add = [&](long long count, const std::string& what) {
        if (count > 0) note += "; " + format_count(static_cast<double>(count)) + " " + what;
    };
    const LoadSpec& spec = options.load;
    if (spec.mode == LoadMode::Churn) {
        add(load.refused, "connection attempts refused or closed unanswered");
        add(static_cast<long long>(load.unanswered), "requests unanswered");
    } else if (!all_served()) {
        note = "served " + format_count(load.served) + " of " + format_count(spec.connections) +
               " connections";
        add(load.refused, "refused or closed unanswered");
        add(load.waiting, "connected but never answered");
        add(load.starved, "answered once, then starved");
        add(load.still_connecting, "still connecting (listen backlog full)");
        add(spec.connections - load.opened, "not attempted (" + load.ramp_stopped + ")");
        add(load.closed_after_reply, "closed by the server");
    }
    if (!server_failure.empty()) note += "; " + server_failure;
    if (load.corrupt_replies > 0)
        note += "; " + format_count(static_cast<double>(load.corrupt_replies)) + " corrupt replies";
    if (client_bound()) note += "; client-bound: the load generator's CPU was the limit";
    if (machine_busy())
        note += "; the machine was busy (other processes: " + fixed(other_cpus, 1) + " CPUs)";
    return note.rfind("; ", 0) == 0 ? note.substr(2) : note;
}

// ---- formatting -----------------------------------------------------------------------

std::string format_count(double value) {
    if (std::isnan(value)) return "-";
    char digits[32];
    std::snprintf(digits, sizeof digits, "%.0f", value);
    std::string_view number = digits;
    std::string text;
    if (number.front() == '-') {
        text += '-';
        number.remove_prefix(1);
    }
    for (std::size_t i = 0; i < number.size(); ++i) {
        if (i > 0 && (number.size() - i) % 3 == 0) text += ',';
        text += number[i];
    }
    return text;
}

std::string format_latency(double ns) {
    char text[32];
    if (std::isnan(ns)) return "-";
    if (ns < 1e3) std::snprintf(text, sizeof text, "%.0f ns", ns);
    else if (ns < 1e5) std::snprintf(text, sizeof text, "%.1f µs", ns / 1e3);
    else if (ns < 1e6) std::snprintf(text, sizeof text, "%.0f µs", ns / 1e3);
    else if (ns < 1e8) std::snprintf(text, sizeof text, "%.2f ms", ns / 1e6);
    else if (ns < 1e9) std::snprintf(text, sizeof text, "%.0f ms", ns / 1e6);
    else std::snprintf(text, sizeof text, "%.2f s", ns / 1e9);
    return text;
}

std::string format_bytes(double bytes) {
    char text[32];
    if (bytes < 1024) std::snprintf(text, sizeof text, "%.0f B", bytes);
    else if (bytes < 1024 * 1024) std::snprintf(text, sizeof text, "%.0f KiB", bytes / 1024);
    else if (bytes < 1024.0 * 1024 * 1024)
        std::snprintf(text, sizeof text, "%.1f MiB", bytes / 1024 / 1024);
    else std::snprintf(text, sizeof text, "%.2f GiB", bytes / 1024 / 1024 / 1024);
    return text;
}

namespace {

std::string describe_load(const BenchOptions& options) {
    const LoadSpec& spec = options.load;
    std::string text =
        std::string(mode_name(spec.mode)) + ", " + format_count(spec.connections) +
        (spec.mode == LoadMode::Churn ? " concurrent clients"
         : spec.connections == 1      ? " connection"
                                      : " connections") +
        (spec.active > 0 ? " (" + format_count(spec.active) + " active, " +
                               format_count(spec.connections - spec.active) + " idle)"
                         : std::string()) +
        ", " + format_count(static_cast<double>(spec.line_bytes)) + "-byte lines";
    if (spec.mode == LoadMode::ClosedLoop && spec.pipeline > 1)
        text += ", pipeline " + std::to_string(spec.pipeline);
    if (spec.mode == LoadMode::OpenLoop)
        text += ", " + format_count(spec.rate) + " requests/s scheduled";
    if (options.delay_us > 0) text += ", --delay-us " + std::to_string(options.delay_us);
    if (options.compute_us > 0) text += ", --compute-us " + std::to_string(options.compute_us);
    return text;
}

double latency_us(const BenchResult& result, double percentile) {
    return static_cast<double>(result.load.latency_ns.percentile(percentile)) / 1e3;
}

}  // namespace

namespace {
void print_server_figures(std::ostream& out, const BenchResult& r);     // CPU, memory, tasks
void print_generator_figures(std::ostream& out, const BenchResult& r);  // and the verdicts
}  // namespace

void print_bench(std::ostream& out, const BenchResult& r) {
    const LoadResult& load = r.load;
    out << "bench " << r.options.model
        << (r.options.scenario.empty() ? "" : " (" + r.options.scenario + ")") << ": "
        << describe_load(r.options) << "\n";
    if (!r.not_run.empty() || !r.setup_error.empty()) {
        out << "  " << r.status() << ": " << r.connections_note() << "\n";
        return;
    }
    char line[512];
    std::snprintf(
        line, sizeof line,
        "  window        %.2f s measured, after %.2f s of ramp-in and %.2f s of warm-up\n",
        load.window_seconds, load.ramp_seconds, seconds(r.options.load.warmup));
    out << line;
    std::string note = r.connections_note();
    if (r.options.load.mode == LoadMode::Churn)
        out << "  connections   " << format_count(static_cast<double>(load.opened))
            << " opened, one request each\n";
    else
        out << "  connections   "
            << (note.empty() || r.all_served()
                    ? "all " + format_count(r.options.load.connections) + " served"
                    : note)
            << "\n";
    out << "  throughput    " << format_count(r.requests_per_second())
        << (r.options.load.mode == LoadMode::Churn ? " connections/s" : " requests/s") << " ("
        << format_bytes(static_cast<double>(load.reply_bytes) / std::max(load.window_seconds, 1e-9))
        << "/s each way)\n";
    out << "  fairness      per connection: min "
        << format_count(r.per_connection_rate(load.per_connection_min)) << ", median "
        << format_count(r.per_connection_rate(load.per_connection_median)) << ", max "
        << format_count(r.per_connection_rate(load.per_connection_max))
        << (r.options.load.mode == LoadMode::Churn ? " connections/s" : " requests/s");
    if (load.unserved_in_window > 0)
        out << "; " << format_count(load.unserved_in_window) << " of "
            << format_count(r.options.load.loaded_connections()) << " had no reply in the window";
    out << "\n";
    out << "  latency       p50 "
        << format_latency(static_cast<double>(load.latency_ns.percentile(50))) << "   p90 "
        << format_latency(static_cast<double>(load.latency_ns.percentile(90))) << "   p99 "
        << format_latency(static_cast<double>(load.latency_ns.percentile(99))) << "   p99.9 "
        << format_latency(static_cast<double>(load.latency_ns.percentile(99.9))) << "   max "
        << format_latency(static_cast<double>(load.latency_ns.max())) << "\n";
    if (load.refused > 0 && !load.first_connection_error.empty())
        out << "                (the first refused connection: " << load.first_connection_error
            << ")\n";
    if (load.unanswered > 0)
        out << "                (" << format_count(static_cast<double>(load.unanswered))
            << " requests never answered are counted at the age they reached)\n";
    if (r.options.load.mode == LoadMode::OpenLoop)
        out << "  schedule      the load generator sent "
            << format_latency(static_cast<double>(load.send_lag_ns.percentile(99)))
            << " late or less (p99)\n";
    if (r.options.count_syscalls)
        out << "  system calls  "
            << (std::isnan(r.syscalls_per_request)
                    ? "not counted: " + r.syscalls_not_counted
                    : fixed(r.syscalls_per_request, 2) +
                          " per request, all the server's threads and processes (strace -c -f "
                          "over the window; tracing slows the server down, so the other figures "
                          "of this run are not comparable)")
            << "\n";
    if (r.options.connect) {
        out << "  server        at " << r.options.connect->str()
            << ", started by hand: its CPU and memory are not measured\n";
    } else {
        print_server_figures(out, r);
    }
    print_generator_figures(out, r);
}

namespace {

void print_server_figures(std::ostream& out, const BenchResult& r) {
    const LoadResult& load = r.load;
    out << "  server        CPU " << fixed(r.server_cpu_seconds, 2) << " s ("
        << percent(r.server_cpu_share()) << " of "
        << (r.server_cpus == 1 ? "its CPU" : "one CPU; it may use " + std::to_string(r.server_cpus))
        << "), " << fixed(r.cpu_us_per_request(), 1) << " µs per request";
    if (r.server_context_switches >= 0 && load.answered > 0)
        out << ", "
            << fixed(static_cast<double>(r.server_context_switches) /
                         static_cast<double>(load.answered),
                     2)
            << " context switches per request";
    out << "\n                peak "
        << format_bytes(static_cast<double>(r.server_peak.anon_memory_bytes))
        << " anonymous memory (" << format_bytes(static_cast<double>(r.server_peak.memory_bytes))
        << " with program text; Pss), " << r.server_peak.processes
        << (r.server_peak.processes == 1 ? " process, " : " processes, ") << r.server_peak.threads
        << (r.server_peak.threads == 1 ? " thread, " : " threads, ") << r.server_peak.descriptors
        << " descriptors\n";
}

void print_generator_figures(std::ostream& out, const BenchResult& r) {
    const LoadResult& load = r.load;
    out << "  generator     CPU " << percent(r.client_cpu_share()) << " of its CPU"
        << (r.client_cpu >= 0
                ? " (CPU " + std::to_string(r.client_cpu) + "; the server on the others)"
                : " (" + (r.not_pinned.empty() ? std::string("not pinned") : r.not_pinned) + ")")
        << (r.client_bound() ? ": CLIENT-BOUND, the load generator was the limit, not the server"
                             : "")
        << "\n";
    out << "  machine       other processes used " << fixed(r.other_cpus, 2) << " CPUs meanwhile"
        << (r.machine_busy() ? ": the machine was busy, these figures are unreliable" : "") << "\n";
    if (load.corrupt_replies > 0)
        out << "  replies       CORRUPT: "
            << format_count(static_cast<double>(load.corrupt_replies))
            << " replies differed from their requests. First: " << load.corruption << "\n";
    else
        out << "  replies       " << format_count(static_cast<double>(load.answered))
            << " verified byte for byte\n";
    if (!r.server_failure.empty()) out << "  SERVER        " << r.server_failure << "\n";
    if (!r.server_output.empty()) out << "  its output    " << last_line(r.server_output) << "\n";
}

}  // namespace

std::string summary_line(const BenchResult& r) {
    std::string text = r.options.model + ": ";
    if (!r.not_run.empty() || !r.setup_error.empty())
        return text + r.status() + ": " + r.connections_note();
    text += format_count(r.requests_per_second()) +
            (r.options.load.mode == LoadMode::Churn ? " conn/s" : " req/s") + ", p99 " +
            format_latency(static_cast<double>(r.load.latency_ns.percentile(99))) + ", " +
            fixed(r.cpu_us_per_request(), 1) + " CPU µs/req, generator " +
            percent(r.client_cpu_share());
    std::string note = r.connections_note();
    return note.empty() ? text : text + " [" + note + "]";
}

// ---- CSV and JSON ---------------------------------------------------------------------

const std::vector<std::string>& csv_columns() {
    static const std::vector<std::string> columns = {"model",
                                                     "scenario",
                                                     "mode",
                                                     "connections",
                                                     "active",
                                                     "line_bytes",
                                                     "pipeline",
                                                     "rate",
                                                     "delay_us",
                                                     "compute_us",
                                                     "workers",
                                                     "window_s",
                                                     "warmup_s",
                                                     "opened",
                                                     "served",
                                                     "refused",
                                                     "waiting",
                                                     "still_connecting",
                                                     "answered",
                                                     "unanswered",
                                                     "requests_per_s",
                                                     "per_connection_min_per_s",
                                                     "per_connection_median_per_s",
                                                     "per_connection_max_per_s",
                                                     "unserved_in_window",
                                                     "p50_us",
                                                     "p90_us",
                                                     "p99_us",
                                                     "p999_us",
                                                     "max_us",
                                                     "mean_us",
                                                     "server_cpu_s",
                                                     "server_cpu_share",
                                                     "cpu_us_per_request",
                                                     "syscalls_per_request",
                                                     "memory_bytes",
                                                     "anon_memory_bytes",
                                                     "processes",
                                                     "threads",
                                                     "descriptors",
                                                     "context_switches",
                                                     "client_cpu_share",
                                                     "client_bound",
                                                     "server_cpus",
                                                     "client_cpu",
                                                     "other_cpus",
                                                     "corrupt_replies",
                                                     "status",
                                                     "note"};
    return columns;
}

namespace {

std::vector<std::string> csv_values(const BenchResult& r) {
    const LoadSpec& spec = r.options.load;
    const LoadResult& load = r.load;
    bool measured = r.setup_error.empty() && r.not_run.empty();
    auto number = [&](double value, int decimals) {
        return measured && !std::isnan(value) ? fixed(value, decimals) : std::string();
    };
    return {r.options.model,
            r.options.scenario,
            mode_name(spec.mode),
            std::to_string(spec.connections),
            std::to_string(spec.loaded_connections()),
            std::to_string(spec.line_bytes),
            std::to_string(spec.pipeline),
            fixed(spec.rate, 0),
            std::to_string(r.options.delay_us),
            std::to_string(r.options.compute_us),
            r.options.workers >= 0 ? std::to_string(r.options.workers) : std::string(),
            number(load.window_seconds, 3),
            fixed(seconds(spec.warmup), 2),
            std::to_string(load.opened),
            std::to_string(load.served),
            std::to_string(load.refused),
            std::to_string(load.waiting),
            std::to_string(load.still_connecting),
            std::to_string(load.answered),
            std::to_string(load.unanswered),
            number(r.requests_per_second(), 1),
            number(r.per_connection_rate(load.per_connection_min), 1),
            number(r.per_connection_rate(load.per_connection_median), 1),
            number(r.per_connection_rate(load.per_connection_max), 1),
            std::to_string(load.unserved_in_window),
            number(latency_us(r, 50), 1),
            number(latency_us(r, 90), 1),
            number(latency_us(r, 99), 1),
            number(latency_us(r, 99.9), 1),
            number(static_cast<double>(load.latency_ns.max()) / 1e3, 1),
            number(load.latency_ns.mean() / 1e3, 1),
            number(r.server_cpu_seconds, 3),
            number(r.server_cpu_share(), 3),
            number(r.cpu_us_per_request(), 2),
            number(r.syscalls_per_request, 2),
            std::to_string(r.server_peak.memory_bytes),
            std::to_string(r.server_peak.anon_memory_bytes),
            std::to_string(r.server_peak.processes),
            std::to_string(r.server_peak.threads),
            std::to_string(r.server_peak.descriptors),
            std::to_string(r.server_context_switches),
            number(r.client_cpu_share(), 3),
            r.client_bound() ? "yes" : "no",
            std::to_string(r.server_cpus),
            std::to_string(r.client_cpu),
            number(r.other_cpus, 2),
            std::to_string(load.corrupt_replies),
            r.status(),
            r.connections_note()};
}

std::string csv_field(const std::string& value) {
    if (value.find_first_of(",\"\n") == std::string::npos) return value;
    std::string quoted = "\"";
    for (char c : value)
        quoted += c == '"' ? std::string("\"\"") : c == '\n' ? std::string(" ") : std::string(1, c);
    return quoted + "\"";
}

}  // namespace

void append_csv(const std::string& path, const BenchResult& result) {
    bool is_new = !std::ifstream(path).good() ||
                  std::ifstream(path).peek() == std::ifstream::traits_type::eof();
    std::ofstream out(path, std::ios::app);
    if (!out) throw std::runtime_error("cannot write " + path);
    auto write_row = [&](const std::vector<std::string>& row) {
        for (std::size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << csv_field(row[i]);
        out << "\n";
    };
    if (is_new) write_row(csv_columns());
    write_row(csv_values(result));
}

void write_json(const std::string& path, const BenchResult& result) {
    std::ofstream out(path);
    if (!out) throw std::runtime_error("cannot write " + path);
    const std::vector<std::string>& columns = csv_columns();
    std::vector<std::string> values = csv_values(result);
    out << "{\n";
    for (std::size_t i = 0; i < columns.size(); ++i) {
        bool is_number =
            !values[i].empty() && values[i].find_first_not_of("0123456789.-") == std::string::npos;
        out << "  " << json_string(columns[i]) << ": "
            << (is_number ? values[i] : json_string(values[i])) << ",\n";
    }
    out << "  \"corruption\": " << json_string(result.load.corruption) << ",\n"
        << "  \"first_connection_error\": " << json_string(result.load.first_connection_error)
        << ",\n"
        << "  \"server_output\": " << json_string(result.server_output) << "\n}\n";
}

}  // namespace checker::bench
