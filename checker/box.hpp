// The box of checker batch: each submission is built and graded under a user
// ID of its own, in a view of the files that holds its own tree and little
// else. What one student's code can then reach is its own grade only: not
// another submission, not the solutions, not the results, not the grader.
//
//   user ID        kFirstBoxUid + n for the n-th submission (group the same):
//                  it cannot signal the checker, another student or anything
//                  else on the machine, and kill(-1) as that user ends all it left
//   mount view     a mount namespace of its own (and an IPC namespace): the
//                  machine read-only; its tree writable; a private /tmp (also
//                  /var/tmp and /dev/shm) of bounded size; the kit shown only
//                  in the parts a build needs (no solutions/, no build/ of the
//                  kit, no .git); the submissions, the results and the batch's
//                  own directory shown empty
//
// Who runs what: the batch enters a FileView in the child of each job
// (ServerLimits::view), between fork() and exec(); `make` then drops to the
// submission's user ID, and `checker grade` (root, in the same view) drops to
// it only for the servers it starts (ServerLimits::run_as_uid).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace checker {

// The first of the user IDs the box uses (docs/instructors.md): far above
// any account's, below 2^31 for tools that print them signed.
constexpr uid_t kFirstBoxUid = 1'800'000'000;

// What this machine lets the batch do, found once at its start.
enum class BoxLevel {
    None,      // not root, or --no-box: submissions run as the user running the batch
    UserOnly,  // a user ID each, but the machine's files as they are (no mount namespace)
    Full,      // a user ID each and a view of the files of its own
};

struct BoxSupport {
    BoxLevel level = BoxLevel::None;
    std::string reason;  // why not Full, in words ("" when Full)
};

// One job's view of the files, prepared in the parent and entered in the
// child between fork() and exec(): enter() makes only system calls on strings
// made here, as an async-signal-safe child must.
class FileView {
public:
    struct Shown {
        std::string source;  // a file or a directory of the machine
        std::string at;      // where the job sees it (made if need be)
    };
    struct Spec {
        std::string tree;                     // its own tree: writable, its working directory
        std::vector<Shown> shown;             // shown read-only
        std::vector<std::string> writable;    // shown writable at their own paths (its results)
        std::vector<std::string> hidden;      // directories shown empty and read-only
        long long scratch_bytes = 256 << 20;  // the private /tmp, /var/tmp and /dev/shm, together
    };

    explicit FileView(const Spec& spec);

    // In the child: enters new mount and IPC namespaces and builds the view
    // there. Returns 0, or the errno of the step that failed (then `failed`
    // points to its description).
    int enter(const char** failed = nullptr) const noexcept;

private:
    enum class Kind {
        Clone,
        ReadOnlyClone,
        ReadOnlyAll,
        WritableAgain,
        Tmpfs,
        Bind,
        MakeDir,
        MakeFile,
        Attach,
        ReadOnly,
        ChangeDir
    };
    struct Step {
        Kind kind;
        std::string path;
        std::string data;       // tmpfs options; for Bind, the source
        int slot = -1;          // for Clone and Attach: which clone
        bool optional = false;  // a missing path is skipped, not an error
        std::string what;       // "mount tmpfs on /tmp", for the diagnosis
    };
    void add(Kind kind, const std::string& path, const std::string& what, int slot = -1,
             const std::string& data = "", bool optional = false);

    std::vector<Step> steps_;
    int clones_ = 0;
};

// Drops every privilege to `uid`, its group the same, no supplementary
// groups. Async-signal-safe. Returns 0 or the errno.
int become_user(uid_t uid) noexcept;

// Finds what the machine allows (as root: a user ID of its own, then the
// mount view), by trying both in a child process.
BoxSupport probe_box(bool wanted);

// Mounts a tmpfs of `bytes` on `dir`, owned by `uid` and private to it (mode
// 0700, no set-user-ID programs, no devices). Throws std::system_error.
void mount_private_tmpfs(const std::string& dir, uid_t uid, long long bytes);

// Enters a mount namespace of its own for the calling process, whose mounts
// then stay private to it and its children. Throws std::system_error.
void enter_private_mounts();

// Kills every process of `uid` (kill(-1) as that user: atomic against a
// process that keeps forking) and reaps those that were this process's
// children. Bounded.
void kill_every_process_of(uid_t uid);

}  // namespace checker
