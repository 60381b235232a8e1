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

int settled_thread_count(const ServerProcess& server, Duration settle) {
    Deadline deadline(settle);
    int lowest = server.thread_count();
    while (lowest > 1 && !deadline.passed()) {
        std::this_thread::sleep_for(5ms);
        lowest = std::min(lowest, server.thread_count());
    }
    return lowest;
}

}  // namespace checker
