// Token bucket and UTC window arithmetic, with fixed instants (time is a
// parameter).
#include "policy/quota.h"

#include <gtest/gtest.h>

namespace kw::policy {
namespace {

TEST(TokenBucket, StartsFullAndRefillsExactly) {
  TokenBucket b({50, 1000}, 50, 0);
  EXPECT_TRUE(b.tryTake(50, 0));
  EXPECT_FALSE(b.tryTake(1, 0));
  EXPECT_FALSE(b.tryTake(1, 19)); // 19 ms * 50/s = 0.95 tokens
  EXPECT_TRUE(b.tryTake(1, 20));
  EXPECT_EQ(b.available(1020), 50u); // capped at burst
}

TEST(TokenBucket, NeverMoreThanBurstPlusRateTimesElapsed) {
  TokenBucket b({50, 1000}, 50, 0);
  uint64_t admitted = 0;
  for (int64_t t = 0; t <= 10'000; t += 7) {
    while (b.tryTake(1, t))
      ++admitted;
    ASSERT_LE(admitted, 50u + 50u * static_cast<uint64_t>(t) / 1000u)
        << "t=" << t;
  }
  EXPECT_GE(admitted, 50u + 50u * 9'996u / 1000u);
}

TEST(TokenBucket, AllOrNothing) {
  TokenBucket b({10, 1000}, 10, 0);
  EXPECT_FALSE(b.tryTake(11, 0));
  EXPECT_EQ(b.available(0), 10u);
  EXPECT_TRUE(b.tryTake(8, 0));
  EXPECT_EQ(b.available(0), 2u);
}

TEST(TokenBucket, RetryAfter) {
  TokenBucket b({5, 1000}, 5, 0);
  EXPECT_TRUE(b.tryTake(5, 0));
  EXPECT_EQ(b.msUntil(1, 0), 200);
  EXPECT_EQ(b.msUntil(5, 0), 1000);
  EXPECT_EQ(b.msUntil(6, 0), -1);
}

TEST(TokenBucket, ClockGoingBackMintsNothing) {
  TokenBucket b({1000, 1000}, 10, 1'000'000);
  EXPECT_TRUE(b.tryTake(10, 1'000'000));
  EXPECT_FALSE(b.tryTake(1, 0));
  EXPECT_FALSE(b.tryTake(1, 1'000'000));
}

TEST(TokenBucket, HugeValuesSaturate) {
  TokenBucket b({UINT64_MAX, 1}, UINT64_MAX, 0);
  EXPECT_TRUE(b.tryTake(1, INT64_MAX));
}

TEST(Utc, DaysAndMonths) {
  EXPECT_EQ(utcDay(0), 0);
  EXPECT_EQ(utcDay(86399), 0);
  EXPECT_EQ(utcDay(86400), 1);
  EXPECT_EQ(utcDay(-1), -1);
  EXPECT_EQ(utcMonth(0), 0);
  // 2026-11-22T23:59:59Z = 1795391999; 2026-12-01T00:00:00Z = 1796083200.
  EXPECT_EQ(utcMonth(1795391999), (2026 - 1970) * 12 + 10);
  EXPECT_EQ(utcMonth(1796083200), (2026 - 1970) * 12 + 11);
  EXPECT_EQ(secondsToNextUtcMonth(1796083199), 1);
  EXPECT_EQ(secondsToNextUtcDay(1795391999), 1);
  // Leap year: 2028-02-29 exists; 2028-03-01T00:00:00Z = 1835481600.
  EXPECT_EQ(utcMonth(1835481599), (2028 - 1970) * 12 + 1);
  EXPECT_EQ(utcMonth(1835481600), (2028 - 1970) * 12 + 2);
}

} // namespace
} // namespace kw::policy
