// The machinery behind async/await, in C++20 coroutines and nothing else: a
// Task type, awaitables that register interest with epoll and suspend, timers
// on a heap of deadlines, and a small pool for CPU work. The coro lab's
// server drives it (solutions/coro/server.cpp: the loop, and a coroutine per
// connection that reads like the thread-per-client server).
//
// "Register interest, suspend, resume on readiness": `co_await readable(fd)`
// records the suspended coroutine as the reader of `fd` and asks epoll to
// report `fd` readable; the coroutine returns to whoever resumed it (in the
// end, the loop). When epoll_wait() reports the descriptor, the loop resumes
// that coroutine, which goes on from the co_await as if a blocking recv() had
// returned. Tokio, asio and asyncio are built the same way.
//
// Threads: everything here runs on the loop thread (the thread that built the
// Reactor) except the offload pool's workers, which run only the work handed
// to offload() and never touch a coroutine frame: a coroutine is always
// resumed on the loop thread.
//
// Ownership of a coroutine frame (the heap block holding a coroutine's
// parameters and locals while it is suspended):
//   - a Task returned by a coroutine owns its frame until spawn() takes it;
//     a Task that was never spawned destroys its frame;
//   - once spawned, the Reactor owns the frame. The frame frees itself when
//     the coroutine returns; the Reactor destroys the frames still suspended
//     when it is destroyed, after its loop has stopped and its pool has ended;
//   - while a coroutine waits (for a descriptor, a timer or the pool) the
//     Reactor holds its handle to resume it: destroying the frame then would
//     leave the Reactor a dangling handle, and the loop would resume freed
//     memory. That mistake is stopped at once, with a message (~promise_type).
#pragma once
// OMIT FROM LEVEL 3

#include <sys/epoll.h>

#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_set>
#include <vector>

#include "unique_fd.hpp"

namespace iolab {

class Reactor;

// The return type of a coroutine the Reactor runs. It starts suspended
// (nothing runs until spawn()), and returns nothing: a connection's coroutine
// reports its end by returning.
class Task {
public:
    struct promise_type {
        bool registered = false;  // the Reactor holds the handle to resume it (loop thread)

        Task get_return_object() noexcept { return Task(Handle::from_promise(*this)); }
        std::suspend_always initial_suspend() noexcept { return {}; }
        // The frame frees itself when the coroutine returns.
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        // A failure of one connection is handled inside its coroutine; an
        // exception that escapes is a bug (or a lab's NotImplemented): it
        // goes on to whoever resumed the coroutine, and ends the server.
        void unhandled_exception() { throw; }
        // Forgets the frame in the Reactor; aborts, naming the mistake, if
        // the Reactor still holds it to resume.
        ~promise_type();
    };
    using Handle = std::coroutine_handle<promise_type>;

    Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
    Task& operator=(Task&&) = delete;
    ~Task() {
        if (handle_) handle_.destroy();
    }

    // Gives up the frame (to the Reactor, in spawn()).
    Handle release() noexcept { return std::exchange(handle_, {}); }

private:
    explicit Task(Handle handle) noexcept : handle_(handle) {}
    Handle handle_;
};

// The event loop's state: the epoll set, who waits for which descriptor,
// the timers, the offload pool and the frames it owns. Built, used and
// destroyed on the loop thread (one Reactor per thread at most).
class Reactor {
public:
    using Clock = std::chrono::steady_clock;

    // Creates the epoll set and starts the pool's `offload_threads` workers
    // (0 or less: one per CPU). Throws std::system_error naming the call.
    explicit Reactor(int offload_threads);
    // Stops the pool, then destroys the frames still suspended (their
    // locals' destructors run: sockets close).
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    // The Reactor of the calling thread (the awaitables below find it here).
    static Reactor& current();

    int epoll_fd() const noexcept { return epoll_.get(); }
    int offload_threads() const noexcept { return static_cast<int>(workers_.size()); }

    // Takes the frame of `task` and runs it now, until its first co_await.
    void spawn(Task task);

    // What the loop calls (solutions/coro/server.cpp):
    // epoll_wait()'s timeout: milliseconds until the earliest timer, -1 if none.
    int timeout_ms() const;
    // The coroutine waiting for `fd` to become readable (writable), resumed
    // now. If none waits, the Reactor stops asking epoll for it: a
    // level-triggered report nobody takes would come back at every wait.
    void resume_reader(int fd);
    void resume_writer(int fd);
    // The descriptor the pool makes readable when work is done, and the
    // coroutines whose work is done, resumed.
    int offload_done_fd() const noexcept { return done_signal_.get(); }
    void resume_offloaded();
    // The coroutines whose sleep_for() has expired, resumed.
    void resume_expired_timers();

    // What the awaitables call (loop thread). Each records `waiter` and
    // returns true (suspend), or false when the kernel refused the
    // registration: the coroutine goes on, and its next call fails.
    bool wait_for(int fd, std::uint32_t direction, Task::Handle waiter);
    void start_timer(Clock::time_point when, Task::Handle waiter);
    void start_offload(std::function<void()> work, Task::Handle waiter);
    // `fd` is about to be closed: forget whatever the Reactor knew of it
    // (the number may come back with the next accept()).
    void forget(int fd);

    // For ~promise_type: the frame ends.
    void frame_ended(void* frame) noexcept { frames_.erase(frame); }

private:
    struct Watch {  // one descriptor
        Task::Handle reader, writer;
        std::uint32_t armed = 0;  // what epoll reports for it now (0: not in the set)
    };
    struct Timer {
        Clock::time_point when;
        std::uint64_t order;  // equal deadlines resume in the order they were set
        Task::Handle waiter;
        bool operator>(const Timer& other) const {
            return when != other.when ? when > other.when : order > other.order;
        }
    };
    struct Job {
        std::function<void()> work;
        Task::Handle waiter;
    };

    Watch& watch_of(int fd);
    void resume_waiter(int fd, std::uint32_t direction);
    void arm(int fd, Watch& watch, std::uint32_t events);
    static void resume(Task::Handle waiter);
    void work();  // the body of every pool thread
    void join_offload_pool();

    UniqueFd epoll_;
    std::vector<Watch> watches_;  // by descriptor number
    std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
    std::uint64_t timers_set_ = 0;
    std::unordered_set<void*> frames_;  // the spawned frames not yet ended

    // The pool. jobs_, done_ and stopping_ are shared with the workers,
    // guarded by mutex_; everything above is the loop thread's alone.
    UniqueFd done_signal_;  // an eventfd in the epoll set: written when done_ grows
    std::mutex mutex_;
    std::condition_variable job_ready_;
    std::deque<Job> jobs_;
    std::vector<Task::Handle> done_;
    bool stopping_ = false;
    std::vector<std::thread> workers_;
};

// The awaitables. Each suspends the awaiting Task and registers it with the
// Reactor of the thread, which resumes it on the loop thread.
struct ReadinessAwaiter {
    int fd;
    std::uint32_t direction;  // EPOLLIN or EPOLLOUT
    bool await_ready() const noexcept { return false; }
    bool await_suspend(Task::Handle waiter) {
        return Reactor::current().wait_for(fd, direction, waiter);
    }
    void await_resume() const noexcept {}
};
// Resumes once `fd` is readable (data, end of stream, or an error to read).
inline ReadinessAwaiter readable(int fd) { return {fd, EPOLLIN}; }
// Resumes once `fd` has room in its send buffer (or an error to report).
inline ReadinessAwaiter writable(int fd) { return {fd, EPOLLOUT}; }

struct SleepAwaiter {
    Reactor::Clock::duration duration;
    bool await_ready() const noexcept { return duration <= Reactor::Clock::duration::zero(); }
    void await_suspend(Task::Handle waiter) {
        Reactor::current().start_timer(Reactor::Clock::now() + duration, waiter);
    }
    void await_resume() const noexcept {}
};
// Waits without a thread: the loop serves the others meanwhile.
inline SleepAwaiter sleep_for(Reactor::Clock::duration duration) { return {duration}; }

struct OffloadAwaiter {
    std::function<void()> work;
    bool await_ready() const noexcept { return !work; }  // nothing to do: go on at once
    void await_suspend(Task::Handle waiter) {
        Reactor::current().start_offload(std::move(work), waiter);
    }
    void await_resume() const noexcept {}
};
// Runs `work` on a pool thread (Tokio's spawn_blocking) and resumes the
// coroutine on the loop thread once it is done. `work` runs on another
// thread: it must not touch the coroutine's locals (capture copies), and
// must not throw. An empty `work` does not suspend.
inline OffloadAwaiter offload(std::function<void()> work) { return {std::move(work)}; }

// While a Watched lives, the Reactor may hold a coroutine waiting for `fd`;
// its destructor makes the Reactor forget `fd` before the descriptor is
// closed. Declare it after the UniqueFd it watches (destroyed before it).
class Watched {
public:
    explicit Watched(int fd) noexcept : fd_(fd) {}
    ~Watched() { Reactor::current().forget(fd_); }
    Watched(const Watched&) = delete;
    Watched& operator=(const Watched&) = delete;

private:
    int fd_;
};

}  // namespace iolab
