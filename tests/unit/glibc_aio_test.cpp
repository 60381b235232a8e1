// What labs/aio/README.md says about glibc's POSIX AIO on sockets, checked on
// the machine that runs the tests: if a glibc update changes any of it, the
// README (and the aio lab's design) must change too.
#include "unique_fd.hpp"

#include <gtest/gtest.h>

#include <aio.h>
#include <arpa/inet.h>
#include <linux/aio_abi.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace {

using iolab::UniqueFd;
using namespace std::chrono_literals;

// The pool of this test process, set before main() (aio_init() only counts
// before the first request). Nothing else in the process uses POSIX AIO.
constexpr int kPool = 4;
const bool pool_configured = [] {
    aioinit settings{};
    settings.aio_threads = kPool;
    settings.aio_num = kPool;
    settings.aio_idle_time = 1;
    ::aio_init(&settings);
    return true;
}();

// A connected pair of TCP sockets on 127.0.0.1: {client, server}.
std::array<UniqueFd, 2> tcp_pair() {
    UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    EXPECT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(listener.get(), 4), 0);
    EXPECT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
    UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    UniqueFd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    return {std::move(client), std::move(server)};
}

// One request with its buffer. The destructor refuses to free them while the
// request may still be in flight: it shuts the socket down and waits.
struct Request {
    Request(int fd, std::size_t length) : buffer(length), control(std::make_unique<aiocb>()) {
        control->aio_fildes = fd;
        control->aio_buf = buffer.data();
        control->aio_nbytes = length;
    }
    ~Request() {
        if (!submitted) return;
        if (!done(0ms)) ::shutdown(control->aio_fildes, SHUT_RDWR);
        EXPECT_TRUE(done(2s)) << "a request still in flight 2 s after its socket was shut down";
        ::aio_return(control.get());
    }
    int read() {
        submitted = true;
        return ::aio_read(control.get());
    }
    int write() {
        submitted = true;
        return ::aio_write(control.get());
    }
    int error() const { return ::aio_error(control.get()); }
    // Waits until the request has completed, at most `timeout`.
    bool done(std::chrono::milliseconds timeout) const {
        const aiocb* list[] = {control.get()};
        timespec limit{static_cast<time_t>(timeout / 1s), static_cast<long>((timeout % 1s) / 1ns)};
        while (error() == EINPROGRESS)
            if (::aio_suspend(list, 1, &limit) < 0 && errno == EAGAIN) return false;
        return true;
    }

    std::vector<char> buffer;
    std::unique_ptr<aiocb> control;
    bool submitted = false;
};

TEST(GlibcAio, AWriteWaitsForTheReadPendingOnTheSameSocket) {
    auto [client, server] = tcp_pair();
    Request read(server.get(), 64), write(server.get(), 6);
    ASSERT_EQ(read.read(), 0);
    ASSERT_EQ(write.write(), 0);
    EXPECT_FALSE(write.done(300ms))
        << "the write completed while a read was pending on the same socket";
    ASSERT_EQ(::send(client.get(), "x\n", 2, 0),
              2);  // the read completes: only now does the write run
    EXPECT_TRUE(read.done(2s));
    EXPECT_TRUE(write.done(2s));
    EXPECT_EQ(::aio_return(write.control.get()), 6);
    write.submitted = false;
}

TEST(GlibcAio, AWriteOnADuplicateOfTheSocketDoesNotWait) {
    // Requests are queued by descriptor number, not by socket.
    auto [client, server] = tcp_pair();
    UniqueFd duplicate(::dup(server.get()));
    Request read(server.get(), 64), write(duplicate.get(), 6);
    ASSERT_EQ(read.read(), 0);
    ASSERT_EQ(write.write(), 0);
    EXPECT_TRUE(write.done(2s));
    EXPECT_EQ(read.error(), EINPROGRESS);
}

TEST(GlibcAio, ABlockedReadIsNotCancelledButShutdownReleasesIt) {
    auto [client, server] = tcp_pair();
    Request read(server.get(), 64);
    ASSERT_EQ(read.read(), 0);
    std::this_thread::sleep_for(50ms);  // a pool thread is now blocked in read()
    EXPECT_EQ(::aio_cancel(server.get(), read.control.get()), AIO_NOTCANCELED);
    EXPECT_FALSE(read.done(300ms));
    ::shutdown(server.get(), SHUT_RDWR);
    EXPECT_TRUE(read.done(1s));
    EXPECT_EQ(read.error(), 0);
    EXPECT_EQ(::aio_return(read.control.get()), 0);  // end of file
    read.submitted = false;
}

TEST(GlibcAio, CloseDoesNotReleaseABlockedRead) {
    // The pool thread's read() holds its own reference to the socket: closing
    // the descriptor neither ends the read nor the connection.
    auto [client, server] = tcp_pair();
    Request read(server.get(), 64);
    ASSERT_EQ(read.read(), 0);
    std::this_thread::sleep_for(50ms);
    server.reset();
    EXPECT_FALSE(read.done(300ms));
    ASSERT_EQ(::send(client.get(), "x\n", 2, 0), 2);  // only the client can end it now
    EXPECT_TRUE(read.done(2s));
    EXPECT_EQ(::aio_return(read.control.get()), 2);
    read.submitted = false;
}

TEST(GlibcAio, AWriteCutShortByShutdownCompletesWithFewerBytes) {
    auto [client, server] = tcp_pair();
    constexpr std::size_t kLength = 8 << 20;  // far more than the socket buffers hold
    Request write(server.get(), kLength);
    ASSERT_EQ(write.write(), 0);
    EXPECT_FALSE(write.done(300ms));  // the client does not read: the pool thread blocks in write()
    ::shutdown(server.get(), SHUT_RDWR);
    ASSERT_TRUE(write.done(2s));
    EXPECT_EQ(write.error(), 0);
    ssize_t written = ::aio_return(write.control.get());
    EXPECT_GT(written, 0);
    EXPECT_LT(written, static_cast<ssize_t>(kLength));
    write.submitted = false;
}

TEST(GlibcAio, ThePoolHasTheThreadsAioInitAskedForAndQueuesTheRest) {
    // From an empty pool: the threads of the tests before, idle now, end after
    // aio_idle_time (1 s). Without the wait, a full run once saw the fifth read
    // served, most likely by an earlier test's thread as it ended.
    std::this_thread::sleep_for(1500ms);
    std::vector<std::array<UniqueFd, 2>> idle;
    std::vector<std::unique_ptr<Request>> blocked;
    for (int i = 0; i < kPool; ++i) {
        idle.push_back(tcp_pair());
        blocked.push_back(std::make_unique<Request>(idle.back()[1].get(), 64));
        ASSERT_EQ(blocked.back()->read(), 0);
    }
    auto [client, server] = tcp_pair();
    ASSERT_EQ(::send(client.get(), "x\n", 2, 0), 2);
    Request ready(server.get(), 64);
    ASSERT_EQ(ready.read(), 0);
    EXPECT_FALSE(ready.done(300ms)) << "a read beyond the pool's " << kPool << " threads ran";
    {  // a queued request, unlike a running one, can be cancelled, and its notification comes
        static std::atomic<int> notified{0};
        auto [other_client, other_server] = tcp_pair();
        Request queued(other_server.get(), 64);
        queued.control->aio_sigevent.sigev_notify = SIGEV_THREAD;
        queued.control->aio_sigevent.sigev_notify_function = [](sigval) { ++notified; };
        ASSERT_EQ(queued.read(), 0);
        EXPECT_EQ(::aio_cancel(other_server.get(), queued.control.get()), AIO_CANCELED);
        EXPECT_EQ(queued.error(), ECANCELED);
        for (int wait = 0; wait < 200 && notified.load() == 0; ++wait)
            std::this_thread::sleep_for(5ms);
        EXPECT_EQ(notified.load(), 1);
    }
    blocked.front().reset();  // shut down: its thread is free again
    EXPECT_TRUE(ready.done(2s));
    EXPECT_EQ(::aio_return(ready.control.get()), 2);
    ready.submitted = false;
}

TEST(GlibcAio, SigevThreadStartsAThreadForEveryNotification) {
    static std::mutex mutex;
    static std::set<pid_t> threads;
    static std::atomic<int> notifications{0};
    auto [client, server] = tcp_pair();
    constexpr int kReads = 5;
    for (int i = 0; i < kReads; ++i) {
        Request read(server.get(), 8);
        read.control->aio_sigevent.sigev_notify = SIGEV_THREAD;
        read.control->aio_sigevent.sigev_notify_function = [](sigval) {
            std::lock_guard lock(mutex);
            threads.insert(::gettid());
            ++notifications;
        };
        ASSERT_EQ(read.read(), 0);
        ASSERT_EQ(::send(client.get(), "x", 1, 0), 1);
        ASSERT_TRUE(read.done(2s));
        for (int wait = 0; wait < 200 && notifications.load() <= i; ++wait)
            std::this_thread::sleep_for(5ms);
    }
    std::lock_guard lock(mutex);
    EXPECT_EQ(notifications.load(), kReads);
    EXPECT_EQ(static_cast<int>(threads.size()), kReads)
        << "distinct thread ids of the notifications";
    EXPECT_FALSE(threads.count(::gettid()));
}

// Linux's own AIO interface (io_setup/io_submit, not POSIX AIO) on a socket:
// the read is performed inside io_submit(), which blocks until it is done.
TEST(KernelAio, IoSubmitReadsASocketSynchronously) {
    aio_context_t context = 0;
    ASSERT_EQ(::syscall(SYS_io_setup, 1, &context), 0);
    auto [client, server] = tcp_pair();
    char buffer[64];
    iocb request{};
    request.aio_fildes = static_cast<std::uint32_t>(server.get());
    request.aio_lio_opcode = IOCB_CMD_PREAD;
    request.aio_buf = reinterpret_cast<std::uint64_t>(buffer);
    request.aio_nbytes = sizeof buffer;
    iocb* requests[] = {&request};
    std::thread late_client([&client = client] {
        std::this_thread::sleep_for(300ms);
        ::send(client.get(), "x\n", 2, 0);
    });
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(::syscall(SYS_io_submit, context, 1, requests), 1);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms)
        << "io_submit returned before the data came";
    late_client.join();
    io_event event{};
    timespec limit{1, 0};
    EXPECT_EQ(::syscall(SYS_io_getevents, context, 1, 1, &event, &limit), 1);
    EXPECT_EQ(event.res, 2);
    ::syscall(SYS_io_destroy, context);
}

}  // namespace
