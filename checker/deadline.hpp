// Every wait of the checker is bounded by a Deadline: a point in time after
// which it gives up and reports what it saw so far.
#pragma once

#include <algorithm>
#include <chrono>

namespace checker {

using Clock = std::chrono::steady_clock;
using Duration = Clock::duration;
using namespace std::chrono_literals;

class Deadline {
public:
    explicit Deadline(Duration from_now) : at_(Clock::now() + from_now) {}
    static Deadline at(Clock::time_point when) {
        Deadline d(0s);
        d.at_ = when;
        return d;
    }

    bool passed() const { return Clock::now() >= at_; }
    Duration remaining() const { return std::max(Duration::zero(), at_ - Clock::now()); }
    int remaining_ms() const {  // for poll(): rounded up, so that 0 means "passed"
        auto ms = std::chrono::ceil<std::chrono::milliseconds>(remaining()).count();
        return static_cast<int>(std::min<long long>(ms, 1'000'000));
    }
    // The earlier of this deadline and `from_now`.
    Deadline sooner(Duration from_now) const { return at(std::min(at_, Clock::now() + from_now)); }
    Clock::time_point when() const { return at_; }

private:
    Clock::time_point at_;
};

// Time that runs out only while it is charged, unlike a Deadline: the grader
// keeps one for the tests and one for the server's start-ups, so that a slow
// start does not eat the tests' time (nor the tests the start-ups').
class TimeBudget {
public:
    explicit TimeBudget(Duration total) : total_(total), left_(total) {}

    Duration total() const { return total_; }
    Duration left() const { return left_; }
    Duration spent() const { return total_ - left_; }
    // `wanted` from now, or sooner if less is left.
    Deadline deadline(Duration wanted) const { return Deadline(std::min(wanted, left_)); }
    void charge(Duration used) { left_ -= std::min(std::max(used, Duration::zero()), left_); }

private:
    Duration total_;
    Duration left_;
};

inline double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace checker
