// The fixtures' worker pool (tests/fixtures/support): every task runs on a worker, the queue is
// bounded, and destruction finishes the running tasks and drops the rest.
#include "thread_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <set>
#include <thread>

namespace {

using iolab::ThreadPool;
using namespace std::chrono_literals;

// Waits (bounded) until `done()` is true.
template <typename Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = 5000ms) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
    return done();
}

TEST(ThreadPool, RunsEveryTaskOnItsWorkers) {
    ThreadPool pool(3, 16);
    EXPECT_EQ(pool.size(), 3);
    std::atomic<int> ran{0};
    std::mutex mutex;
    std::set<std::thread::id> threads;
    for (int i = 0; i < 1000; ++i)
        pool.submit([&] {
            {
                std::lock_guard lock(mutex);
                threads.insert(std::this_thread::get_id());
            }
            ++ran;
        });
    ASSERT_TRUE(eventually([&] { return ran == 1000; }));
    std::lock_guard lock(mutex);
    EXPECT_LE(threads.size(), 3u);
    EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

TEST(ThreadPool, ZeroThreadsMeansOnePerCpu) {
    ThreadPool pool(0, 1);
    EXPECT_EQ(pool.size(), static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

TEST(ThreadPool, SubmitWaitsWhileTheQueueIsFull) {
    ThreadPool pool(1, 2);
    std::promise<void> gate;
    std::shared_future<void> open = gate.get_future().share();
    std::atomic<bool> started{false};
    pool.submit([&] {
        started = true;
        open.wait();
    });
    ASSERT_TRUE(eventually([&] { return started.load(); }));
    pool.submit([] {});
    pool.submit([] {});  // the queue holds 2: full
    std::atomic<bool> third_queued{false};
    std::thread submitter([&] {
        pool.submit([] {});
        third_queued = true;
    });
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(third_queued) << "submit() returned although the queue was full";
    gate.set_value();
    EXPECT_TRUE(eventually([&] { return third_queued.load(); }));
    submitter.join();
}

TEST(ThreadPool, DestructionFinishesTheRunningTaskAndDropsTheQueuedOnes) {
    auto token = std::make_shared<int>(0);  // copied into every task: counts the tasks still alive
    std::atomic<bool> started{false}, finished{false};
    std::atomic<int> queued_ran{0};
    {
        ThreadPool pool(1, 8);
        pool.submit([&, token] {
            started = true;
            std::this_thread::sleep_for(200ms);  // the pool is being destroyed meanwhile
            finished = true;
        });
        for (int i = 0; i < 5; ++i) pool.submit([&, token] { ++queued_ran; });
        ASSERT_TRUE(eventually([&] { return started.load(); }));
    }
    EXPECT_TRUE(finished);
    EXPECT_EQ(queued_ran, 0);
    EXPECT_EQ(token.use_count(), 1) << "a task was neither run nor destroyed";
}

}  // namespace
