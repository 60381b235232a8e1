// The coro lab's reactor (labs/common/coro_reactor.hpp): readiness, timers,
// the offload pool, and who owns a coroutine frame.
#include "coro_reactor.hpp"

#include <gtest/gtest.h>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace iolab;
using namespace std::chrono_literals;

// The loop of solutions/coro, for at most `limit`: resumes whatever is ready.
void run_for(Reactor& reactor, std::chrono::milliseconds limit) {
    auto give_up = std::chrono::steady_clock::now() + limit;
    epoll_event ready[16];
    while (std::chrono::steady_clock::now() < give_up) {
        int timeout = reactor.timeout_ms();
        if (timeout < 0 || timeout > 10) timeout = 10;
        int count = ::epoll_wait(reactor.epoll_fd(), ready, 16, timeout);
        for (int i = 0; i < count; ++i) {
            int fd = ready[i].data.fd;
            if (fd == reactor.offload_done_fd()) {
                reactor.resume_offloaded();
                continue;
            }
            if (ready[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) reactor.resume_reader(fd);
            if (ready[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) reactor.resume_writer(fd);
        }
        reactor.resume_expired_timers();
    }
}

struct SocketPair {
    UniqueFd ours, theirs;
    SocketPair() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
        ours.reset(fds[0]);
        theirs.reset(fds[1]);
    }
};

Task read_one(int fd, std::string& got) {
    Watched watched(fd);
    co_await readable(fd);
    char buffer[64];
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) got.assign(buffer, static_cast<std::size_t>(n));
}

TEST(CoroReactor, ResumesTheReaderOnceItsDescriptorIsReadable) {
    Reactor reactor(1);
    SocketPair pair;
    std::string got;
    reactor.spawn(read_one(pair.ours.get(), got));
    run_for(reactor, 30ms);
    EXPECT_EQ(got, "") << "resumed before anything was written";
    ASSERT_EQ(::write(pair.theirs.get(), "hello", 5), 5);
    run_for(reactor, 100ms);
    EXPECT_EQ(got, "hello");
}

Task sleep_then_log(Reactor::Clock::duration how_long, int name, std::vector<int>& log) {
    co_await sleep_for(how_long);
    log.push_back(name);
}

TEST(CoroReactor, ResumesSleepersInTheOrderOfTheirDeadlines) {
    Reactor reactor(1);
    std::vector<int> log;
    reactor.spawn(sleep_then_log(60ms, 3, log));
    reactor.spawn(sleep_then_log(20ms, 1, log));
    reactor.spawn(sleep_then_log(40ms, 2, log));
    int timeout = reactor.timeout_ms();
    EXPECT_GT(timeout, 0);
    EXPECT_LE(timeout, 20);  // the earliest deadline, rounded up
    run_for(reactor, 200ms);
    EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(reactor.timeout_ms(), -1);  // no timer left
}

Task offload_and_note(std::thread::id& worked_on, std::thread::id& resumed_on, bool& done) {
    co_await offload([&worked_on] { worked_on = std::this_thread::get_id(); });
    resumed_on = std::this_thread::get_id();
    done = true;
}

TEST(CoroReactor, OffloadRunsOnThePoolAndResumesOnTheLoopThread) {
    Reactor reactor(2);
    EXPECT_EQ(reactor.offload_threads(), 2);
    std::thread::id worked_on, resumed_on;
    bool done = false;
    reactor.spawn(offload_and_note(worked_on, resumed_on, done));
    run_for(reactor, 200ms);
    ASSERT_TRUE(done);
    EXPECT_NE(worked_on, std::this_thread::get_id());
    EXPECT_EQ(resumed_on, std::this_thread::get_id());
}

struct Flag {
    bool& set;
    ~Flag() { set = true; }
};

Task wait_forever(int fd, bool& destroyed) {
    Flag flag{destroyed};
    Watched watched(fd);
    co_await readable(fd);
}

TEST(CoroReactor, DestroysTheFramesStillSuspendedWhenItIsDestroyed) {
    SocketPair pair;
    bool destroyed = false;
    {
        Reactor reactor(1);
        reactor.spawn(wait_forever(pair.ours.get(), destroyed));
        run_for(reactor, 20ms);
        EXPECT_FALSE(destroyed);
    }
    EXPECT_TRUE(destroyed);
}

TEST(CoroReactorDeathTest, DestroyingARegisteredFrameStopsTheServerNamingIt) {
    EXPECT_DEATH(
        {
            Reactor reactor(1);
            SocketPair pair;
            bool destroyed = false;
            Task::Handle frame = wait_forever(pair.ours.get(), destroyed).release();
            frame.resume();   // now registered as the reader of pair.ours
            frame.destroy();  // the mistake
        },
        "destroyed while still registered");
}

}  // namespace
