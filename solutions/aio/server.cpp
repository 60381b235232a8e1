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
// BEGIN LAB 3: At this level, what any proactor does with a completion (feed the bytes to the
// protocol, queue the replies, choose the next operation) is yours to write too,
// in this file: see the comment above run().
// STUB:
// What any proactor does with a completion (feed the bytes to the protocol,
// queue the replies, choose the next operation) is CompletionConnection's, in
// labs/common/completion_connection.hpp, as io_uring would use it too: this
// file only submits the operations and reaps their completions.
// END LAB 3
//
// Compare with solutions/poll/server.cpp (readiness: the loop calls recv and
// send itself) and solutions/threads/server.cpp (a thread per client, which is
// what glibc's AIO amounts to on sockets). labs/aio/README.md has the figures.
// BEGIN LAB 3: Your own connection state (labs/common has no proactor's connection at this
// level): see the comment above run().
// STUB:
#include "completion_connection.hpp"
// END LAB 3
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
// BEGIN LAB 3: The whole server, in run(): a proactor on POSIX AIO. Every read and write on a
// client's socket is submitted whole (aio_read(), aio_write()) and reported done
// later; nothing here may wait in recv() or send(). Have each completion announced
// by a real-time signal that carries its connection, blocked in every thread
// (block it before starting any) and taken one at a time by a single loop with
// sigwaitinfo(): then all protocol work runs on one thread, without locks. POSIX
// has no asynchronous accept, so a thread of its own accepts. glibc runs each
// request as a blocking read() or write() in a pool thread: size the pool from
// --workers with aio_init(), and accept no more clients than it has threads, since
// an idle client holds one. The buffers and the request block are glibc's from
// submission to completion: free, move or reuse neither before then. Send the
// replies before reading more (backpressure), and carry on after a short write. On
// SIGTERM: a read blocked in a pool thread cannot be cancelled, but shutting its
// socket down ends it; wait a bounded time for the last completions, and never
// free what is still in flight. Exit 0 within a second. labs/aio/README.md
// explains each point.
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
    // BEGIN LAB 2: Fill in the request: which socket, which bytes, and how the completion is
    // announced. A request block may hold glibc's state of the previous request:
    // start from a clean one. The loop learns of completions only from the signal
    // queue, so the signal must carry the connection it is about (the completion
    // loop finds it by that value); any other way of notifying (a thread per
    // completion, polling) loses the one loop.
    // STUB: $THROW
    aiocb& request = *connection.request;
    request = aiocb{};
    request.aio_fildes = connection.fd();
    request.aio_buf = const_cast<void*>(buffer);  // an aio_write only reads it
    request.aio_nbytes = length;
    request.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
    request.aio_sigevent.sigev_signo = completion_signal();
    request.aio_sigevent.sigev_value.sival_ptr = &connection;
    // END LAB 2
}

// Sizes glibc's AIO pool; returns the number of threads, which is also the
// number of clients run() accepts at once.
int configure_aio_pool(const Options& options) {
    // BEGIN LAB 2: Size glibc's pool before the first request. glibc performs each request as
    // an ordinary blocking read() or write() in a thread of its pool, and a
    // connection keeps one request in flight all the time, an idle client's read
    // included: the pool's size (--workers, or kDefaultPool) is how many clients
    // are served at once, so it is also how many run() accepts.
    // STUB: $THROW
    // BEGIN LAB: Before the first request, aio_init() with aio_threads (and
    // aio_num) set to --workers, or to kDefaultPool when it is 0. Return it.
    int pool = options.workers > 0 ? options.workers : kDefaultPool;
    aioinit settings{};
    settings.aio_threads = pool;  // threads that block in read()/write() for us
    settings.aio_num = pool;      // requests expected at once
    settings.aio_idle_time = 1;   // seconds an idle pool thread lingers before it exits
    ::aio_init(&settings);        // glibc's extension; returns nothing
    return pool;
    // END LAB
    // END LAB 2
}

// Puts the connection's one request in flight: a read into its read buffer.
// False if glibc refused it.
bool start_read(Connection& connection) {
    // BEGIN LAB 2: Submit a read into the connection's read buffer. From now until its
    // completion the buffer and the request block are glibc's (THE RULE,
    // completion_connection.hpp). Tell the connection only once glibc has accepted
    // the request: a request it refused will never complete, and a connection that
    // believed it in flight would never be freed.
    // STUB: $THROW
    // BEGIN LAB: prepare() the request for connection.read_buffer(), aio_read()
    // it, and once glibc has taken it tell the connection: submitted().
    std::span<char> buffer = connection.read_buffer();
    prepare(connection, buffer.data(), buffer.size());
    if (::aio_read(connection.request.get()) != 0) return false;
    connection.submitted(Operation::read);
    return true;
    // END LAB
    // END LAB 2
}

// Puts the connection's one request in flight: a write of the replies not yet
// written. False if glibc refused it.
bool start_write(Connection& connection) {
    // BEGIN LAB 2: Submit a write of the replies not yet written, under the same rule as
    // start_read().
    // STUB: $THROW
    // BEGIN LAB: The same for connection.unsent_output() and aio_write().
    std::span<const char> bytes = connection.unsent_output();
    prepare(connection, bytes.data(), bytes.size());
    if (::aio_write(connection.request.get()) != 0) return false;
    connection.submitted(Operation::write);
    return true;
    // END LAB
    // END LAB 2
}

// Submits what the connection asks for next (a write of pending replies, or
// else a read), if anything. False if glibc refused it.
bool submit_next(Connection& connection) {
    // BEGIN LAB 2: Put in flight whatever the connection asks for next, if anything
    // (CompletionConnection::next() decides: replies before reads).
    // STUB: $THROW
    switch (connection.next()) {
    case Operation::read: return start_read(connection);
    case Operation::write: return start_write(connection);
    case Operation::none: break;
    }
    return true;
    // END LAB 2
}

// One completion, taken from the queue: the connection carries on with its
// next request, or is closed and freed (its request has completed: nothing of
// it is in glibc's hands any more).
void on_completion(Connection& connection, ConnectionTable& table, const Options& options) {
    // BEGIN LAB 2: The completion handler. A signal may come for a request that is not finished
    // (a stray one): ignore it. Otherwise collect the result exactly once (glibc
    // keeps a record of each request until then), and give it, as a byte count or
    // -errno, to the connection's read or write handler, whichever operation was
    // in flight. Then keep the connection going with its next operation; stop it
    // if that cannot be submitted or the server is shutting down. Free it only
    // once nothing of it is in flight and nothing is left to do: glibc may
    // otherwise still write into its buffer.
    // STUB: $THROW
    // BEGIN LAB: aio_error(): EINPROGRESS is a stray signal, return. Else
    // aio_return() (once: it releases glibc's record) and hand the result,
    // -error if it failed, to on_write_complete() or on_read_complete()
    // (write_in_flight() says which). Then stop() the connection if shutdown
    // is requested or submit_next() fails; erase() it once finished().
    int error = ::aio_error(connection.request.get());
    if (error == EINPROGRESS) return;  // not finished: a stray signal
    ssize_t returned = ::aio_return(connection.request.get());
    long result = error != 0 ? -error : returned;
    if (connection.write_in_flight()) connection.on_write_complete(result);
    else connection.on_read_complete(result, options);  // the protocol, on this thread
    if (shutdown_requested() || !submit_next(connection)) connection.stop();
    if (connection.finished()) table.erase(&connection);  // closes the socket
    // END LAB
    // END LAB 2
}

// Shutdown. No Connection may be freed while glibc may still write into its
// buffer or its aiocb. aio_cancel() takes back a request still queued; a read
// already blocked in a pool thread cannot be cancelled (AIO_NOTCANCELED), but
// shutting its socket down makes that read() return, and its completion comes.
void cancel_and_drain(ConnectionTable& table, CompletionQueue& completions) {
    // BEGIN LAB 2: Shutdown without freeing anything glibc still uses. A request still queued
    // can be cancelled; a read already blocked in a pool thread cannot, but
    // shutting its socket down makes that read() return, and its completion comes.
    // Wait for the last completions a bounded time (the server must exit within a
    // second), collecting each so that glibc lets go of it, and free the
    // connections that have nothing in flight any more. What is still in flight
    // after that is let go of, never freed: glibc may still write into it.
    // STUB: $THROW
    // BEGIN LAB: For each connection (table.for_each): stop() it (that shuts
    // its socket down), aio_cancel() its request. Then, for at most
    // kDrainBudget, wait for completions; for every request no longer
    // EINPROGRESS, aio_return() it, tell the connection on_cancelled(), and
    // erase() it. abandon() (never free) what is still in flight after that.
    table.for_each([](Connection& connection) {
        connection.stop();
        ::aio_cancel(connection.fd(), connection.request.get());
    });
    auto give_up = std::chrono::steady_clock::now() + kDrainBudget;
    while (table.size() > 0 && std::chrono::steady_clock::now() < give_up) {
        completions.wait(10ms);  // a cancelled request is signalled too; look at them all
        std::vector<Connection*> finished;
        table.for_each([&](Connection& connection) {
            if (::aio_error(connection.request.get()) != EINPROGRESS)
                finished.push_back(&connection);
        });
        for (Connection* connection : finished) {
            ::aio_return(connection->request.get());
            connection->on_cancelled(connection->write_in_flight() ? Operation::write
                                                                   : Operation::read);
            table.erase(connection);
        }
    }
    if (table.size() == 0) return;
    std::fprintf(stderr, "aio: %zu requests still in flight at exit; their buffers are not freed\n",
                 table.size());
    table.abandon();
    // END LAB
    // END LAB 2
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
// STUB: void run(Listener& listener, const Options& options) {
// STUB:     $THROW
// STUB: }
// END LAB 3

}  // namespace

int main(int argc, char** argv) {
    return iolab::server_main(
        argc, argv,
        {"aio", "POSIX AIO: completion, not readiness (the proactor)", true,
         "glibc AIO pool threads, which is also how many clients are served at once "
         "(0: 64)"},
        run);
}
