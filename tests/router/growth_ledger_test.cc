// GrowthLedger: a client grows values by offsets at most max_body_bytes a second.
#include "proxy/router/growth_ledger.h"

#include <gtest/gtest.h>

namespace kw::proxy {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

TEST(GrowthLedgerTest, OneSecondOfGrowthThenWait) {
  GrowthLedger ledger;
  EXPECT_FALSE(ledger.take("a", 10 * kMiB, 10 * kMiB, 0).has_value());
  const auto wait = ledger.take("a", 1, 10 * kMiB, 0);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, 1);
  // Another client has its own second; nothing taken is free.
  EXPECT_FALSE(ledger.take("b", 10 * kMiB, 10 * kMiB, 0).has_value());
  EXPECT_FALSE(ledger.take("a", 0, 10 * kMiB, 0).has_value());
  // Half a second refills half.
  EXPECT_FALSE(ledger.take("a", 5 * kMiB, 10 * kMiB, 500).has_value());
  EXPECT_TRUE(ledger.take("a", 1, 10 * kMiB, 500).has_value());
  EXPECT_FALSE(ledger.take("a", 10 * kMiB, 10 * kMiB, 1500).has_value());
}

TEST(GrowthLedgerTest, ARefusalTakesNothingAndNamesTheWait) {
  GrowthLedger ledger;
  EXPECT_FALSE(ledger.take("a", 8 * kMiB, 10 * kMiB, 0).has_value());
  const auto wait = ledger.take("a", 10 * kMiB, 10 * kMiB, 0);
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, 1);  // 0.8 s, rounded up
  EXPECT_FALSE(ledger.take("a", 2 * kMiB, 10 * kMiB, 0).has_value());
  // More than a second's worth never fits: wait a second, the caller's bound refuses it anyway.
  EXPECT_EQ(ledger.take("c", 11 * kMiB, 10 * kMiB, 0).value_or(-1), 1);
}

TEST(GrowthLedgerTest, AReloadedBoundKeepsWhatIsLeft) {
  GrowthLedger ledger;
  EXPECT_FALSE(ledger.take("a", 10 * kMiB, 10 * kMiB, 0).has_value());
  // A larger bound after a reload hands out no fresh burst.
  EXPECT_TRUE(ledger.take("a", 1 * kMiB, 20 * kMiB, 0).has_value());
  EXPECT_FALSE(ledger.take("a", 2 * kMiB, 20 * kMiB, 100).has_value());
}

}  // namespace
}  // namespace kw::proxy
