#include "clients.hpp"
#include "text.hpp"

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>

namespace checker {

namespace {

class SwarmDriver {
public:
    explicit SwarmDriver(std::vector<SwarmClient>& clients)
        : clients_(clients), unsent_(clients.size()), closing_(clients.size(), false) {}

    // Queues piece `round` of every client still waiting.
    void queue_round(std::size_t round) {
        for (std::size_t i = 0; i < clients_.size(); ++i)
            if (clients_[i].state == SwarmClient::Waiting && round < clients_[i].pieces.size()) {
                unsent_[i] = clients_[i].pieces[round];
                closing_[i] = clients_[i].half_close && round + 1 == clients_[i].pieces.size();
            }
    }

    bool sending() const {
        for (std::size_t i = 0; i < clients_.size(); ++i)
            if (!unsent_[i].empty() && clients_[i].state == SwarmClient::Waiting) return true;
        return false;
    }

    bool anyone_waiting() const {
        return std::any_of(clients_.begin(), clients_.end(),
                           [](const SwarmClient& c) { return c.state == SwarmClient::Waiting; });
    }

    // One poll() over the clients still waiting, until something happens or `wake`.
    void pump(Deadline wake) {
        watched_.clear();
        owners_.clear();
        for (std::size_t i = 0; i < clients_.size(); ++i) {
            if (clients_[i].state != SwarmClient::Waiting) continue;
            short events = static_cast<short>(POLLIN | (unsent_[i].empty() ? 0 : POLLOUT));
            watched_.push_back({clients_[i].connection.fd(), events, 0});
            owners_.push_back(i);
        }
        int ready = ::poll(watched_.data(), watched_.size(), wake.remaining_ms());
        if (ready < 0 && errno != EINTR)
            throw std::system_error(errno, std::generic_category(), "poll (checker)");
        for (std::size_t k = 0; ready > 0 && k < watched_.size(); ++k) {
            short events = watched_[k].revents;
            if (events & POLLOUT) send_some(owners_[k]);
            if (events & (POLLIN | POLLHUP | POLLERR)) receive_some(owners_[k]);
        }
    }

private:
    void send_some(std::size_t i) {
        ssize_t sent = ::send(clients_[i].connection.fd(), unsent_[i].data(), unsent_[i].size(),
                              MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent >= 0) unsent_[i].remove_prefix(static_cast<std::size_t>(sent));
        else if (errno != EAGAIN && errno != EINTR) closed(i);  // the server closed or reset it
        if (unsent_[i].empty() && closing_[i]) {
            ::shutdown(clients_[i].connection.fd(), SHUT_WR);
            closing_[i] = false;
        }
    }

    void receive_some(std::size_t i) {
        SwarmClient& client = clients_[i];
        char buffer[64 * 1024];
        ssize_t got = ::recv(client.connection.fd(), buffer, sizeof buffer, MSG_DONTWAIT);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (got <= 0) return closed(i);
        client.received.append(buffer, static_cast<std::size_t>(got));
        std::size_t common = std::min(client.received.size(), client.expected.size());
        if (client.received.compare(0, common, client.expected, 0, common) != 0 ||
            client.received.size() > client.expected.size())
            client.state = SwarmClient::Wrong;
        else if (client.received.size() == client.expected.size())
            client.state = SwarmClient::Served;
    }

    void closed(std::size_t i) {
        SwarmClient& client = clients_[i];
        unsent_[i] = {};
        if (client.state != SwarmClient::Waiting) return;
        client.closed_by_server = true;
        client.state = client.received.empty() ? SwarmClient::Refused : SwarmClient::Wrong;
    }

    std::vector<SwarmClient>& clients_;
    std::vector<std::string_view> unsent_;
    std::vector<bool> closing_;  // half-close once unsent_ is empty
    std::vector<pollfd> watched_;
    std::vector<std::size_t> owners_;
};

std::string describe_wrong(const SwarmClient& client, std::size_t number) {
    std::string sent;
    for (const std::string& piece : client.pieces) sent += piece;
    std::string difference = describe_difference(client.expected, client.received);
    return str("client ", number, " sent ", show(sent), " in ", client.pieces.size(), " pieces; ",
               difference.empty() ? "the server closed the connection in the middle of the replies"
                                  : difference);
}

}  // namespace

std::string SwarmCount::str() const {
    std::string text = checker::str(served, " served");
    if (refused) text += checker::str(", ", refused, " refused (closed before any reply)");
    if (wrong) text += checker::str(", ", wrong, " with wrong replies");
    if (waiting) text += checker::str(", ", waiting, " still waiting for replies");
    return text;
}

SwarmCount run_swarm(std::vector<SwarmClient>& clients, Duration pause, Deadline deadline) {
    SwarmDriver driver(clients);
    std::size_t rounds = 0;
    for (const SwarmClient& client : clients) rounds = std::max(rounds, client.pieces.size());
    for (std::size_t round = 0; round < rounds && !deadline.passed(); ++round) {
        driver.queue_round(round);
        while (driver.sending() && !deadline.passed()) driver.pump(deadline);
        Deadline pause_end = deadline.sooner(pause);
        while (!pause_end.passed()) driver.pump(pause_end);  // reading meanwhile
    }
    while (driver.anyone_waiting() && !deadline.passed()) driver.pump(deadline);

    SwarmCount count;
    for (std::size_t i = 0; i < clients.size(); ++i) {
        switch (clients[i].state) {
        case SwarmClient::Served: ++count.served; break;
        case SwarmClient::Refused: ++count.refused; break;
        case SwarmClient::Waiting: ++count.waiting; break;
        case SwarmClient::Wrong:
            if (count.wrong++ == 0) count.first_wrong = describe_wrong(clients[i], i);
            if (clients[i].closed_by_server &&
                clients[i].expected.compare(0, clients[i].received.size(), clients[i].received) ==
                    0)
                ++count.closed_midway;
            break;
        }
    }
    return count;
}

std::vector<SwarmClient> open_swarm(const Endpoint& server, int count, Deadline deadline) {
    std::vector<SwarmClient> clients(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        std::string why;
        if (!Connection::try_open(server, deadline, clients[static_cast<std::size_t>(i)].connection,
                                  why))
            throw TestFailure(
                str("could open only ", i, " of ", count, " connections at once: ", why));
    }
    return clients;
}

int exchange_lines(std::vector<SwarmClient>& clients, Deadline deadline) {
    for (std::size_t i = 0; i < clients.size(); ++i) {
        std::string line = str("client ", i + 1, " of ", clients.size(), " is here\n");
        clients[i].pieces = {line};
        clients[i].expected = line;
    }
    return run_swarm(clients, 0s, deadline).served;
}

int thread_count_at_rest(const Endpoint& server, const ServerProcess& process, Deadline deadline,
                         Duration settle) {
    {
        Connection client = Connection::open(server, deadline);
        std::string line = "a client coming and going before the count\n";
        client.send(line, deadline);
        expect_reply(client, line, line, deadline);
    }
    Deadline rest = deadline.sooner(settle);
    int lowest = process.thread_count();
    while (lowest > 1 && !rest.passed()) {
        std::this_thread::sleep_for(5ms);
        lowest = std::min(lowest, process.thread_count());
    }
    return lowest;
}

std::optional<int> descriptors_gained(int baseline, int now) {
    if (baseline < 0 || now < 0) return std::nullopt;
    return std::max(0, now - baseline);
}

void ensure_own_descriptor_limit(int needed) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) < 0)
        throw std::system_error(errno, std::generic_category(), "getrlimit");
    if (limit.rlim_cur >= static_cast<rlim_t>(needed)) return;
    if (limit.rlim_max < static_cast<rlim_t>(needed))
        throw std::runtime_error(
            str("the checker needs ", needed, " descriptors for this test, but its hard limit is ",
                limit.rlim_max, ": raise it (ulimit -Hn ", needed, ", as root) and grade again"));
    limit.rlim_cur = static_cast<rlim_t>(needed);
    if (::setrlimit(RLIMIT_NOFILE, &limit) < 0)
        throw std::system_error(errno, std::generic_category(), "setrlimit");
}

}  // namespace checker
