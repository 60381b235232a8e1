#include "box.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>

#include "proc_files.hpp"

namespace checker {

namespace {

constexpr int kMaxClones = 16;
constexpr int kFilesPerTmpfs = 20000;  // nr_inodes: how many files a job may make

bool inside(const std::string& path, const std::string& dir) {
    if (dir == "/") return true;
    return path == dir || path.rfind(dir + "/", 0) == 0;
}

// Directories a job needs to run a compiler at all: never hidden, whatever
// --out or --submissions say.
bool holds_the_system(const std::string& dir) {
    for (const char* system : {"/usr", "/etc", "/proc", "/dev", "/sys", "/bin", "/lib", "/lib64"})
        if (inside(system, dir)) return true;
    return false;
}

std::string tmpfs_options(long long bytes, const char* mode) {
    return "size=" + std::to_string(bytes) + ",nr_inodes=" + std::to_string(kFilesPerTmpfs) +
           ",mode=" + mode;
}

int set_read_only(int dirfd, const char* path, unsigned flags, bool read_only) {
    mount_attr attr{};
    (read_only ? attr.attr_set : attr.attr_clr) = MOUNT_ATTR_RDONLY;
    return ::mount_setattr(dirfd, path, flags, &attr, sizeof attr);
}

bool exists(const char* path) { return ::access(path, F_OK) == 0; }

uid_t real_uid_of(const std::string& pid) {
    std::ifstream status("/proc/" + pid + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("Uid:", 0) == 0) return static_cast<uid_t>(std::stoul(line.substr(4)));
    return static_cast<uid_t>(-1);
}

}  // namespace

void FileView::add(Kind kind, const std::string& path, const std::string& what, int slot,
                   const std::string& data, bool optional) {
    steps_.push_back({kind, path, data, slot, optional, what + " " + path});
}

FileView::FileView(const Spec& spec) {
    // The sources first, cloned while the whole machine is still in view.
    struct Source {
        std::string path;
        std::string at;
        bool writable;
        int slot;
    };
    std::vector<Source> sources{{spec.tree, spec.tree, true, 0}};
    for (const std::string& path : spec.writable) sources.push_back({path, path, true, 0});
    for (const Shown& shown : spec.shown) sources.push_back({shown.source, shown.at, false, 0});
    if (sources.size() > kMaxClones) throw std::length_error("FileView: too many paths shown");
    for (Source& source : sources) {
        source.slot = clones_++;
        add(source.writable ? Kind::Clone : Kind::ReadOnlyClone, source.path, "clone", source.slot);
    }
    // Then the machine read-only, but for the cgroups the checker makes for
    // each server (root's only: a job cannot write them).
    add(Kind::ReadOnlyAll, "/", "make read-only");
    add(Kind::WritableAgain, "/sys/fs/cgroup", "make writable", -1, "", true);
    // A private scratch directory, the only one a job may write besides its tree.
    const std::vector<std::string> scratch{"/tmp", "/var/tmp", "/dev/shm"};
    add(Kind::Tmpfs, "/tmp", "mount tmpfs on", -1, tmpfs_options(spec.scratch_bytes, "1777"));
    for (const std::string& also : {scratch[1], scratch[2]})
        if (exists(also.c_str())) add(Kind::Bind, also, "bind /tmp on", -1, "/tmp");
    // What must not be seen, covered by an empty directory.
    std::vector<std::string> covered = scratch;
    for (const std::string& dir : spec.hidden) {
        bool already = false;
        for (const std::string& cover : covered) already = already || inside(dir, cover);
        if (already || holds_the_system(dir) || !exists(dir.c_str())) continue;
        add(Kind::Tmpfs, dir, "mount tmpfs on", -1, tmpfs_options(1 << 20, "0755"));
        covered.push_back(dir);
    }
    // The sources again, each at its own path (made where a cover hid it).
    for (const Source& source : sources) {
        for (std::size_t slash = source.at.find('/', 1); slash != std::string::npos;
             slash = source.at.find('/', slash + 1))
            add(Kind::MakeDir, source.at.substr(0, slash), "make directory");
        struct stat info {};
        bool directory = ::stat(source.path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
        add(directory ? Kind::MakeDir : Kind::MakeFile, source.at, "make mount point");
        add(Kind::Attach, source.at, "attach the clone on", source.slot);
    }
    for (std::size_t i = scratch.size(); i < covered.size(); ++i)
        add(Kind::ReadOnly, covered[i], "make read-only");
    add(Kind::ChangeDir, spec.tree, "change directory to");
}

int FileView::enter(const char** failed) const noexcept {
    static const char* const kUnshare = "unshare the mount and IPC namespaces";
    static const char* const kPrivate = "make / private";
    if (::unshare(CLONE_NEWNS | CLONE_NEWIPC) < 0) {
        if (failed) *failed = kUnshare;
        return errno;
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) {
        if (failed) *failed = kPrivate;
        return errno;
    }
    std::array<int, kMaxClones> clone{};
    for (const Step& step : steps_) {
        const char* path = step.path.c_str();
        int result = 0;
        switch (step.kind) {
        case Kind::Clone:
        case Kind::ReadOnlyClone:
            result = clone[step.slot] =
                ::open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
            if (result >= 0 && step.kind == Kind::ReadOnlyClone)
                result = set_read_only(clone[step.slot], "", AT_EMPTY_PATH, true);
            break;
        case Kind::ReadOnlyAll: result = set_read_only(AT_FDCWD, path, AT_RECURSIVE, true); break;
        case Kind::WritableAgain:
            result = set_read_only(AT_FDCWD, path, AT_RECURSIVE, false);
            break;
        case Kind::Tmpfs:
            result = ::mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, step.data.c_str());
            break;
        case Kind::Bind:
            result = ::mount(step.data.c_str(), path, nullptr, MS_BIND, nullptr);
            break;
        case Kind::MakeDir:
            if (!exists(path)) result = ::mkdir(path, 0755);
            break;
        case Kind::MakeFile:
            if (!exists(path)) {
                result = ::open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
                if (result >= 0) ::close(result);
            }
            break;
        case Kind::Attach:
            result = ::move_mount(clone[step.slot], "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH);
            break;
        case Kind::ReadOnly: result = set_read_only(AT_FDCWD, path, 0, true); break;
        case Kind::ChangeDir: result = ::chdir(path); break;
        }
        if (result < 0 && !(step.optional && errno == ENOENT)) {
            if (failed) *failed = step.what.c_str();
            return errno;
        }
    }
    return 0;
}

int become_user(uid_t uid) noexcept {
    if (::setgroups(0, nullptr) < 0 || ::setresgid(uid, uid, uid) < 0 ||
        ::setresuid(uid, uid, uid) < 0)
        return errno;
    return 0;
}

void enter_private_mounts() {
    if (::unshare(CLONE_NEWNS) < 0)
        throw std::system_error(errno, std::generic_category(), "unshare(CLONE_NEWNS)");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
        throw std::system_error(errno, std::generic_category(), "mount / private");
}

void mount_private_tmpfs(const std::string& dir, uid_t uid, long long bytes) {
    std::string options = tmpfs_options(bytes, "0700") + ",uid=" + std::to_string(uid) +
                          ",gid=" + std::to_string(uid);
    if (::mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) < 0)
        throw std::system_error(errno, std::generic_category(), "mount tmpfs on " + dir);
}

BoxSupport probe_box(bool wanted) {
    if (!wanted) return {BoxLevel::None, "--no-box"};
    if (::geteuid() != 0) return {BoxLevel::None, "the batch does not run as root"};
    char dir[] = "/tmp/iolab-box-probe-XXXXXX";
    if (!::mkdtemp(dir)) return {BoxLevel::None, std::string("mkdtemp: ") + std::strerror(errno)};
    FileView::Spec spec;
    spec.tree = dir;
    spec.scratch_bytes = 1 << 20;
    FileView view(spec);
    struct Answer {
        int uid_error = -1;
        int view_error = -1;
        char failed[160] = "";
    };
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) < 0) {
        ::rmdir(dir);
        return {BoxLevel::None, std::string("pipe2: ") + std::strerror(errno)};
    }
    pid_t child = ::fork();
    if (child == 0) {
        Answer answer;
        const char* failed = "";
        answer.view_error = view.enter(&failed);
        std::strncpy(answer.failed, failed, sizeof answer.failed - 1);
        answer.uid_error = become_user(kFirstBoxUid);
        [[maybe_unused]] ssize_t ignored = ::write(pipe_fds[1], &answer, sizeof answer);
        ::_exit(0);
    }
    ::close(pipe_fds[1]);
    Answer answer;
    bool read_all = child > 0 && ::read(pipe_fds[0], &answer, sizeof answer) == sizeof answer;
    ::close(pipe_fds[0]);
    if (child > 0)
        while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
        }
    ::rmdir(dir);
    if (!read_all) return {BoxLevel::None, "the probe of the box did not answer"};
    if (answer.uid_error != 0)
        return {BoxLevel::None, std::string("setresuid: ") + std::strerror(answer.uid_error)};
    if (answer.view_error != 0)
        return {BoxLevel::UserOnly,
                std::string(answer.failed) + ": " + std::strerror(answer.view_error)};
    return {BoxLevel::Full, ""};
}

void kill_every_process_of(uid_t uid) {
    pid_t killer = ::fork();
    if (killer == 0) {
        // As that user, kill(-1) reaches exactly that user's processes, all
        // at once: a fork racing with it either finishes first (and its
        // child is killed too) or fails.
        if (become_user(uid) == 0) ::kill(-1, SIGKILL);
        ::_exit(0);
    }
    if (killer > 0)
        while (::waitpid(killer, nullptr, 0) < 0 && errno == EINTR) {
        }
    // Those that were our children (the batch is a subreaper) are reaped here.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (;;) {
        bool left = false;
        for (const ProcEntry& entry : all_processes()) {
            if (real_uid_of(std::to_string(entry.pid)) != uid) continue;
            bool ours = entry.parent == ::getpid();
            if (ours) ::waitpid(entry.pid, nullptr, WNOHANG);
            left = left || ours || entry.state != 'Z';  // another's zombie is its parent's to reap
        }
        if (!left || std::chrono::steady_clock::now() > deadline) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

}  // namespace checker
