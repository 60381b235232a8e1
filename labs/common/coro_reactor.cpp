// OMIT FROM LEVEL 3
#include "coro_reactor.hpp"

#include "errors.hpp"
#include "server_main.hpp"  // NotImplemented, thrown by the TODOs of levels 2 and 3

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace iolab {

namespace {

// The Reactor whose loop runs on this thread (the awaitables look it up).
thread_local Reactor* current_reactor = nullptr;

int one_per_cpu() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

}  // namespace

Task::promise_type::~promise_type() {
    if (registered) {
        // The Reactor would resume this frame after it was freed: say so
        // now, before the use-after-free, rather than crash somewhere later.
        std::fprintf(stderr,
                     "coro: a coroutine frame was destroyed while still registered with the "
                     "reactor (waiting for a descriptor, a timer or the pool): the loop would "
                     "resume freed memory (a use-after-free). Hand a Task to Reactor::spawn(), "
                     "which owns the frame, and never destroy a suspended coroutine yourself\n");
        std::abort();
    }
    if (current_reactor) current_reactor->frame_ended(Handle::from_promise(*this).address());
}

Reactor::Reactor(int offload_threads) {
    if (current_reactor) throw std::logic_error("one Reactor per thread");
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) throw_errno("epoll_create1");
    done_signal_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!done_signal_) throw_errno("eventfd");
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = done_signal_.get();
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, done_signal_.get(), &event) < 0)
        throw_errno("epoll_ctl");
    int count = offload_threads > 0 ? offload_threads : one_per_cpu();
    try {
        for (int i = 0; i < count; ++i) workers_.emplace_back([this] { work(); });
    } catch (...) {
        join_offload_pool();  // a destructor does not run for an object whose constructor threw
        throw;
    }
    current_reactor = this;
}

Reactor::~Reactor() {
    join_offload_pool();  // no work finishes from here on
    // Nothing will resume the suspended frames any more: forget every
    // registration, then destroy them (their UniqueFds close the sockets;
    // each Watched calls forget(), which finds nothing left to do).
    timers_ = {};
    done_.clear();
    for (Watch& watch : watches_) watch.reader = watch.writer = {};
    std::unordered_set<void*> frames;
    frames.swap(frames_);
    for (void* frame : frames) {
        Task::Handle handle = Task::Handle::from_address(frame);
        handle.promise().registered = false;
        handle.destroy();
    }
    current_reactor = nullptr;
}

Reactor& Reactor::current() {
    if (!current_reactor) throw std::logic_error("co_await outside the loop thread of a Reactor");
    return *current_reactor;
}

void Reactor::spawn(Task task) {
    Task::Handle handle = task.release();
    frames_.insert(handle.address());
    handle.resume();
}

int Reactor::timeout_ms() const {
    // BEGIN LAB 2: How long epoll_wait() may sleep: until the earliest timer is due, or for
    // ever (-1) when none is set. A timer is not a descriptor, so the kernel will
    // not wake the loop for it: without this timeout a sleeping coroutine would
    // only wake up by chance, when some socket happens to be ready. Round up, not
    // down: waking a little early only means waiting again, but a timeout rounded
    // down to 0 would turn the loop into a busy spin for the last millisecond.
    // STUB: $THROW
    if (timers_.empty()) return -1;
    auto left = timers_.top().when - Clock::now();
    if (left <= Clock::duration::zero()) return 0;
    // Rounded up: waking a little early would only mean waiting again.
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
    // END LAB 2
}

void Reactor::resume(Task::Handle waiter) {
    waiter.promise().registered = false;
    waiter.resume();
}

Reactor::Watch& Reactor::watch_of(int fd) {
    if (static_cast<std::size_t>(fd) >= watches_.size())
        watches_.resize(
            std::max<std::size_t>(static_cast<std::size_t>(fd) + 1, watches_.size() * 2));
    return watches_[static_cast<std::size_t>(fd)];
}

// Asks epoll to report exactly `events` for `fd` (0: take it out of the set).
void Reactor::arm(int fd, Watch& watch, std::uint32_t events) {
    if (events == watch.armed) return;
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    int operation = watch.armed == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (::epoll_ctl(epoll_.get(), operation, fd, &event) == 0) watch.armed = events;
}

bool Reactor::wait_for(int fd, std::uint32_t direction, Task::Handle waiter) {
    // BEGIN LAB 2: Register interest, then suspend: make sure epoll reports this direction for
    // fd (the interest already asked for it stays; arm() does the epoll_ctl() and
    // remembers what is armed), and record the waiter as fd's reader or writer, so
    // that the loop knows whom to resume. Mark its frame registered (the Reactor
    // now holds it: see ~promise_type). If the kernel refuses the registration (a
    // descriptor epoll cannot watch), do not suspend: a coroutine waiting for an
    // event that can never come would hang its client for ever; going on, its next
    // call reports the error.
    // STUB: static_cast<void>(fd), static_cast<void>(direction), static_cast<void>(waiter);
    // STUB: $THROW
    Watch& watch = watch_of(fd);
    arm(fd, watch, watch.armed | direction);
    if (!(watch.armed & direction)) return false;  // the kernel refused: do not wait forever
    (direction == EPOLLIN ? watch.reader : watch.writer) = waiter;
    waiter.promise().registered = true;
    return true;
    // END LAB 2
}

void Reactor::resume_reader(int fd) { resume_waiter(fd, EPOLLIN); }
void Reactor::resume_writer(int fd) { resume_waiter(fd, EPOLLOUT); }

void Reactor::resume_waiter(int fd, std::uint32_t direction) {
    // BEGIN LAB 2: epoll reported fd ready in this direction: resume the coroutine waiting for
    // it, after taking it out of its slot (once resumed, it may wait again, and
    // must find the slot free). epoll here is level-triggered: a readiness nobody
    // waits for (the coroutine is asleep on a timer, say) would be reported again
    // at every epoll_wait(), and the loop would spin; in that case stop asking for
    // that direction. A descriptor the Reactor knows nothing of is ignored.
    // Careful: resuming runs the coroutine, which may make the table of watches
    // grow (and move).
    // STUB: static_cast<void>(fd), static_cast<void>(direction);
    // STUB: $THROW
    if (fd < 0 || static_cast<std::size_t>(fd) >= watches_.size()) return;
    Watch& watch = watches_[static_cast<std::size_t>(fd)];
    Task::Handle& slot = direction == EPOLLIN ? watch.reader : watch.writer;
    if (!slot) {
        // Nobody waits for this now (the coroutine is sleeping, say): stop
        // asking. The coroutine asks again when it next waits.
        arm(fd, watch, watch.armed & ~direction);
        return;
    }
    // The interest stays armed: a coroutine that waits again for the same
    // thing (the usual case) costs no epoll_ctl().
    resume(std::exchange(slot, {}));  // `watch` may be gone after this (watches_ can grow)
    // END LAB 2
}

void Reactor::forget(int fd) {
    if (fd < 0 || static_cast<std::size_t>(fd) >= watches_.size()) return;
    Watch& watch = watches_[static_cast<std::size_t>(fd)];
    arm(fd, watch, 0);
    watch = {};
}

void Reactor::start_timer(Clock::time_point when, Task::Handle waiter) {
    // BEGIN LAB 2: Waiting without a thread: record the deadline and the waiter, and mark the
    // frame registered. Timers with the same deadline must resume in the order
    // they were set, or a client's requests could be answered out of order.
    // STUB: static_cast<void>(when), static_cast<void>(waiter);
    // STUB: $THROW
    timers_.push({when, timers_set_++, waiter});
    waiter.promise().registered = true;
    // END LAB 2
}

void Reactor::resume_expired_timers() {
    // BEGIN LAB 2: Resume, in order of deadline, every coroutine whose timer is due by now, and
    // no other. Read the clock once: a resumed coroutine may set a new timer, due
    // at once, and taking it in the same pass could keep the loop from ever going
    // back to epoll_wait().
    // STUB: $THROW
    Clock::time_point now = Clock::now();  // once: a timer set meanwhile waits for the next pass
    while (!timers_.empty() && timers_.top().when <= now) {
        Task::Handle waiter = timers_.top().waiter;
        timers_.pop();
        resume(waiter);
    }
    // END LAB 2
}

void Reactor::start_offload(std::function<void()> work, Task::Handle waiter) {
    // BEGIN LAB 2: CPU work leaves the loop thread, so that one client's computation does not
    // stall every other client: queue the work with its waiter for the pool's
    // threads (shared with them: under the lock) and wake one of them. Mark the
    // frame registered. The pool never resumes the coroutine itself: it hands the
    // waiter back (done_, and the eventfd the loop watches), so that every
    // coroutine runs on the loop thread, without locks.
    // STUB: static_cast<void>(work), static_cast<void>(waiter);
    // STUB: $THROW
    waiter.promise().registered = true;
    {
        std::lock_guard lock(mutex_);
        jobs_.push_back({std::move(work), waiter});
    }
    job_ready_.notify_one();
    // END LAB 2
}

void Reactor::resume_offloaded() {
    // BEGIN LAB 2: The eventfd that the pool writes when work is done is readable: read it
    // (until read, epoll reports it again and again; one read takes every count),
    // take the waiters whose work is done (shared with the pool: under the lock,
    // and not while resuming: a resumed coroutine may offload again, and would
    // wait for the lock it holds), and resume them on this thread.
    // STUB: $THROW
    std::uint64_t count = 0;
    [[maybe_unused]] ssize_t got = ::read(done_signal_.get(), &count, sizeof count);  // rearm
    std::vector<Task::Handle> done;
    {
        std::lock_guard lock(mutex_);
        done.swap(done_);
    }
    for (Task::Handle waiter : done) resume(waiter);
    // END LAB 2
}

// On a pool thread: runs jobs until the pool stops. The job's handle is only
// carried back to the loop thread, never resumed here.
void Reactor::work() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            job_ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (stopping_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job.work();
        {
            std::lock_guard lock(mutex_);
            done_.push_back(job.waiter);
        }
        std::uint64_t one = 1;
        // Cannot fail below 2^64 - 1 pending wake-ups.
        [[maybe_unused]] ssize_t written = ::write(done_signal_.get(), &one, sizeof one);
    }
}

void Reactor::join_offload_pool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    job_ready_.notify_all();
    for (std::thread& worker : workers_)
        if (worker.joinable()) worker.join();
    workers_.clear();
}

}  // namespace iolab
