// The shared scaffolding: descriptor ownership, the listening socket,
// simulated request work.
#include "listener.hpp"
#include "request_work.hpp"
#include "unique_fd.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>

#include <chrono>
#include <system_error>

namespace {

using iolab::UniqueFd;

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

TEST(UniqueFd, ClosesItsDescriptorOnce) {
    int raw = ::open("/dev/null", O_RDONLY);
    {
        UniqueFd owner(raw);
        EXPECT_TRUE(owner);
        EXPECT_TRUE(is_open(raw));
    }
    EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFd, MoveTransfersOwnership) {
    UniqueFd first(::open("/dev/null", O_RDONLY));
    int raw = first.get();
    UniqueFd second = std::move(first);
    EXPECT_FALSE(first);
    EXPECT_EQ(second.get(), raw);
    UniqueFd third;
    third = std::move(second);
    EXPECT_EQ(third.get(), raw);
    EXPECT_TRUE(is_open(raw));
}

TEST(UniqueFd, ReleaseGivesUpOwnershipWithoutClosing) {
    int raw;
    {
        UniqueFd owner(::open("/dev/null", O_RDONLY));
        raw = owner.release();
    }
    EXPECT_TRUE(is_open(raw));
    ::close(raw);
}

TEST(Listener, BindsAnEphemeralPortAndAcceptsNothingWhenNonBlocking) {
    iolab::Options options;
    options.port = 0;
    iolab::Listener listener(options);
    EXPECT_GT(listener.port(), 0);
    iolab::set_nonblocking(listener.fd());
    EXPECT_FALSE(listener.accept());  // EAGAIN: nobody waiting
}

TEST(Listener, BusyPortIsASystemErrorNamingBind) {
    iolab::Options options;
    options.port = 0;
    iolab::Listener first(options);
    options.port = first.port();
    try {
        iolab::Listener second(options);
        FAIL() << "a second listener bound the same port";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), EADDRINUSE);
        EXPECT_NE(std::string(error.what()).find("bind"), std::string::npos);
    }
}

TEST(Listener, RejectsAHostThatIsNotAnAddress) {
    iolab::Options options;
    options.host = "localhost:80";
    EXPECT_THROW(iolab::Listener{options}, std::invalid_argument);
}

TEST(RequestWork, DelaySleepsAndComputeBurnsThreadCpu) {
    iolab::Options options;
    options.delay_us = 20'000;
    auto start = std::chrono::steady_clock::now();
    iolab::simulate_request_work(options);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(20));

    options.delay_us = 0;
    options.compute_us = 10'000;
    std::clock_t cpu_before = std::clock();
    iolab::simulate_request_work(options);
    EXPECT_GE(static_cast<double>(std::clock() - cpu_before) / CLOCKS_PER_SEC, 0.009);
}

}  // namespace
