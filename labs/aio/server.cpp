// POSIX AIO server: the proactor model. Completion, not readiness.
//
// A reactor (select, poll, epoll) asks the kernel which sockets may be read
// without blocking, then calls recv() itself. A proactor hands over the whole
// operation, "read into this buffer" or "write these bytes", and is told later
// that it is done, with the result. Here every read and write on a connected
// socket is an aio_read() or aio_write(); each completion is queued as a
// real-time signal (SIGEV_SIGNAL) that one loop takes with sigwaitinfo(). All
// protocol logic runs on that loop; no code of this file waits in recv or send.
//
// POSIX has no asynchronous accept(): a thread of its own blocks in accept().
// On Linux, glibc performs each request in a thread of its own pool, with an
// ordinary blocking read() or write(): an idle client holds a pool thread for
// as long as its read is pending. The pool is sized from --workers with
// aio_init(), and no more clients are accepted than it has threads.
//
// Compare with solutions/poll/server.cpp (readiness: the loop calls recv and
// send itself) and solutions/threads/server.cpp (a thread per client, which is
// what glibc's AIO amounts to on sockets). labs/aio/README.md has the figures.
#include "errors.hpp"
#include "line_protocol.hpp"
#include "request_work.hpp"
#include "server_main.hpp"
#include "shutdown.hpp"

#include <aio.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

using namespace iolab;
using namespace std::chrono_literals;

// Bytes asked of one aio_read(). No read is issued while replies are still
// being written (backpressure), so a connection holds at most one chunk, one
// partial line (LineProtocol::kMaxLine) and the replies to one chunk.
constexpr std::size_t kChunk = 16 * 1024;

// glibc's AIO pool when --workers is 0 (glibc's own default is 20 threads).
// Each connection keeps one request in flight, so this is also how many
// clients are served at once; the next ones wait in the listen backlog.
constexpr int kDefaultPool = 64;

// How long shutdown waits for the requests that could not be cancelled.
constexpr auto kDrainBudget = 500ms;

// The completion signal. SIGRTMIN is not a constant: glibc keeps the first
// real-time signals for itself.
int completion_signal() { return SIGRTMIN; }

// One client. It has exactly one request in flight, a read or a write, from the
// moment it is accepted until it is freed: the read buffer, the replies being
// written and the aiocb itself all belong to glibc's pool until the completion
// arrives, and a Connection is only ever freed after that.
struct Connection {
    explicit Connection(UniqueFd fd) : socket(std::move(fd)), watch(socket.get()) {}

    UniqueFd socket;
    ShutdownWatch watch;          // SIGTERM shuts the socket down: a read blocked in the pool returns
    // The request in flight. On the heap: glibc's aiocb ends in a zero-length
    // array, which ISO C++ does not allow inside another struct.
    const std::unique_ptr<aiocb> request = std::make_unique<aiocb>();
    bool writing = false;         // ... is an aio_write (else an aio_read)
    char input[kChunk];           // aio_read's destination
    LineProtocol protocol;
    std::string output;           // replies not yet written
    std::size_t written = 0;      // bytes of `output` already written
    bool eof = false;             // the client has half-closed
};

// The completion queue. glibc queues one real-time signal per finished request,
// carrying its Connection in si_value. The signal is blocked in every thread,
// so no handler ever runs: it waits in the process's signal queue until
// sigwaitinfo() takes it, one at a time, on the loop's thread.
class CompletionQueue {
public:
    // Call before starting any thread: the threads inherit the blocked signal
    // (glibc's pool threads block every signal anyway).
    CompletionQueue() {
        sigemptyset(&signals_);
        sigaddset(&signals_, completion_signal());
        if (int error = ::pthread_sigmask(SIG_BLOCK, &signals_, nullptr)) {
            errno = error;
            throw_errno("pthread_sigmask");
        }
    }

    // The Connection whose request finished; null when interrupted (SIGTERM),
    // woken by wake_up(), or nothing came within `timeout` (if given).
    void* wait(std::chrono::nanoseconds timeout = -1ns) {
        siginfo_t info{};
        int received;
        if (timeout < 0ns) {
            received = ::sigwaitinfo(&signals_, &info);
        } else {
            timespec limit{static_cast<time_t>(timeout / 1s), static_cast<long>((timeout % 1s).count())};
            received = ::sigtimedwait(&signals_, &info, &limit);
        }
        return received == completion_signal() ? info.si_value.sival_ptr : nullptr;
    }

    // Wakes wait() from another thread.
    static void wake_up() { ::sigqueue(::getpid(), completion_signal(), sigval{}); }

private:
    sigset_t signals_;
};

// The live connections: the acceptor thread adds them, the completion loop
// removes them. Also the limit on how many there are at once.
class ConnectionTable {
public:
    explicit ConnectionTable(std::size_t capacity) : capacity_(capacity) {}

    // Waits until a client may be added; false once closed.
    bool wait_for_room() {
        std::unique_lock lock(mutex_);
        room_.wait(lock, [&] { return closed_ || connections_.size() < capacity_; });
        return !closed_;
    }

    // Adds the connection once `start(connection)` has put its first request
    // in flight; under the lock, so that its completion cannot be looked up
    // before it is in the table. Closes it at once if that fails.
    template <typename Start>
    void add(std::unique_ptr<Connection> connection, Start start) {
        std::lock_guard lock(mutex_);
        if (start(*connection)) connections_.emplace(connection.get(), std::move(connection));
    }

    // The connection a completion names, or null if it is not in the table.
    Connection* find(void* key) {
        std::lock_guard lock(mutex_);
        auto found = connections_.find(static_cast<Connection*>(key));
        return found == connections_.end() ? nullptr : found->second.get();
    }

    // Frees a connection whose request has completed, closing its socket.
    void remove(Connection* connection) {
        std::unique_ptr<Connection> freed;
        {
            std::lock_guard lock(mutex_);
            auto found = connections_.find(connection);
            if (found == connections_.end()) return;
            freed = std::move(found->second);
            connections_.erase(found);
        }
        room_.notify_one();
    }

    template <typename Visit>
    void for_each(Visit visit) {
        std::lock_guard lock(mutex_);
        for (auto& [key, connection] : connections_) visit(*connection);
    }

    std::size_t size() {
        std::lock_guard lock(mutex_);
        return connections_.size();
    }

    // No more clients: wakes the acceptor if it waits for room.
    void close() {
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        room_.notify_all();
    }

    // Lets go of the connections without freeing them: for requests that are
    // still in flight when the process exits, whose buffers glibc may still write.
    void abandon() {
        std::lock_guard lock(mutex_);
        for (auto& [key, connection] : connections_) connection.release();
        connections_.clear();
    }

private:
    std::mutex mutex_;
    std::condition_variable room_;
    std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
    std::size_t capacity_;
    bool closed_ = false;
};

// The request fields every read and write share: which socket, which bytes,
// and how to be told of the completion (a signal naming the connection).
void prepare(Connection& connection, volatile void* buffer, std::size_t length) {
    aiocb& request = *connection.request;
    request = aiocb{};
    request.aio_fildes = connection.socket.get();
    request.aio_buf = buffer;
    request.aio_nbytes = length;
    request.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
    request.aio_sigevent.sigev_signo = completion_signal();
    request.aio_sigevent.sigev_value.sival_ptr = &connection;
}

// Sizes glibc's AIO pool; returns the number of threads, which is also the
// number of clients run() accepts at once.
int configure_aio_pool(const Options& options) {
    // TODO: Before the first request, aio_init() with aio_threads (and
    //       aio_num) set to --workers, or to kDefaultPool when it is 0. Return it.
    throw NotImplemented("labs/aio/server.cpp:219: see the TODO there");
}

// Puts the connection's one request in flight: a read into its input buffer.
// False if glibc refused it (the caller then closes the connection).
bool start_read(Connection& connection) {
    // TODO: prepare() the request for connection.input, note that it is
    //       not a write, and aio_read() it.
    throw NotImplemented("labs/aio/server.cpp:227: see the TODO there");
}

// Puts the connection's one request in flight: a write of the replies not yet
// written. False if glibc refused it.
bool start_write(Connection& connection) {
    // TODO: prepare() the request for connection.output from
    //       connection.written on, note that it is a write, and aio_write() it.
    throw NotImplemented("labs/aio/server.cpp:235: see the TODO there");
}

// A read completed with `result` bytes (0: the client half-closed). Replies
// are written before anything more is read: that is the backpressure that
// bounds a connection's memory. False when the connection is done.
bool read_done(Connection& connection, std::size_t result, const Options& options) {
    // TODO: Feed the bytes to connection.protocol (finish() at EOF), run
    //       simulate_request_work() once per request, then start_write() the
    //       replies; with none, start_read() again, or return false after EOF.
    throw NotImplemented("labs/aio/server.cpp:244: see the TODO there");
}

// A write completed with `result` bytes. False when the connection is done.
bool write_done(Connection& connection, std::size_t result) {
    // TODO: An aio_write may complete with fewer bytes than asked: count
    //       them and start_write() the rest. Once all is written, clear the output
    //       and start_read() the next chunk (or return false after EOF).
    throw NotImplemented("labs/aio/server.cpp:252: see the TODO there");
}

// One completion, taken from the queue: the connection carries on with its
// next request, or is closed and freed (its request has completed: nothing of
// it is in glibc's hands any more).
void on_completion(Connection& connection, ConnectionTable& table, const Options& options) {
    int error = ::aio_error(connection.request.get());
    if (error == EINPROGRESS) return;        // not finished: a stray signal
    ssize_t result = ::aio_return(connection.request.get());   // also releases glibc's record of it
    bool carry_on = error == 0 && !shutdown_requested() &&
                    (connection.writing ? write_done(connection, static_cast<std::size_t>(result))
                                        : read_done(connection, static_cast<std::size_t>(result), options));
    if (!carry_on) table.remove(&connection);
}

// Shutdown. No Connection may be freed while glibc may still write into its
// buffer or its aiocb. aio_cancel() takes back a request still queued; a read
// already blocked in a pool thread cannot be cancelled (AIO_NOTCANCELED), but
// shutting its socket down makes that read() return, and its completion comes.
void cancel_and_drain(ConnectionTable& table, CompletionQueue& completions) {
    // TODO: For each connection (table.for_each): shutdown() its socket,
    //       aio_cancel() its request. Then, for at most kDrainBudget, wait for
    //       completions and remove() every connection whose request is no longer
    //       EINPROGRESS. abandon() (never free) what is still in flight after that.
    throw NotImplemented("labs/aio/server.cpp:276: see the TODO there");
}

// POSIX has no aio_accept(): accepting stays a blocking call, in a thread of
// its own. Each new client gets its first aio_read() here.
class Acceptor {
public:
    Acceptor(Listener& listener, ConnectionTable& table)
        : thread_([this, &listener, &table] { accept_clients(listener, table); }) {}
    ~Acceptor() { stop(); }

    bool running() const { return running_.load(); }

    // Waits for the thread to end: close the table first (after SIGTERM the
    // listener is shut down, so accept() returns at once).
    void stop() {
        if (thread_.joinable()) thread_.join();
    }

    // What made the thread stop early, if anything (a listener that failed).
    void rethrow_error() const {
        if (error_) std::rethrow_exception(error_);
    }

private:
    void accept_clients(Listener& listener, ConnectionTable& table) {
        try {
            while (table.wait_for_room() && !shutdown_requested()) {
                UniqueFd client = listener.accept();   // returns empty after SIGTERM
                if (client) table.add(std::make_unique<Connection>(std::move(client)), start_read);
            }
        } catch (...) {
            error_ = std::current_exception();
        }
        running_.store(false);
        CompletionQueue::wake_up();
    }

    std::exception_ptr error_;
    std::atomic<bool> running_{true};
    std::thread thread_;              // last: starts once the members above exist
};

void run(Listener& listener, const Options& options) {
    int pool = configure_aio_pool(options);
    CompletionQueue completions;
    ConnectionTable table(static_cast<std::size_t>(pool));
    Acceptor acceptor(listener, table);
    while (!shutdown_requested() && acceptor.running())
        if (Connection* connection = table.find(completions.wait())) on_completion(*connection, table, options);
    table.close();
    acceptor.stop();          // no connection can be added after this
    cancel_and_drain(table, completions);
    acceptor.rethrow_error();
}

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(argc, argv,
                              {"aio", "POSIX AIO: completion, not readiness (the proactor)", true,
                               "glibc AIO pool threads, which is also how many clients are served at once "
                               "(0: 64)"},
                              run);
}
