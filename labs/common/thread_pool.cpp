#include "thread_pool.hpp"

#include <algorithm>

namespace iolab {

namespace {

int one_per_cpu() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

}  // namespace

ThreadPool::ThreadPool(int threads, std::size_t max_queued) : max_queued_(std::max<std::size_t>(1, max_queued)) {
    int count = threads > 0 ? threads : one_per_cpu();
    workers_.reserve(static_cast<std::size_t>(count));
    try {
        for (int i = 0; i < count; ++i) workers_.emplace_back([this] { work(); });
    } catch (...) {
        stop();   // a destructor does not run for an object whose constructor threw
        throw;
    }
}

ThreadPool::~ThreadPool() { stop(); }

void ThreadPool::submit(Task task) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [this] { return queue_.size() < max_queued_; });
    queue_.push_back(std::move(task));
    lock.unlock();
    not_empty_.notify_one();
}

void ThreadPool::work() {
    for (;;) {
        Task task;
        {
            std::unique_lock lock(mutex_);
            not_empty_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            task = std::move(queue_.front());
            queue_.pop_front();
        }
        not_full_.notify_one();
        task();   // without the lock: the other workers take tasks meanwhile
    }
}

void ThreadPool::stop() {
    std::deque<Task> discarded;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        discarded.swap(queue_);   // destroyed below, on this thread, after the workers have stopped
    }
    not_empty_.notify_all();
    for (std::thread& worker : workers_)
        if (worker.joinable()) worker.join();
    workers_.clear();
}

}  // namespace iolab
