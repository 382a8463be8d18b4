// A latency histogram with fixed bucket bounds (Prometheus style: each count includes every
// smaller bucket when written), for /metrics. Fixed size: no allocation per observation.
#pragma once

#include <array>
#include <cstdint>

namespace kw::proxy {

class LatencyHistogram {
 public:
  // Upper bounds in seconds; an observation past the last lands only in +Inf (count).
  static constexpr std::array<double, 14> kBounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  void observe(double seconds) {
    for (size_t i = 0; i < kBounds.size(); ++i) {
      if (seconds <= kBounds[i]) {
        ++buckets_[i];
        break;
      }
    }
    ++count_;
    sum_ += seconds;
  }
  // Observations at or under kBounds[i] (cumulative, as the exposition format wants).
  [[nodiscard]] uint64_t cumulative(size_t i) const {
    uint64_t n = 0;
    for (size_t j = 0; j <= i; ++j) n += buckets_[j];
    return n;
  }
  // Adds another histogram's observations (the workers' histograms summed for /metrics).
  void merge(const LatencyHistogram& o) {
    for (size_t i = 0; i < kBounds.size(); ++i) buckets_[i] += o.buckets_[i];
    count_ += o.count_;
    sum_ += o.sum_;
  }
  [[nodiscard]] uint64_t count() const { return count_; }
  [[nodiscard]] double sum() const { return sum_; }

 private:
  std::array<uint64_t, kBounds.size()> buckets_{};
  uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace kw::proxy
