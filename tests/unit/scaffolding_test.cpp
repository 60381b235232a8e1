// The shared scaffolding: descriptor ownership, the listening socket,
// simulated request work.
#include "listener.hpp"
#include "request_work.hpp"
#include "unique_fd.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <system_error>
#include <vector>

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

// SO_REUSEPORT (the reactors lab): sockets that all set it before bind() share
// the port, and the kernel spreads the connections over them.
TEST(Listener, SharedListenersBindOnePortAndEachGetsConnections) {
    iolab::Options options;
    options.port = 0;
    iolab::Listener first(options, iolab::PortSharing::shared);
    options.port = first.port();
    iolab::Listener second(options, iolab::PortSharing::shared);
    iolab::set_nonblocking(first.fd());
    iolab::set_nonblocking(second.fd());
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(first.port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::vector<UniqueFd> clients;
    for (int i = 0; i < 32; ++i) {  // all 32 on one socket: a chance of 2^-31
        clients.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        ASSERT_EQ(
            ::connect(clients.back().get(), reinterpret_cast<sockaddr*>(&address), sizeof address),
            0);
    }
    int accepted[2] = {0, 0};
    while (first.accept()) ++accepted[0];
    while (second.accept()) ++accepted[1];
    EXPECT_EQ(accepted[0] + accepted[1], 32);
    EXPECT_GT(accepted[0], 0);
    EXPECT_GT(accepted[1], 0);
}

// The kernel decides at bind() whether a port may be shared: a socket bound
// without SO_REUSEPORT keeps every later one out, whatever they set.
TEST(Listener, AnExclusiveListenerKeepsSharedOnesOut) {
    iolab::Options options;
    options.port = 0;
    iolab::Listener first(options);
    options.port = first.port();
    try {
        iolab::Listener second(options, iolab::PortSharing::shared);
        FAIL() << "a shared listener bound the port of an exclusive one";
    } catch (const std::system_error& error) {
        EXPECT_EQ(error.code().value(), EADDRINUSE);
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
