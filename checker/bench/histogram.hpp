// A latency histogram with logarithmic buckets, in the manner of Gil Tene's
// HdrHistogram: every power of two is split into kSubBuckets equal slices, so
// a recorded value is known to within 1/kSubBuckets of itself (under 0.8%)
// whether it is 40 microseconds or 4 seconds, in a fixed 42 KiB of counters.
// Recording is one bit scan and one increment: cheap enough to do for every
// reply of a load test, and no sample is ever thrown away.
#pragma once

#include <array>
#include <cstdint>

namespace checker::bench {

class LatencyHistogram {
public:
    // Slices per power of two: values below 2 * kSubBuckets are stored exactly.
    static constexpr int kSubBucketBits = 7;
    static constexpr std::uint64_t kSubBuckets = 1u << kSubBucketBits;  // 128

    void record(std::uint64_t value, std::uint64_t times = 1);
    void add(const LatencyHistogram& other);

    std::uint64_t count() const { return count_; }
    std::uint64_t min() const { return count_ ? min_ : 0; }
    std::uint64_t max() const { return max_; }
    double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0; }

    // The smallest recorded value v (to within the bucket's width, and never
    // above max()) such that at least `percent` % of the values are <= v.
    // percentile(50) is the median, percentile(100) the maximum; 0 when empty.
    std::uint64_t percentile(double percent) const;

    // Where a value is counted, and the range of values that share its bucket.
    static int bucket_of(std::uint64_t value);
    static std::uint64_t bucket_lowest(int bucket);
    static std::uint64_t bucket_highest(int bucket);

private:
    // Values up to 2^kMaxBits - 1 (in nanoseconds: 36 hours); larger ones are
    // counted in the last bucket.
    static constexpr int kMaxBits = 47;
    static constexpr int kBuckets = (kMaxBits - kSubBucketBits + 1) * static_cast<int>(kSubBuckets);

    std::array<std::uint64_t, kBuckets> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
    double sum_ = 0;  // for the mean
};

}  // namespace checker::bench
