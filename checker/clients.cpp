#include "clients.hpp"

#include <algorithm>
#include <thread>

namespace checker {

ClientCrowd::ClientCrowd(const Endpoint& server, int count, Deadline deadline) {
    clients_.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        Connection client;
        std::string why;
        if (!Connection::try_open(server, deadline, client, why))
            throw TestFailure("client " + std::to_string(i + 1) + " of " + std::to_string(count) + ", with " +
                              std::to_string(i) + " others connected, could not connect: " + why);
        clients_.push_back(std::move(client));
    }
}

std::vector<ReadResult> ClientCrowd::send_and_read(const std::vector<std::string>& messages, Deadline deadline) {
    for (std::size_t i = 0; i < clients_.size(); ++i) clients_[i].send(messages[i], deadline);
    std::vector<ReadResult> replies;
    for (std::size_t i = 0; i < clients_.size(); ++i) replies.push_back(clients_[i].read_exact(messages[i].size(), deadline));
    return replies;
}

int ClientCrowd::exchange_lines(Deadline deadline) {
    std::vector<std::string> lines;
    for (std::size_t i = 0; i < clients_.size(); ++i)
        lines.push_back("client " + std::to_string(i + 1) + " of " + std::to_string(clients_.size()) + " is here\n");
    std::vector<ReadResult> replies = send_and_read(lines, deadline);
    int answered = 0;
    for (std::size_t i = 0; i < replies.size(); ++i) answered += replies[i].data == lines[i];
    return answered;
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

}  // namespace checker
