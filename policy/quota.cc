// Token buckets and UTC calendar budgets, exact in integer arithmetic.
#include "policy/quota.h"

#include <algorithm>
#include <limits>

namespace kw::policy {
namespace {

constexpr uint64_t kMaxScaled = std::numeric_limits<uint64_t>::max() / 4;

uint64_t mulSat(uint64_t a, uint64_t b) {
  if (a != 0 && b > kMaxScaled / a) return kMaxScaled;
  return a * b;
}

int64_t floorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Howard Hinnant's days -> civil date (proleptic Gregorian).
void civil(int64_t days, int64_t& y, unsigned& m) {
  days += 719468;
  const int64_t era = floorDiv(days, 146097);
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

int64_t daysFromCivil(int64_t y, unsigned m) {  // first day of month m of year y
  y -= m <= 2;
  const int64_t era = floorDiv(y, 400);
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

TokenBucket::TokenBucket(Rate rate, uint64_t burst, int64_t now_ms)
    : rate_(rate), burst_(burst), last_ms_(now_ms) {
  if (rate_.period_ms == 0) rate_.period_ms = 1;
  scaled_ = mulSat(burst_, rate_.period_ms);  // starts full
}

void TokenBucket::refill(int64_t now_ms) {
  if (now_ms <= last_ms_) return;  // a clock that goes back never mints tokens
  const auto elapsed = static_cast<uint64_t>(now_ms - last_ms_);
  last_ms_ = now_ms;
  const uint64_t cap = mulSat(burst_, rate_.period_ms);
  scaled_ = std::min(cap, scaled_ + std::min(cap, mulSat(elapsed, rate_.count)));
}

void TokenBucket::reshape(Rate rate, uint64_t burst, int64_t now_ms) {
  refill(now_ms);
  const uint64_t tokens = scaled_ / rate_.period_ms;
  rate_ = rate;
  if (rate_.period_ms == 0) rate_.period_ms = 1;
  burst_ = burst;
  scaled_ = mulSat(std::min(tokens, burst_), rate_.period_ms);
}

bool TokenBucket::tryTake(uint64_t n, int64_t now_ms) {
  refill(now_ms);
  const uint64_t need = mulSat(n, rate_.period_ms);
  if (n > burst_ || need > scaled_) return false;
  scaled_ -= need;
  return true;
}

void TokenBucket::giveBack(uint64_t n, int64_t now_ms) {
  refill(now_ms);
  const uint64_t cap = mulSat(burst_, rate_.period_ms);
  scaled_ = std::min(cap, scaled_ + std::min(cap, mulSat(n, rate_.period_ms)));
}

uint64_t TokenBucket::available(int64_t now_ms) {
  refill(now_ms);
  return scaled_ / rate_.period_ms;
}

int64_t TokenBucket::msUntil(uint64_t n, int64_t now_ms) {
  refill(now_ms);
  if (n > burst_ || rate_.count == 0) return n > burst_ || n > available(now_ms) ? -1 : 0;
  const uint64_t need = mulSat(n, rate_.period_ms);
  if (need <= scaled_) return 0;
  const uint64_t missing = need - scaled_;
  return static_cast<int64_t>((missing + rate_.count - 1) / rate_.count);
}

int64_t utcDay(int64_t unix_s) { return floorDiv(unix_s, 86400); }

int64_t utcMonth(int64_t unix_s) {
  int64_t y;
  unsigned m;
  civil(utcDay(unix_s), y, m);
  return (y - 1970) * 12 + (m - 1);
}

int64_t secondsToNextUtcDay(int64_t unix_s) { return (utcDay(unix_s) + 1) * 86400 - unix_s; }

int64_t secondsToNextUtcMonth(int64_t unix_s) {
  int64_t y;
  unsigned m;
  civil(utcDay(unix_s), y, m);
  const int64_t next = m == 12 ? daysFromCivil(y + 1, 1) : daysFromCivil(y, m + 1);
  return next * 86400 - unix_s;
}

}  // namespace kw::policy
