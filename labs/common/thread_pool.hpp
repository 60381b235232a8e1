// A fixed pool of worker threads that run tasks taken from a bounded queue
// (muduo's ThreadPool, with a bound on the queue).
//
// Threads: the pool is built, fed (submit) and destroyed on one thread, its
// owner (in the epoll lab, the event loop's thread). Each task runs on one of
// the workers, whichever is free; tasks start in the order they were
// submitted, and may finish in any order.
//
// Ownership: the pool owns its worker threads and the tasks that have not
// started yet. It does not own what a task refers to: the owner must keep
// that alive until the pool is destroyed (declare it before the pool), since
// a task may still be running while the owner is already shutting down.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace iolab {

class ThreadPool {
public:
    // A task must not throw: like any exception leaving a std::thread, one
    // that leaves a task ends the process. A task handles its own failures.
    using Task = std::function<void()>;

    // Starts `threads` workers (0 or less: one per CPU). At most `max_queued`
    // tasks wait for a worker at a time. Throws std::system_error when a
    // thread cannot be started (the ones already started are stopped first).
    ThreadPool(int threads, std::size_t max_queued);

    // Stops the pool: tasks that have not started are discarded, the running
    // ones are finished, and every worker is joined. Owner's thread.
    ~ThreadPool();

    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    // Queues `task` for the next free worker. While `max_queued` tasks are
    // already waiting, blocks until a worker takes one: the owner slows down
    // to the workers' pace instead of piling up work. Owner's thread.
    void submit(Task task);

    int size() const noexcept { return static_cast<int>(workers_.size()); }

private:
    void work();   // the body of every worker thread
    void stop();

    const std::size_t max_queued_;
    std::mutex mutex_;
    std::condition_variable not_empty_;    // workers wait here for a task
    std::condition_variable not_full_;     // the owner waits here for room in the queue
    std::deque<Task> queue_;               // guarded by mutex_
    bool stopping_ = false;                // guarded by mutex_
    std::vector<std::thread> workers_;     // the owner's thread only
};

}  // namespace iolab
