#include "talk.hpp"
#include "text.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>
#include <ostream>
#include <system_error>

namespace checker {

namespace {

struct Request {
    std::string line;  // as sent, without its newline
    Clock::time_point sent;
    bool overdue = false;  // reported as unanswered; a late reply is marked so
};

std::string format_took(Duration took) {
    double ms = seconds(took) * 1000;
    return ms < 1000 ? fixed(ms, 1) + " ms" : fixed(ms / 1000, 2) + " s";
}

// Why a Talk ends, and the exit status that goes with it.
struct Ended {
    int status;
};

class Talk {
public:
    Talk(Connection connection, const TalkOptions& options, int input, std::ostream& out)
        : connection_(std::move(connection)), options_(options), input_(input), out_(out) {}

    int run() {
        try {
            for (;;) {
                wait_for_something();
                report_overdue();
                give_up_if_no_close();
                out_.flush();  // a pipe shows each reply as it comes
            }
        } catch (const Ended& ended) {
            return ended.status;
        }
    }

private:
    // One poll() on the input and the socket, bounded by the next deadline.
    void wait_for_something() {
        pollfd fds[2] = {{input_open_ ? input_ : -1, POLLIN, 0}, {connection_.fd(), POLLIN, 0}};
        int ready = ::poll(fds, 2, next_deadline_ms());
        if (ready < 0 && errno != EINTR)
            throw std::system_error(errno, std::generic_category(), "poll");
        if (ready <= 0) return;
        if (fds[1].revents) read_replies();
        if (fds[0].revents) read_input();
    }

    // Until the oldest unanswered request is overdue, or the server should have closed.
    int next_deadline_ms() const {
        std::optional<Clock::time_point> next;
        for (const Request& request : waiting_)
            if (!request.overdue) {
                next = request.sent + options_.reply_wait;
                break;
            }
        if (!input_open_ && (!next || close_by_ < *next)) next = close_by_;
        return next ? Deadline::at(*next).remaining_ms() : -1;
    }

    void read_input() {
        char buffer[4096];
        ssize_t got = ::read(input_, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) return;
        if (got <= 0) return end_input();
        typed_.append(buffer, static_cast<std::size_t>(got));
        for (std::size_t end; (end = typed_.find('\n')) != std::string::npos;) {
            send(typed_.substr(0, end), true);
            typed_.erase(0, end + 1);
        }
    }

    // End of input: a last partial line goes as it is, then the half-close
    // tells the server that nothing more comes.
    void end_input() {
        if (!typed_.empty()) send(typed_, false);
        typed_.clear();
        input_open_ = false;
        ::shutdown(connection_.fd(), SHUT_WR);
        close_by_ = Clock::now() + options_.reply_wait;
    }

    void send(const std::string& line, bool newline) {
        waiting_.push_back({line, Clock::now()});
        try {
            connection_.send(newline ? line + "\n" : line, Deadline(options_.reply_wait));
        } catch (const TestFailure& failure) {
            out_ << failure.what() << "\n";
            throw Ended{1};
        }
    }

    void read_replies() {
        char buffer[64 * 1024];
        ssize_t got = ::recv(connection_.fd(), buffer, sizeof buffer, MSG_DONTWAIT);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (got < 0) {
            out_ << "the connection was reset (" << std::strerror(errno) << ")\n";
            throw Ended{1};
        }
        if (got == 0) return server_closed();
        received_.append(buffer, static_cast<std::size_t>(got));
        for (std::size_t end; (end = received_.find('\n')) != std::string::npos;) {
            print_reply(received_.substr(0, end));
            received_.erase(0, end + 1);
        }
    }

    void print_reply(const std::string& reply) {
        out_ << show(reply, 200) << "   (";
        if (waiting_.empty()) {
            out_ << "not a reply to any line sent)\n";
            return;
        }
        const Request& request = waiting_.front();
        out_ << format_took(Clock::now() - request.sent) << (request.overdue ? ", late" : "")
             << ")\n";
        waiting_.pop_front();
    }

    [[noreturn]] void server_closed() {
        if (!received_.empty()) print_reply(received_);
        out_ << "the server closed the connection";
        if (!waiting_.empty()) out_ << " (" << waiting_.size() << " line(s) sent got no reply)";
        out_ << "\n";
        throw Ended{0};
    }

    void report_overdue() {
        for (Request& request : waiting_)
            if (!request.overdue && Clock::now() - request.sent >= options_.reply_wait) {
                request.overdue = true;
                out_ << "no reply to " << show(request.line, 60) << " within "
                     << fixed(seconds(options_.reply_wait), 1)
                     << " s; going on (a late reply is still shown)\n";
            }
    }

    void give_up_if_no_close() {
        if (input_open_ || Clock::now() < close_by_) return;
        out_ << "the input ended, and the server did not close the connection within "
             << fixed(seconds(options_.reply_wait), 1) << " s\n";
        throw Ended{0};
    }

    Connection connection_;
    const TalkOptions& options_;
    int input_;
    std::ostream& out_;
    bool input_open_ = true;
    Clock::time_point close_by_{};
    std::string typed_;     // input not yet ended by a newline
    std::string received_;  // reply bytes not yet ended by a newline
    std::deque<Request> waiting_;
};

}  // namespace

int talk(const TalkOptions& options, int input, std::ostream& out, std::ostream& err) {
    Connection connection;
    std::string why;
    if (!Connection::try_open(options.server, Deadline(options.reply_wait), connection, why)) {
        err << "checker talk: " << why
            << " (is the server running? e.g. build/labs/blocking --port " << options.server.port
            << ")\n";
        return 2;
    }
    if (::isatty(input))
        err << "connected to " << options.server.str()
            << ": type lines, each reply shows how long it took; Ctrl-D ends\n";
    return Talk(std::move(connection), options, input, out).run();
}

}  // namespace checker
