// Quota arithmetic with time as a parameter: token buckets and UTC day/month
// windows (the counters themselves live in proxy/quota_ledger).
#pragma once

#include <cstdint>

namespace kw::policy {

// A rate "N per period": 50/s is {50, 1000}.
struct Rate {
  uint64_t count = 0;
  uint64_t period_ms = 1000;
};

// Token bucket in integer arithmetic: tokens are kept in units of 1/period_ms
// so refill is exact (no floating-point drift): over any interval t it admits
// at most burst + count * t / period.
class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(Rate rate, uint64_t burst, int64_t now_ms);

  // Takes n tokens if all are available; otherwise takes nothing.
  [[nodiscard]] bool tryTake(uint64_t n, int64_t now_ms);
  // Puts back n tokens taken earlier (what they paid for never happened), never above the burst.
  void giveBack(uint64_t n, int64_t now_ms);
  uint64_t available(int64_t now_ms);
  // Milliseconds until n tokens are available (0 when now); n > burst never
  // fits: returns -1.
  int64_t msUntil(uint64_t n, int64_t now_ms);
  uint64_t burst() const { return burst_; }
  Rate rate() const { return rate_; }
  // The same bucket under a new rate and burst (a reload changed the limit): the whole tokens it
  // holds now carry over, capped at the new burst, so changing a limit never hands out a fresh
  // burst.
  void reshape(Rate rate, uint64_t burst, int64_t now_ms);

 private:
  void refill(int64_t now_ms);
  Rate rate_;
  uint64_t burst_ = 0;
  uint64_t scaled_ = 0;  // tokens * period_ms
  int64_t last_ms_ = 0;
};

// UTC calendar windows (Upstash counts days and months in UTC).
int64_t utcDay(int64_t unix_s);    // days since 1970-01-01
int64_t utcMonth(int64_t unix_s);  // months since 1970-01 (year * 12 + month - 1 from 1970)
int64_t secondsToNextUtcDay(int64_t unix_s);
int64_t secondsToNextUtcMonth(int64_t unix_s);

}  // namespace kw::policy
