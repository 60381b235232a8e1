#include "minimal_client.hpp"

#include "unique_fd.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace checker::bench {

namespace {

[[noreturn]] void fail(const char* call) {
    throw std::system_error(errno, std::generic_category(), call);
}

struct MinimalConnection {
    iolab::UniqueFd fd;
    bool connected = false;
    std::size_t line_sent = 0;  // bytes of the line in flight already sent
    bool owed = false;          // a reply came: the next line is due
    bool watching_writable = false;
};

class MinimalClient {
public:
    MinimalClient(const Endpoint& server, int connections, std::size_t line_bytes)
        : line_(std::string(line_bytes - 1, 'x') + "\n"),
          epoll_(::epoll_create1(EPOLL_CLOEXEC)),
          connections_(static_cast<std::size_t>(connections)) {
        if (!epoll_) fail("epoll_create1");
        for (std::size_t i = 0; i < connections_.size(); ++i) start_connecting(server, i);
    }

    // Runs the loop until `until`; counts the replies only when `counting`.
    void run(Clock::time_point until, bool counting) {
        epoll_event events[256];
        for (Clock::time_point now = Clock::now(); now < until; now = Clock::now()) {
            int wait_ms =
                static_cast<int>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count()) +
                1;
            int ready = ::epoll_wait(epoll_.get(), events, 256, std::min(wait_ms, 50));
            if (ready < 0 && errno != EINTR) fail("epoll_wait");
            for (int i = 0; i < ready; ++i) on_event(events[i], counting);
        }
    }

    int connected() const { return connected_; }
    bool all_connected() const { return connected_ == static_cast<int>(connections_.size()); }
    std::uint64_t replies() const { return replies_; }

private:
    void start_connecting(const Endpoint& server, std::size_t index) {
        MinimalConnection& c = connections_[index];
        c.fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!c.fd) fail("socket");
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<std::uint16_t>(server.port));
        ::inet_pton(AF_INET, server.host.c_str(), &address.sin_addr);
        if (::connect(c.fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
            errno != EINPROGRESS)
            return c.fd.reset();  // refused: this connection takes no part
        c.watching_writable = true;
        watch(index, EPOLLOUT, EPOLL_CTL_ADD);
    }

    void watch(std::size_t index, std::uint32_t events, int operation) {
        epoll_event event{};
        event.events = events;
        event.data.u64 = index;
        if (::epoll_ctl(epoll_.get(), operation, connections_[index].fd.get(), &event) != 0)
            fail("epoll_ctl");
    }

    void on_event(const epoll_event& event, bool counting) {
        std::size_t index = event.data.u64;
        MinimalConnection& c = connections_[index];
        if (!c.fd) return;
        if (!c.connected) {
            int error = 0;
            socklen_t length = sizeof error;
            ::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
            if (error != 0) return close(index);
            c.connected = true;
            ++connected_;
            c.owed = true;
        }
        if (event.events & (EPOLLIN | EPOLLHUP | EPOLLERR)) receive(index, counting);
        if (c.fd) send_owed(index);
    }

    void receive(std::size_t index, bool counting) {
        MinimalConnection& c = connections_[index];
        ssize_t got = ::recv(c.fd.get(), buffer_, sizeof buffer_, 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) return close(index);
        if (got < 0) return;
        auto lines = std::count(buffer_, buffer_ + got, '\n');
        if (lines > 0) c.owed = true;
        if (counting) replies_ += static_cast<std::uint64_t>(lines);
    }

    // Sends the line that is due; waits for room only when the socket has none.
    void send_owed(std::size_t index) {
        MinimalConnection& c = connections_[index];
        if (!c.owed) return;
        ssize_t put = ::send(c.fd.get(), line_.data() + c.line_sent, line_.size() - c.line_sent,
                             MSG_NOSIGNAL);
        if (put < 0 && errno != EAGAIN && errno != EINTR) return close(index);
        c.line_sent += put > 0 ? static_cast<std::size_t>(put) : 0;
        bool done = c.line_sent == line_.size();
        if (done) c.line_sent = 0, c.owed = false;
        if (done == c.watching_writable) {  // a system call only when the interest changes
            c.watching_writable = !done;
            watch(index, done ? EPOLLIN : EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
        }
    }

    void close(std::size_t index) { connections_[index].fd.reset(); }

    std::string line_;
    iolab::UniqueFd epoll_;
    std::vector<MinimalConnection> connections_;
    int connected_ = 0;
    std::uint64_t replies_ = 0;
    char buffer_[64 * 1024];
};

}  // namespace

MinimalLoad run_minimal_load(const Endpoint& server, int connections, std::size_t line_bytes,
                             Duration warmup, Duration measure, Duration connect_limit) {
    auto client = std::make_unique<MinimalClient>(server, connections, line_bytes);
    Deadline connecting(connect_limit);
    while (!client->all_connected() && !connecting.passed())
        client->run(Clock::now() + 10ms, false);
    client->run(Clock::now() + warmup, false);
    Clock::time_point opens = Clock::now();
    client->run(opens + measure, true);
    MinimalLoad result;
    result.replies = client->replies();
    result.window_seconds = std::chrono::duration<double>(Clock::now() - opens).count();
    result.connected = client->connected();
    return result;
}

}  // namespace checker::bench
