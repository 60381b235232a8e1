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
// What any proactor does with a completion (feed the bytes to the protocol,
// queue the replies, choose the next operation) is CompletionConnection's, in
// labs/common/completion_connection.hpp, as io_uring would use it too: this
// file only submits the operations and reaps their completions.
//
// Compare with solutions/poll/server.cpp (readiness: the loop calls recv and
// send itself) and solutions/threads/server.cpp (a thread per client, which is
// what glibc's AIO amounts to on sockets). labs/aio/README.md has the figures.
#include "completion_connection.hpp"
#include "errors.hpp"
#include "server_main.hpp"
#include "shutdown.hpp"

#include <aio.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

namespace {

using namespace iolab;
using namespace std::chrono_literals;

// glibc's AIO pool when --workers is 0 (glibc's own default is 20 threads).
// Each connection keeps one request in flight, so this is also how many
// clients are served at once; the next ones wait in the listen backlog.
constexpr int kDefaultPool = 64;

// How long shutdown waits for the requests that could not be cancelled.
constexpr auto kDrainBudget = 500ms;

// The completion signal. SIGRTMIN is not a constant: glibc keeps the first
// real-time signals for itself.
int completion_signal() { return SIGRTMIN; }

// One client: the proactor's shared connection (labs/common/completion_connection.hpp:
// its buffers, the protocol, what to submit next), plus what POSIX AIO needs.
// CompletionConnection::next() never asks for a read while replies are
// pending, so there is exactly one request in flight, a read or a write, from
// the moment the connection is accepted until it is freed: one aiocb is enough.
struct Connection : CompletionConnection {
    explicit Connection(UniqueFd socket) : CompletionConnection(std::move(socket)), watch(fd()) {}

    ShutdownWatch watch;  // SIGTERM shuts the socket down: a read blocked in the pool returns
    // The request in flight. On the heap: glibc's aiocb ends in a zero-length
    // array, which ISO C++ does not allow inside another struct.
    const std::unique_ptr<aiocb> request = std::make_unique<aiocb>();
};

// The live connections: the acceptor thread adds them, the completion loop
// erases them. Also the limit on how many there are at once.
using ConnectionTable = CompletionTable<Connection>;

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
            timespec limit{static_cast<time_t>(timeout / 1s),
                           static_cast<long>((timeout % 1s).count())};
            received = ::sigtimedwait(&signals_, &info, &limit);
        }
        return received == completion_signal() ? info.si_value.sival_ptr : nullptr;
    }

    // Wakes wait() from another thread.
    static void wake_up() { ::sigqueue(::getpid(), completion_signal(), sigval{}); }

private:
    sigset_t signals_;
};

// The request fields every read and write share: which socket, which bytes,
// and how to be told of the completion (a signal naming the connection).
void prepare(Connection& connection, const void* buffer, std::size_t length) {
    aiocb& request = *connection.request;
    request = aiocb{};
    request.aio_fildes = connection.fd();
    request.aio_buf = const_cast<void*>(buffer);  // an aio_write only reads it
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
    throw NotImplemented("labs/aio/server.cpp:135: see the TODO there");
}

// Puts the connection's one request in flight: a read into its read buffer.
// False if glibc refused it.
bool start_read(Connection& connection) {
    // TODO: prepare() the request for connection.read_buffer(), aio_read()
    //       it, and once glibc has taken it tell the connection: submitted().
    throw NotImplemented("labs/aio/server.cpp:143: see the TODO there");
}

// Puts the connection's one request in flight: a write of the replies not yet
// written. False if glibc refused it.
bool start_write(Connection& connection) {
    // TODO: The same for connection.unsent_output() and aio_write().
    throw NotImplemented("labs/aio/server.cpp:151: see the TODO there");
}

// Submits what the connection asks for next (a write of pending replies, or
// else a read), if anything. False if glibc refused it.
bool submit_next(Connection& connection) {
    switch (connection.next()) {
    case Operation::read: return start_read(connection);
    case Operation::write: return start_write(connection);
    case Operation::none: break;
    }
    return true;
}

// One completion, taken from the queue: the connection carries on with its
// next request, or is closed and freed (its request has completed: nothing of
// it is in glibc's hands any more).
void on_completion(Connection& connection, ConnectionTable& table, const Options& options) {
    // TODO: aio_error(): EINPROGRESS is a stray signal, return. Else
    //       aio_return() (once: it releases glibc's record) and hand the result,
    //       -error if it failed, to on_write_complete() or on_read_complete()
    //       (write_in_flight() says which). Then stop() the connection if shutdown
    //       is requested or submit_next() fails; erase() it once finished().
    throw NotImplemented("labs/aio/server.cpp:170: see the TODO there");
}

// Shutdown. No Connection may be freed while glibc may still write into its
// buffer or its aiocb. aio_cancel() takes back a request still queued; a read
// already blocked in a pool thread cannot be cancelled (AIO_NOTCANCELED), but
// shutting its socket down makes that read() return, and its completion comes.
void cancel_and_drain(ConnectionTable& table, CompletionQueue& completions) {
    // TODO: For each connection (table.for_each): stop() it (that shuts
    //       its socket down), aio_cancel() its request. Then, for at most
    //       kDrainBudget, wait for completions; for every request no longer
    //       EINPROGRESS, aio_return() it, tell the connection on_cancelled(), and
    //       erase() it. abandon() (never free) what is still in flight after that.
    throw NotImplemented("labs/aio/server.cpp:183: see the TODO there");
}

// POSIX has no aio_accept(): accepting stays a blocking call, in a thread of
// its own. Each new client gets its first aio_read() here.
class Acceptor {
public:
    Acceptor(Listener& listener, ConnectionTable& table)
        : listener_(listener),
          table_(table),
          thread_([this, &listener, &table] { accept_clients(listener, table); }) {}
    // Leaving run() by an exception (a failure, or a part not written yet),
    // the thread must not keep the process waiting for room or in accept():
    // the table is closed, and the listener shut down (accept() returns).
    ~Acceptor() {
        if (std::uncaught_exceptions() > 0) {
            table_.close();
            ::shutdown(listener_.fd(), SHUT_RDWR);
        }
        stop();
    }

    bool running() const { return running_.load(); }

    // Waits for the thread to end: close the table first (after SIGTERM the
    // listener is shut down, so accept() returns at once).
    void stop() {
        if (thread_.joinable()) thread_.join();  // once: the destructor calls stop() too
    }

    // What made the thread stop early, if anything (a listener that failed).
    void rethrow_error() const {
        if (error_) std::rethrow_exception(error_);
    }

private:
    void accept_clients(Listener& listener, ConnectionTable& table) {
        try {
            while (table.wait_for_room() && !shutdown_requested()) {
                UniqueFd client = listener.accept();  // returns empty after SIGTERM
                if (client) table.add(std::make_unique<Connection>(std::move(client)), start_read);
            }
        } catch (...) {
            error_ = std::current_exception();
        }
        running_.store(false);
        CompletionQueue::wake_up();
    }

    Listener& listener_;
    ConnectionTable& table_;
    std::exception_ptr error_;
    std::atomic<bool> running_{true};
    std::thread thread_;  // last: starts once the members above exist
};

void run(Listener& listener, const Options& options) {
    int pool = configure_aio_pool(options);
    CompletionQueue completions;
    ConnectionTable table(static_cast<std::size_t>(pool));
    Acceptor acceptor(listener, table);
    while (!shutdown_requested() && acceptor.running())
        if (Connection* connection = table.find(completions.wait()))
            on_completion(*connection, table, options);
    table.close();
    acceptor.stop();  // no connection can be added after this
    cancel_and_drain(table, completions);
    acceptor.rethrow_error();
}

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(
        argc, argv,
        {"aio", "POSIX AIO: completion, not readiness (the proactor)", true,
         "glibc AIO pool threads, which is also how many clients are served at once "
         "(0: 64)"},
        run);
}
