// The yardstick of `make compare`, not a lab: a minimal single-threaded epoll
// echo loop (level-triggered, non-blocking sockets, one LineProtocol per
// connection), the least an event-driven server can do per request.
//
// The reference epoll server (solutions/epoll, with its worker pool) must
// reach at least 0.8x this loop's throughput on plain echo at 100 connections,
// and beat it clearly once requests carry --delay-us or --compute-us: here the
// simulated work runs on the only thread, and every other connection waits.
#include "errors.hpp"
#include "line_protocol.hpp"
#include "listener.hpp"
#include "request_work.hpp"
#include "server_main.hpp"
#include "shutdown.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <unordered_map>

namespace {

using namespace iolab;

constexpr std::size_t kChunk = 16 * 1024;
// A client that sends without reading its replies is not read from while this
// much of them waits to be sent: memory per connection stays bounded.
constexpr std::size_t kMaxUnsent = 256 * 1024;
constexpr int kMaxAcceptsPerWakeup = 64;

struct Client {
    UniqueFd fd;
    LineProtocol protocol;
    std::string unsent;
    std::size_t sent = 0;        // bytes of `unsent` already written
    bool peer_done = false;      // the client half-closed: close once everything is sent
    std::uint32_t interest = 0;  // what epoll watches for now
};

class EchoLoop {
public:
    EchoLoop(Listener& listener, const Options& options) : listener_(listener), options_(options) {
        epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
        if (!epoll_) throw_errno("epoll_create1");
        set_nonblocking(listener.fd());
        add(listener.fd(), EPOLLIN);
        add(shutdown_wakeup_fd(), EPOLLIN);
    }

    void run() {
        epoll_event events[256];
        while (!shutdown_requested()) {
            int ready = ::epoll_wait(epoll_.get(), events, 256, -1);
            if (ready < 0 && errno == EINTR) continue;
            if (ready < 0) throw_errno("epoll_wait");
            for (int i = 0; i < ready; ++i) {
                int fd = events[i].data.fd;
                if (fd == shutdown_wakeup_fd()) return;
                if (fd == listener_.fd()) accept_clients();
                else serve(fd, events[i].events);
            }
        }
    }

private:
    void add(int fd, std::uint32_t events) {
        epoll_event event{events, {.fd = fd}};
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) < 0) throw_errno("epoll_ctl");
    }

    void accept_clients() {
        for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
            UniqueFd accepted = listener_.accept();
            if (!accepted) return;
            set_nonblocking(accepted.get());
            int fd = accepted.get();
            add(fd, EPOLLIN);
            clients_[fd] = Client{std::move(accepted), {}, {}, 0, false, EPOLLIN};
        }
    }

    void serve(int fd, std::uint32_t events) {
        auto found = clients_.find(fd);
        if (found == clients_.end()) return;
        Client& client = found->second;
        bool alive = true;
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) alive = receive(client);
        if (alive) alive = send_pending(client);
        if (alive && client.peer_done && client.unsent.empty()) alive = false;
        if (!alive) {
            clients_.erase(found);
            return;
        }  // closing the descriptor leaves the epoll set
        update_interest(client);
    }

    // One recv(), the replies it completes appended to `unsent`. False: close.
    bool receive(Client& client) {
        if (client.unsent.size() - client.sent >= kMaxUnsent || client.peer_done) return true;
        char buffer[kChunk];
        ssize_t got = ::recv(client.fd.get(), buffer, sizeof buffer, 0);
        if (got < 0) return errno == EAGAIN || errno == EINTR;
        std::size_t requests =
            got == 0
                ? client.protocol.finish(client.unsent)
                : client.protocol.consume({buffer, static_cast<std::size_t>(got)}, client.unsent);
        for (std::size_t i = 0; i < requests; ++i) simulate_request_work(options_);
        if (got == 0) client.peer_done = true;
        return true;
    }

    bool send_pending(Client& client) {
        while (client.sent < client.unsent.size()) {
            ssize_t sent = ::send(client.fd.get(), client.unsent.data() + client.sent,
                                  client.unsent.size() - client.sent, MSG_NOSIGNAL);
            if (sent < 0) return errno == EAGAIN || errno == EINTR;
            client.sent += static_cast<std::size_t>(sent);
        }
        client.unsent.clear();
        client.sent = 0;
        return true;
    }

    void update_interest(Client& client) {
        bool can_read = !client.peer_done && client.unsent.size() - client.sent < kMaxUnsent;
        std::uint32_t wanted = (can_read ? EPOLLIN : 0u) | (client.unsent.empty() ? 0u : EPOLLOUT);
        if (wanted == client.interest) return;
        epoll_event event{wanted, {.fd = client.fd.get()}};
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, client.fd.get(), &event) < 0)
            throw_errno("epoll_ctl");
        client.interest = wanted;
    }

    Listener& listener_;
    const Options& options_;
    UniqueFd epoll_;
    std::unordered_map<int, Client> clients_;
};

void run(Listener& listener, const Options& options) { EchoLoop(listener, options).run(); }

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(
        argc, argv,
        {"epoll-baseline", "minimal single-threaded epoll echo loop (benchmark yardstick)"}, run);
}
