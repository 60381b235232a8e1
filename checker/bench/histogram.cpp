#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace checker::bench {

// Values below 2 * kSubBuckets get a bucket each. Above, a value whose highest
// set bit is bit b is shifted right by b - kSubBucketBits, which leaves a
// number in [kSubBuckets, 2 * kSubBuckets): its slice of that power of two.
// Bucket = shift * kSubBuckets + slice numbers the buckets without gaps.
int LatencyHistogram::bucket_of(std::uint64_t value) {
    constexpr std::uint64_t kLargest = (std::uint64_t{1} << kMaxBits) - 1;
    value = std::min(value, kLargest);
    int highest_bit = 63 - std::countl_zero(value | 1);
    int shift = std::max(0, highest_bit - kSubBucketBits);
    return shift * static_cast<int>(kSubBuckets) + static_cast<int>(value >> shift);
}

std::uint64_t LatencyHistogram::bucket_lowest(int bucket) {
    int shift = std::max(0, bucket / static_cast<int>(kSubBuckets) - 1);
    std::uint64_t slice =
        static_cast<std::uint64_t>(bucket) - static_cast<std::uint64_t>(shift) * kSubBuckets;
    return slice << shift;
}

std::uint64_t LatencyHistogram::bucket_highest(int bucket) {
    int shift = std::max(0, bucket / static_cast<int>(kSubBuckets) - 1);
    return bucket_lowest(bucket) + (std::uint64_t{1} << shift) - 1;
}

void LatencyHistogram::record(std::uint64_t value, std::uint64_t times) {
    if (times == 0) return;
    counts_[static_cast<std::size_t>(bucket_of(value))] += times;
    count_ += times;
    sum_ += static_cast<double>(value) * static_cast<double>(times);
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
}

void LatencyHistogram::add(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

std::uint64_t LatencyHistogram::percentile(double percent) const {
    if (count_ == 0) return 0;
    if (percent <= 0) return min_;
    // The rank of the value asked for: the ceil(percent% of count)-th smallest.
    double exact_rank = std::min(percent, 100.0) / 100.0 * static_cast<double>(count_);
    auto rank =
        std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(exact_rank - 1e-9)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) return std::clamp(bucket_highest(static_cast<int>(i)), min_, max_);
    }
    return max_;
}

}  // namespace checker::bench
