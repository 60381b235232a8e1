// checker bench: what the server and every process it started use, from /proc
// (ServerProcess::resource_usage, declared in server_process.hpp).
#include "server_process.hpp"

#include "containment.hpp"
#include "proc_files.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace checker {

namespace {

// A whole /proc file (they are small), or "" if the process is gone.
std::string read_proc_file(const std::string& path) {
    iolab::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::string text;
    if (!fd) return text;
    char buffer[4096];
    for (ssize_t got; (got = ::read(fd.get(), buffer, sizeof buffer)) > 0;)
        text.append(buffer, static_cast<std::size_t>(got));
    return text;
}

// The number after `key` in a "Key:   value" file such as status or smaps_rollup.
long long proc_field(const std::string& text, const char* key) {
    std::size_t at = text.find(key);
    return at == std::string::npos ? -1 : std::atoll(text.c_str() + at + std::strlen(key));
}

int directory_entries(const std::string& path) {
    DIR* dir = ::opendir(path.c_str());
    if (!dir) return 0;
    int count = 0;
    while (dirent* entry = ::readdir(dir))
        if (entry->d_name[0] != '.') ++count;
    ::closedir(dir);
    return count;
}

// Threads beyond which a process is not read thread by thread: reading 10,000
// threads' files takes longer than a measured window lasts.
constexpr int kThreadsReadOneByOne = 256;

// The sum over a process's threads alive now of `field` of each one's `file`.
long long sum_over_threads(pid_t pid, const char* file, long long (*field)(const std::string&)) {
    std::string tasks = "/proc/" + std::to_string(pid) + "/task";
    DIR* dir = ::opendir(tasks.c_str());
    if (!dir) return 0;
    long long total = 0;
    while (dirent* entry = ::readdir(dir))
        if (entry->d_name[0] != '.')
            total += field(read_proc_file(tasks + "/" + entry->d_name + "/" + file));
    ::closedir(dir);
    return total;
}

// CPU time of a process's threads alive now, in nanoseconds, from schedstat:
// /proc/PID/stat counts in clock ticks and rounds each process down to 10 ms,
// which loses everything a young fork child did.
long long thread_cpu_ns(pid_t pid) {
    return sum_over_threads(pid, "schedstat",
                            [](const std::string& text) { return std::atoll(text.c_str()); });
}

long long thread_context_switches(pid_t pid) {
    return sum_over_threads(pid, "status", [](const std::string& status) {
        return std::max(0LL, proc_field(status, "\nvoluntary_ctxt_switches:")) +
               std::max(0LL, proc_field(status, "nonvoluntary_ctxt_switches:"));
    });
}

}  // namespace

ResourceUsage ServerProcess::resource_usage(bool precise) const {
    static const double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
    static const long long page_bytes = ::sysconf(_SC_PAGESIZE);
    ResourceUsage usage;
    // The cgroup lists the server's processes directly; walking /proc is the fallback.
    std::vector<pid_t> pids = cgroup_.empty() ? processes() : cgroup_members(cgroup_);
    std::vector<std::pair<pid_t, int>> alive;  // and their threads

    // First the CPU times, all close together in time.
    for (pid_t pid : pids) {
        std::string stat = read_proc_file("/proc/" + std::to_string(pid) + "/stat");
        std::size_t close_paren = stat.rfind(')');
        if (close_paren == std::string::npos) continue;  // gone meanwhile
        // After the command name: state ppid ... utime(14) stime cutime cstime ... num_threads(20).
        std::istringstream fields(stat.substr(close_paren + 2));
        std::vector<std::string> field(18);
        for (std::string& each : field) fields >> each;
        if (field[0] == "Z") continue;  // a zombie's time is its parent's once reaped
        int threads = std::atoi(field[17].c_str());
        // Its own time (ended threads included) and that of the children it reaped.
        double own =
            (std::atof(field[11].c_str()) + std::atof(field[12].c_str())) / ticks_per_second;
        double reaped_children =
            (std::atof(field[13].c_str()) + std::atof(field[14].c_str())) / ticks_per_second;
        if (precise &&
            threads <= kThreadsReadOneByOne)  // to the nanosecond, unless ended threads weigh more
            own = std::max(own, static_cast<double>(thread_cpu_ns(pid)) * 1e-9);
        usage.cpu_seconds += own + reaped_children;
        usage.threads += threads;
        ++usage.processes;
        alive.emplace_back(pid, threads);
    }

    // Then memory, descriptors and context switches.
    if (precise) usage.context_switches = 0;
    for (auto [pid, threads] : alive) {
        std::string dir = "/proc/" + std::to_string(pid);
        std::string rollup = read_proc_file(dir + "/smaps_rollup");
        long long pss_kib = proc_field(rollup, "\nPss:");
        long long anon_kib = proc_field(rollup, "\nPss_Anon:");  // Linux 5.12 and later
        if (pss_kib >= 0) {
            usage.memory_bytes += pss_kib * 1024;
            usage.anon_memory_bytes += (anon_kib >= 0 ? anon_kib : pss_kib) * 1024;
        } else {  // no smaps_rollup (kernel before 4.14): resident pages, shared ones counted in full
            std::istringstream statm(read_proc_file(dir + "/statm"));
            long long size = 0, resident = 0;
            statm >> size >> resident;
            usage.memory_bytes += resident * page_bytes;
            usage.anon_memory_bytes += resident * page_bytes;
        }
        usage.descriptors += directory_entries(dir + "/fd");
        if (precise && usage.context_switches >= 0)
            usage.context_switches = threads <= kThreadsReadOneByOne
                                         ? usage.context_switches + thread_context_switches(pid)
                                         : -1;
    }
    return usage;
}

}  // namespace checker
