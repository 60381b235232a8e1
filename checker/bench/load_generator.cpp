#include "load_generator.hpp"

#include "unique_fd.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <system_error>
#include <vector>

namespace checker::bench {

const char* mode_name(LoadMode mode) {
    switch (mode) {
    case LoadMode::ClosedLoop: return "closed loop";
    case LoadMode::OpenLoop: return "open loop";
    case LoadMode::Churn: return "churn";
    }
    return "?";
}

namespace {

[[noreturn]] void fail(const char* call) {
    throw std::system_error(errno, std::generic_category(), call);
}

double thread_cpu_seconds() {
    timespec now{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

std::uint64_t nanoseconds(Duration d) {
    return static_cast<std::uint64_t>(
        std::max<long long>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
}

// Request payloads are lines cut from a pseudo-random pattern holding every
// byte value but '\n', a different one for every request of a connection and
// for every connection: a reply that comes back from the wrong request, the
// wrong connection, out of order or with one byte changed does not match.
// The lines are made once; sending one is a pointer, checking a reply one memcmp.
class Payloads {
public:
    explicit Payloads(std::size_t line_bytes)
        : line_bytes_(line_bytes),
          count_(std::clamp<std::size_t>((8u << 20) / line_bytes, 61, 4093)),
          lines_(count_ * line_bytes, '\0') {
        std::uint32_t state = 0x9e3779b9u;
        for (std::size_t i = 0; i < lines_.size(); ++i) {
            state = state * 1664525u + 1013904223u;
            char byte = static_cast<char>(state >> 24);
            lines_[i] = (i + 1) % line_bytes == 0 ? '\n' : byte == '\n' ? '~' : byte;
        }
    }

    std::size_t line_bytes() const { return line_bytes_; }

    // Which line request `sequence` of connection `connection` sends.
    std::uint32_t pick(std::size_t connection, std::uint64_t sequence) const {
        return static_cast<std::uint32_t>((connection * 131 + sequence * 17) % count_);
    }

    std::string_view line(std::uint32_t which) const {
        return std::string_view(lines_).substr(which * line_bytes_, line_bytes_);
    }

    // Whether `got` equals bytes [from, from + got.size()) of line `which`.
    bool matches(std::uint32_t which, std::size_t from, std::string_view got) const {
        return std::memcmp(got.data(), lines_.data() + which * line_bytes_ + from, got.size()) == 0;
    }

private:
    std::size_t line_bytes_;
    std::size_t count_;  // distinct lines: a few thousand, at most 8 MiB of them
    std::string lines_;
};

struct Request {
    Clock::time_point issued;  // sent, or (open loop) scheduled to be sent
    std::uint64_t sequence;    // the connection's request number, from 0
    std::uint32_t payload;     // which line of Payloads it sends
    bool measured;             // issued during the measured window
};

// The requests in flight on one connection, oldest first: a vector read from
// `head_`, emptied whenever it is drained, so that the usual one or two
// requests live in the same few bytes for the whole run (10,000 connections'
// queues stay in the cache; std::deque would give each a 512-byte block).
class RequestQueue {
public:
    bool empty() const { return head_ == items_.size(); }
    std::size_t size() const { return items_.size() - head_; }
    const Request& front() const { return items_[head_]; }
    const Request& operator[](std::size_t i) const { return items_[head_ + i]; }
    const Request* begin() const { return items_.data() + head_; }
    const Request* end() const { return items_.data() + items_.size(); }
    void push_back(const Request& request) { items_.push_back(request); }
    void clear() {
        items_.clear();
        head_ = 0;
    }
    void pop_front() {
        if (++head_ == items_.size()) clear();
        else if (head_ >= 64 &&
                 2 * head_ >= items_.size()) {  // an open loop's long queue: drop the done part
            items_.erase(items_.begin(), items_.begin() + static_cast<long>(head_));
            head_ = 0;
        }
    }

private:
    std::vector<Request> items_;
    std::size_t head_ = 0;
};

struct Client {
    enum State { Unopened, Connecting, Open, Closed } state = Unopened;
    iolab::UniqueFd fd;
    RequestQueue in_flight;             // requests issued and not yet fully answered, in order
    std::size_t reply_progress = 0;     // bytes of in_flight.front()'s reply verified so far
    std::size_t unsent = 0;             // requests at the back of in_flight not fully sent yet
    std::size_t first_unsent_sent = 0;  // bytes of the first of them already sent
    std::uint64_t sequence = 0;         // requests issued on this connection
    bool watching_writable = false;
    bool answered = false;
    bool answered_under_load = false;
    std::uint64_t measured_replies = 0;  // verified replies to measured requests (fairness)
    Clock::time_point reconnect_at{};    // churn: after a failed attempt
};

enum class Phase { RampIn, Warmup, Measure, Drain, Done };

class LoadGenerator {
public:
    LoadGenerator(const LoadSpec& spec, const LoadHooks& hooks)
        : spec_(spec),
          hooks_(hooks),
          payloads_(spec.line_bytes),
          clients_(static_cast<std::size_t>(spec.connections)) {
        epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
        if (!epoll_) fail("epoll_create1");
        address_.sin_family = AF_INET;
        address_.sin_port = htons(static_cast<std::uint16_t>(spec.server.port));
        if (::inet_pton(AF_INET, spec.server.host.c_str(), &address_.sin_addr) != 1)
            throw std::invalid_argument(spec.server.host + " is not an IPv4 address");
    }

    LoadResult run();

    // One of the idle crowd (LoadSpec::active): the first connections opened.
    bool is_idle(std::size_t index) const {
        return spec_.active > 0 && index < clients_.size() - static_cast<std::size_t>(spec_.active);
    }

private:
    // The loop and its phases.
    void advance_phase(Clock::time_point now);
    void end_ramp_in(Clock::time_point now);
    bool ramp_in_finished(Clock::time_point now) const;
    bool issuing() const {
        return phase_ == Phase::RampIn || phase_ == Phase::Warmup || phase_ == Phase::Measure;
    }
    Clock::time_point next_wakeup(Clock::time_point now) const;
    void wait_for_events(Clock::time_point until);
    void finish(Clock::time_point now);
    void count_fairness();  // per_connection_* and unserved_in_window, from every client

    // Connections.
    void open_more_connections(Clock::time_point now);
    void start_connecting(std::size_t index, Clock::time_point now);
    void on_connected(std::size_t index, Clock::time_point now);
    void on_event(std::size_t index, std::uint32_t events);
    void close_client(std::size_t index, const std::string& why);
    void drop_corrupt(std::size_t index, const std::string& description);
    void watch(std::size_t index, bool writable);

    // Requests and replies.
    void issue(std::size_t index, Clock::time_point issued, bool measured);
    void flush(std::size_t index);
    void receive(std::size_t index);
    bool verify(std::size_t index, std::string_view bytes);
    std::string describe_corruption(std::size_t index, const Request& request, std::size_t from,
                                    std::string_view got) const;
    void on_reply(std::size_t index, const Request& request, Clock::time_point now);
    void refill_closed_loop(std::size_t index, Clock::time_point now);
    void send_scheduled(Clock::time_point now);
    void restart_churners(Clock::time_point now);

    const LoadSpec& spec_;
    const LoadHooks& hooks_;
    Payloads payloads_;
    std::vector<Client> clients_;
    std::vector<char> receive_buffer_ = std::vector<char>(64 * 1024);
    iolab::UniqueFd epoll_;
    sockaddr_in address_{};
    LoadResult result_;

    Phase phase_ = Phase::RampIn;
    Clock::time_point started_, window_opens_, window_closes_, drain_ends_;
    Clock::time_point last_progress_;  // ramp-in: last time a connection was answered or refused
    std::size_t next_to_open_ = 0;
    int awaiting_first_reply_ = 0;  // opened, neither answered nor refused yet
    double client_cpu_at_open_ = 0;
    std::vector<Clock::time_point> lost_;  // measured requests on connections that closed

    // Open loop: request j of the schedule leaves at schedule_start_ + j / rate,
    // on the connections in turn.
    Clock::time_point schedule_start_;
    std::uint64_t next_scheduled_ = 0;
    std::vector<std::size_t> schedule_targets_;
    std::size_t next_target_ = 0;
};

LoadResult LoadGenerator::run() {
    started_ = last_progress_ = Clock::now();
    if (spec_.mode == LoadMode::Churn)
        end_ramp_in(started_);  // churn opens its connections as it goes
    while (phase_ != Phase::Done) {
        Clock::time_point now = Clock::now();
        advance_phase(now);
        if (phase_ == Phase::Done) break;
        if (phase_ == Phase::RampIn) open_more_connections(now);
        if (spec_.mode == LoadMode::OpenLoop &&
            (phase_ == Phase::Warmup || phase_ == Phase::Measure))
            send_scheduled(now);
        if (spec_.mode == LoadMode::Churn && issuing()) restart_churners(now);
        wait_for_events(next_wakeup(now));
    }
    if (hooks_.finished) hooks_.finished();
    return std::move(result_);
}

bool LoadGenerator::ramp_in_finished(Clock::time_point now) const {
    bool all_opened = next_to_open_ == clients_.size();
    if (all_opened && awaiting_first_reply_ == 0) return true;
    Duration limit = spec_.ramp_limit + std::chrono::milliseconds(spec_.connections);
    return now - last_progress_ >= spec_.stall_limit || now - started_ >= limit;
}

void LoadGenerator::end_ramp_in(Clock::time_point now) {
    bool complete = next_to_open_ == clients_.size() && awaiting_first_reply_ == 0;
    if (!complete && spec_.mode != LoadMode::Churn) {
        char text[96];
        if (now - last_progress_ >= spec_.stall_limit)
            std::snprintf(text, sizeof text, "no connection answered or refused for %.1f s",
                          seconds(spec_.stall_limit));
        else
            std::snprintf(text, sizeof text, "the ramp-in reached its limit of %.0f s",
                          seconds(now - started_));
        result_.ramp_stopped = text;
    }
    result_.ramp_seconds = seconds(now - started_);
    window_opens_ = now + spec_.warmup;
    window_closes_ = window_opens_ + spec_.measure;
    drain_ends_ = window_closes_ + spec_.drain_limit;
    phase_ = Phase::Warmup;
    if (spec_.mode == LoadMode::ClosedLoop) {
        for (std::size_t i = 0; i < clients_.size(); ++i) {
            if (clients_[i].state != Client::Open) continue;
            refill_closed_loop(i, now);
            flush(i);
        }
    }
    if (spec_.mode == LoadMode::OpenLoop) {
        schedule_start_ = now;
        for (std::size_t i = 0; i < clients_.size(); ++i)
            if (clients_[i].state == Client::Open && !is_idle(i)) schedule_targets_.push_back(i);
    }
}

void LoadGenerator::advance_phase(Clock::time_point now) {
    if (phase_ == Phase::RampIn && ramp_in_finished(now)) end_ramp_in(now);
    if (phase_ == Phase::Warmup && now >= window_opens_) {
        phase_ = Phase::Measure;
        client_cpu_at_open_ = thread_cpu_seconds();
        if (hooks_.window_opened) hooks_.window_opened();
    }
    if (phase_ == Phase::Measure && now >= window_closes_) {
        phase_ = Phase::Drain;
        result_.client_cpu_seconds = thread_cpu_seconds() - client_cpu_at_open_;
        result_.window_seconds = seconds(now - window_opens_);
        if (hooks_.window_closed) hooks_.window_closed();
    }
    if (phase_ == Phase::Drain) {
        bool measured_outstanding = false;
        for (const Client& client : clients_)
            for (const Request& request : client.in_flight)
                measured_outstanding = measured_outstanding || request.measured;
        if (!measured_outstanding || now >= drain_ends_) finish(now);
    }
}

// Every measured request without its reply counts at the age it reached.
void LoadGenerator::finish(Clock::time_point now) {
    phase_ = Phase::Done;
    for (Client& client : clients_) {
        for (const Request& request : client.in_flight) {
            if (!request.measured) continue;
            result_.latency_ns.record(nanoseconds(now - request.issued));
            ++result_.unanswered;
        }
        std::size_t index = static_cast<std::size_t>(&client - clients_.data());
        if (spec_.mode != LoadMode::Churn) {
            if (client.state == Client::Connecting) ++result_.still_connecting;
            if (client.state == Client::Open && !client.answered) ++result_.waiting;
            if (client.state == Client::Open && client.answered && !client.answered_under_load &&
                !is_idle(index))
                ++result_.starved;
        }
        // An idle connection is served when the server still holds it, answered once.
        bool held = is_idle(index) && client.state == Client::Open && client.answered;
        if (client.answered_under_load || held) ++result_.served;
    }
    for (Clock::time_point issued : lost_) {
        result_.latency_ns.record(nanoseconds(now - issued));
        ++result_.unanswered;
    }
    count_fairness();
}

void LoadGenerator::count_fairness() {
    std::vector<std::uint64_t> replies;
    for (std::size_t i = 0; i < clients_.size(); ++i)
        if (!is_idle(i) && (clients_[i].sequence > 0 || clients_[i].state != Client::Unopened))
            replies.push_back(clients_[i].measured_replies);
    if (replies.empty()) return;
    std::sort(replies.begin(), replies.end());
    result_.per_connection_min = replies.front();
    result_.per_connection_median = replies[replies.size() / 2];
    result_.per_connection_max = replies.back();
    result_.unserved_in_window =
        static_cast<int>(std::count(replies.begin(), replies.end(), std::uint64_t{0}));
}

Clock::time_point LoadGenerator::next_wakeup(Clock::time_point now) const {
    Clock::time_point wake = now + 50ms;  // bounded, so that phases advance on time
    switch (phase_) {
    case Phase::RampIn: wake = std::min(wake, last_progress_ + spec_.stall_limit); break;
    case Phase::Warmup: wake = std::min(wake, window_opens_); break;
    case Phase::Measure: wake = std::min(wake, window_closes_); break;
    case Phase::Drain: wake = std::min(wake, drain_ends_); break;
    case Phase::Done: break;
    }
    if (spec_.mode == LoadMode::OpenLoop && (phase_ == Phase::Warmup || phase_ == Phase::Measure))
        wake = std::min(
            wake, schedule_start_ + std::chrono::nanoseconds(static_cast<long long>(
                                        static_cast<double>(next_scheduled_) * 1e9 / spec_.rate)));
    if (spec_.mode == LoadMode::Churn && issuing())
        for (const Client& client : clients_)
            if (client.state == Client::Unopened) wake = std::min(wake, client.reconnect_at);
    return wake;
}

void LoadGenerator::wait_for_events(Clock::time_point until) {
    epoll_event events[256];
    auto wait = std::max(Duration::zero(), until - Clock::now());
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
    // epoll_pwait2 takes a timespec: the open loop needs finer than epoll_wait's milliseconds.
    timespec timeout{static_cast<time_t>(ns / 1'000'000'000),
                     static_cast<long>(ns % 1'000'000'000)};
    int ready = ::epoll_pwait2(epoll_.get(), events, 256, &timeout, nullptr);
    if (ready < 0 && errno == ENOSYS)
        ready =
            ::epoll_wait(epoll_.get(), events, 256, static_cast<int>((ns + 999'999) / 1'000'000));
    if (ready < 0) {
        if (errno == EINTR) return;
        fail("epoll_wait");
    }
    for (int i = 0; i < ready; ++i) on_event(events[i].data.u32, events[i].events);
}

// ---- connections ----------------------------------------------------------

void LoadGenerator::open_more_connections(Clock::time_point now) {
    while (next_to_open_ < clients_.size() && awaiting_first_reply_ < spec_.ramp_window) {
        std::size_t index = next_to_open_++;
        ++awaiting_first_reply_;
        start_connecting(index, now);
    }
}

void LoadGenerator::start_connecting(std::size_t index, Clock::time_point now) {
    Client& client = clients_[index];
    Client fresh;  // churn reuses the slot: keep its count and its record
    fresh.sequence = client.sequence;
    fresh.answered_under_load = client.answered_under_load;
    fresh.measured_replies = client.measured_replies;
    client = std::move(fresh);
    ++result_.opened;
    if (spec_.mode == LoadMode::Churn) {
        // The attempt is the request: its latency runs from here.
        client.in_flight.push_back({now, client.sequence, payloads_.pick(index, client.sequence),
                                    phase_ == Phase::Measure});
    }
    client.fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!client.fd) {
        if (errno != EMFILE && errno != ENFILE) fail("socket");
        close_client(index, "socket: out of descriptors in the load generator");
        return;
    }
    int on = 1;
    ::setsockopt(client.fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    client.state = Client::Connecting;
    epoll_event event{EPOLLOUT, {.u32 = static_cast<std::uint32_t>(index)}};
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, client.fd.get(), &event) < 0) fail("epoll_ctl");
    client.watching_writable = true;
    if (::connect(client.fd.get(), reinterpret_cast<const sockaddr*>(&address_), sizeof address_) ==
        0) {
        on_connected(index, now);
    } else if (errno != EINPROGRESS) {
        close_client(index, std::string("connect: ") + std::strerror(errno));
    }
}

void LoadGenerator::on_connected(std::size_t index, Clock::time_point now) {
    Client& client = clients_[index];
    client.state = Client::Open;
    watch(index, false);
    switch (spec_.mode) {
    case LoadMode::ClosedLoop: refill_closed_loop(index, now); break;
    case LoadMode::
        OpenLoop:  // one request to see it answered; the schedule starts after the ramp-in
        issue(index, now, false);
        break;
    case LoadMode::Churn:  // the attempt's request was queued in start_connecting()
        client.unsent = 1;
        ++client.sequence;
        break;
    }
    flush(index);
}

void LoadGenerator::on_event(std::size_t index, std::uint32_t events) {
    Client& client = clients_[index];
    if (client.state == Client::Connecting) {
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(client.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) close_client(index, std::string("connect: ") + std::strerror(error));
        else on_connected(index, Clock::now());
        return;
    }
    if (client.state != Client::Open) return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) receive(index);
    if (clients_[index].state == Client::Open && (events & EPOLLOUT)) flush(index);
}

void LoadGenerator::watch(std::size_t index, bool writable) {
    Client& client = clients_[index];
    if (client.watching_writable == writable) return;
    epoll_event event{EPOLLIN | (writable ? EPOLLOUT : 0u),
                      {.u32 = static_cast<std::uint32_t>(index)}};
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, client.fd.get(), &event) < 0) fail("epoll_ctl");
    client.watching_writable = writable;
}

// A reply differed: the stream cannot be trusted past it, so the load
// generator closes the connection itself and records what it saw.
void LoadGenerator::drop_corrupt(std::size_t index, const std::string& description) {
    ++result_.corrupt_replies;
    if (result_.corruption.empty()) result_.corruption = description;
    Client& client = clients_[index];
    if (!client.answered && spec_.mode != LoadMode::Churn) --awaiting_first_reply_;
    for (const Request& request : client.in_flight)
        if (request.measured) lost_.push_back(request.issued);
    client.in_flight.clear();
    client.unsent = client.first_unsent_sent = 0;
    client.fd.reset();
    client.state =
        Client::Closed;  // in churn mode too: a server that corrupts replies is not loaded further
}

// The server closed or reset the connection, or it failed: it is not reopened
// (except in churn mode, where every connection ends and a new one starts).
void LoadGenerator::close_client(std::size_t index, const std::string& why) {
    Client& client = clients_[index];
    bool answered = client.answered;
    if (!answered) {
        ++result_.refused;
        if (spec_.mode != LoadMode::Churn) {
            --awaiting_first_reply_;
            last_progress_ = Clock::now();
        }
    } else {
        ++result_.closed_after_reply;
    }
    if (result_.first_connection_error.empty()) result_.first_connection_error = why;
    for (const Request& request : client.in_flight)
        if (request.measured) lost_.push_back(request.issued);
    client.in_flight.clear();
    client.unsent = client.first_unsent_sent = 0;
    client.fd.reset();  // also takes it out of the epoll set
    client.state = Client::Closed;
    if (spec_.mode == LoadMode::Churn) {
        // A refused attempt is retried a little later, not in a tight loop.
        client.state = Client::Unopened;
        client.reconnect_at = Clock::now() + 10ms;
    }
}

// ---- requests and replies ---------------------------------------------------

void LoadGenerator::issue(std::size_t index, Clock::time_point issued, bool measured) {
    Client& client = clients_[index];
    client.in_flight.push_back(
        {issued, client.sequence, payloads_.pick(index, client.sequence), measured});
    ++client.sequence;
    ++client.unsent;
}

// Sends the requests not sent yet, up to 64 lines per system call.
void LoadGenerator::flush(std::size_t index) {
    Client& client = clients_[index];
    const std::size_t line_bytes = payloads_.line_bytes();
    while (client.unsent > 0) {
        iovec pieces[64];
        std::size_t first = client.in_flight.size() - client.unsent;
        std::size_t count = std::min<std::size_t>(client.unsent, 64);
        for (std::size_t k = 0; k < count; ++k) {
            std::string_view line = payloads_.line(client.in_flight[first + k].payload);
            if (k == 0) line.remove_prefix(client.first_unsent_sent);
            pieces[k] = {const_cast<char*>(line.data()), line.size()};
        }
        msghdr message{};
        message.msg_iov = pieces;
        message.msg_iovlen = count;
        ssize_t sent = count == 1 ? ::send(client.fd.get(), pieces[0].iov_base, pieces[0].iov_len,
                                           MSG_NOSIGNAL)
                                  : ::sendmsg(client.fd.get(), &message, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                watch(index, true);
                return;
            }  // the server is not reading: wait for room
            close_client(index, std::string("send: ") + std::strerror(errno));
            return;
        }
        for (auto left = static_cast<std::size_t>(sent); left > 0;) {
            std::size_t rest = line_bytes - client.first_unsent_sent;
            if (left < rest) {
                client.first_unsent_sent += left;
                break;
            }
            left -= rest;
            client.first_unsent_sent = 0;
            --client.unsent;
        }
    }
    watch(index, false);
}

void LoadGenerator::receive(std::size_t index) {
    Client& client = clients_[index];
    char* buffer = receive_buffer_.data();
    ssize_t got = ::recv(client.fd.get(), buffer, receive_buffer_.size(), 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (got <= 0) {
        close_client(index, got == 0 ? "the server closed the connection"
                                     : std::string("recv: ") + std::strerror(errno));
        return;
    }
    if (!verify(index, {buffer, static_cast<std::size_t>(got)})) return;
    if (clients_[index].state == Client::Open && clients_[index].unsent > 0) flush(index);
}

// Checks `bytes` against the requests in flight, in order, and completes the
// ones they finish. Returns false if the connection was closed.
bool LoadGenerator::verify(std::size_t index, std::string_view bytes) {
    Client& client = clients_[index];
    Clock::time_point now = Clock::now();
    const std::size_t line = payloads_.line_bytes();
    while (!bytes.empty()) {
        if (client.in_flight.empty()) {
            drop_corrupt(index, "connection " + std::to_string(index) + ": the server sent " +
                                    std::to_string(bytes.size()) +
                                    " bytes that answer no request: " + show(bytes, 40));
            return false;
        }
        Request request = client.in_flight.front();
        std::string_view piece = bytes.substr(0, line - client.reply_progress);
        if (!payloads_.matches(request.payload, client.reply_progress, piece)) {
            drop_corrupt(index, describe_corruption(index, request, client.reply_progress, piece));
            return false;
        }
        bytes.remove_prefix(piece.size());
        client.reply_progress += piece.size();
        if (client.reply_progress < line) break;
        client.reply_progress = 0;
        client.in_flight.pop_front();
        on_reply(index, request, now);
        if (clients_[index].state != Client::Open) return false;
    }
    return true;
}

// "connection 3, reply to its request 100 (a 64-byte line): byte 17 is "a", expected "b" (...)".
std::string LoadGenerator::describe_corruption(std::size_t index, const Request& request,
                                               std::size_t from, std::string_view got) const {
    std::string expected(payloads_.line(request.payload).substr(from, got.size()));
    std::size_t at = 0;
    while (at < got.size() && got[at] == expected[at]) ++at;
    return "connection " + std::to_string(index) + ", reply to its request " +
           std::to_string(request.sequence + 1) + " (a " + std::to_string(payloads_.line_bytes()) +
           "-byte line): byte " + std::to_string(from + at) + " is " + show(got.substr(at, 1)) +
           ", expected " + show(std::string_view(expected).substr(at, 1)) + " (from there: got " +
           show(got.substr(at), 24) + ", expected " +
           show(std::string_view(expected).substr(at), 24) + ")";
}

void LoadGenerator::on_reply(std::size_t index, const Request& request, Clock::time_point now) {
    Client& client = clients_[index];
    if (!client.answered) {
        client.answered = true;
        ++result_.answered_connections;
        if (spec_.mode != LoadMode::Churn) {
            --awaiting_first_reply_;
            last_progress_ = now;
        }
    }
    if (phase_ != Phase::RampIn) client.answered_under_load = true;
    if (request.measured) {
        ++result_.answered;
        ++client.measured_replies;
        result_.reply_bytes += payloads_.line_bytes();
        result_.latency_ns.record(nanoseconds(now - request.issued));
    }
    switch (spec_.mode) {
    case LoadMode::ClosedLoop: refill_closed_loop(index, now); break;
    case LoadMode::OpenLoop: break;
    case LoadMode::Churn:  // done with this connection: close it, a new one follows
        client.fd.reset();
        client.state = Client::Unopened;
        client.reconnect_at = now;
        client.answered = false;
        break;
    }
}

// During the ramp-in a connection sends only its first request: the server's
// time goes to taking the new connections in, however many are already in.
void LoadGenerator::refill_closed_loop(std::size_t index, Clock::time_point now) {
    Client& client = clients_[index];
    if (!issuing() || (phase_ == Phase::RampIn && client.answered)) return;
    if (is_idle(index) && client.answered) return;  // its one request is behind it
    while (client.in_flight.size() < static_cast<std::size_t>(spec_.pipeline))
        issue(index, now, phase_ == Phase::Measure);
}

void LoadGenerator::send_scheduled(Clock::time_point now) {
    Clock::time_point schedule_ends = window_closes_;
    for (;;) {
        auto due = schedule_start_ + std::chrono::nanoseconds(static_cast<long long>(
                                         static_cast<double>(next_scheduled_) * 1e9 / spec_.rate));
        if (due > now || due >= schedule_ends) return;
        // The next connection still open, in turn; the closed ones leave the rotation.
        while (!schedule_targets_.empty() &&
               clients_[schedule_targets_[next_target_ % schedule_targets_.size()]].state !=
                   Client::Open)
            schedule_targets_.erase(schedule_targets_.begin() +
                                    static_cast<long>(next_target_ % schedule_targets_.size()));
        if (schedule_targets_.empty()) return;
        std::size_t index = schedule_targets_[next_target_++ % schedule_targets_.size()];
        ++next_scheduled_;
        bool measured = due >= window_opens_;
        if (measured) result_.send_lag_ns.record(nanoseconds(now - due));
        issue(index, due, measured);
        flush(index);
    }
}

void LoadGenerator::restart_churners(Clock::time_point now) {
    for (std::size_t i = 0; i < clients_.size(); ++i)
        if (clients_[i].state == Client::Unopened && clients_[i].reconnect_at <= now)
            start_connecting(i, now);
}

}  // namespace

LoadResult run_load(const LoadSpec& spec, const LoadHooks& hooks) {
    LoadGenerator generator(spec, hooks);
    return generator.run();
}

}  // namespace checker::bench
