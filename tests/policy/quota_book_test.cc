// QuotaBook: the quota decision as a table, time passed in: windows, rollover, clock-back,
// rates, all-or-nothing, default shares and leased mode.
#include "policy/quota_book.h"

#include <gtest/gtest.h>

#include <string>

namespace kw::policy {
namespace {

constexpr int64_t kJan31Last = 1769903999;  // 2026-01-31T23:59:59Z
constexpr int64_t kMar15Noon = 1773576000;  // 2026-03-15T12:00:00Z

PlanBudget unlimited() { return PlanBudget{0, 0, 0}; }

QuotaAsk ask(uint64_t commands, QuotaLimits limits = {}, std::string client = "app") {
  QuotaAsk a;
  a.client = std::move(client);
  a.limits = limits;
  a.commands = commands;
  return a;
}

QuotaLimits perDay(uint64_t n) {
  QuotaLimits l;
  l.per_day = n;
  return l;
}

// Attack round 11 (helper): a reload that changed a client's burst (20 -> 21) refilled its
// spent bucket, so 21-24 of 40 requests passed at once. A changed rate or burst now keeps the
// tokens the bucket held, capped at the new burst; the same for budget.per_second.
TEST(QuotaBookTest, ChangingARateKeepsWhatWasSpent) {
  QuotaBook book(unlimited(), 0);
  QuotaLimits l;
  l.rate = Rate{1, 1000};
  l.burst = 20;
  const QuotaTime t0 = QuotaTime::at(0, kMar15Noon);
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(book.decide(ask(1, l), t0, true).granted());
  EXPECT_FALSE(book.decide(ask(1, l), t0, true).granted());
  l.burst = 21;  // the reload: same client, a larger burst
  EXPECT_FALSE(book.decide(ask(1, l), t0, true).granted());
  l.rate = Rate{2, 1000};
  EXPECT_FALSE(book.decide(ask(1, l), t0, true).granted());
  // Refill goes on at the new rate: 2 tokens a second.
  const QuotaTime t1 = QuotaTime::at(1000, kMar15Noon + 1);
  EXPECT_TRUE(book.decide(ask(2, l), t1, true).granted());
  EXPECT_FALSE(book.decide(ask(1, l), t1, true).granted());
  // A smaller burst caps what is held.
  const QuotaTime t2 = QuotaTime::at(60000, kMar15Noon + 60);
  l.burst = 5;
  EXPECT_TRUE(book.decide(ask(5, l), t2, true).granted());
  EXPECT_FALSE(book.decide(ask(1, l), t2, true).granted());

  // The plan's per-second budget the same way.
  QuotaBook plan(PlanBudget{10, 0, 0}, 0);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(plan.decide(ask(1), t0, true).granted());
  EXPECT_FALSE(plan.decide(ask(1), t0, true).granted());
  plan.setBudget(PlanBudget{11, 0, 0}, 0);
  EXPECT_FALSE(plan.decide(ask(1), t0, true).granted());
  plan.setBudget(PlanBudget{0, 0, 0}, 0);  // no per-second budget any more
  EXPECT_TRUE(plan.decide(ask(1), t0, true).granted());
}

TEST(QuotaBookTest, DayBudgetRefusesUntilTheNextUtcDay) {
  QuotaBook book(unlimited(), 0);
  const QuotaTime noon = QuotaTime::at(0, kMar15Noon);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(book.decide(ask(1, perDay(3)), noon, true).granted());
  QuotaVerdict v = book.decide(ask(1, perDay(3)), noon, true);
  ASSERT_TRUE(v.refused.has_value());
  EXPECT_EQ(v.refused->policy, "day");
  EXPECT_EQ(v.refused->reason, "budget_exhausted");
  EXPECT_EQ(v.refused->retry_after_s, 12 * 3600);
  EXPECT_EQ(v.refused->limit, 3u);
  EXPECT_EQ(v.refused->window_s, 86400u);
  EXPECT_NE(v.refused->message.find("per_day 3"), std::string::npos);
  // One second into the next UTC day: a fresh window.
  const QuotaTime next = QuotaTime::at(1000, kMar15Noon + 12 * 3600);
  EXPECT_TRUE(book.decide(ask(3, perDay(3)), next, true).granted());
  EXPECT_FALSE(book.decide(ask(1, perDay(3)), next, true).granted());
}

TEST(QuotaBookTest, MonthRollsOverAtTheUtcMonthBoundary) {
  QuotaBook book(unlimited(), 0);
  QuotaLimits month;
  month.per_month = 2;
  const QuotaTime last = QuotaTime::at(0, kJan31Last);
  EXPECT_TRUE(book.decide(ask(2, month), last, true).granted());
  QuotaVerdict full = book.decide(ask(1, month), last, true);
  ASSERT_TRUE(full.refused.has_value());
  EXPECT_EQ(full.refused->policy, "month");
  EXPECT_EQ(full.refused->retry_after_s, 1);
  EXPECT_TRUE(book.decide(ask(2, month), QuotaTime::at(1000, kJan31Last + 1), true).granted());
}

TEST(QuotaBookTest, ClockMovedBackAcrossAWindowFailsClosed) {
  QuotaBook book(unlimited(), 0);
  EXPECT_TRUE(book.decide(ask(1, perDay(10)), QuotaTime::at(0, kMar15Noon), true).granted());
  // Back to yesterday: never reopen an older window.
  QuotaVerdict v = book.decide(ask(1, perDay(10)), QuotaTime::at(10, kMar15Noon - 86400), true);
  ASSERT_TRUE(v.refused.has_value());
  EXPECT_NE(v.refused->message.find("clock moved back"), std::string::npos);
  EXPECT_EQ(v.refused->retry_after_s, 60);
  // Back within the same day is the same window: still counted.
  EXPECT_TRUE(book.decide(ask(1, perDay(10)), QuotaTime::at(20, kMar15Noon - 60), true).granted());
  EXPECT_EQ(book.state().clients.at(0).second.day_used, 2u);
}

TEST(QuotaBookTest, AllOrNothingAcrossClientAndPlan) {
  QuotaBook book(PlanBudget{0, 3, 0}, 0);
  const QuotaTime t = QuotaTime::at(0, kMar15Noon);
  QuotaVerdict v = book.decide(ask(4, perDay(5)), t, true);
  ASSERT_TRUE(v.refused.has_value());
  EXPECT_EQ(v.refused->policy, "global-day");
  EXPECT_NE(v.refused->message.find("of the upstream plan"), std::string::npos);
  EXPECT_FALSE(book.dirty());  // nothing taken from the client's budget either
  EXPECT_TRUE(book.decide(ask(3, perDay(5)), t, true).granted());
  EXPECT_TRUE(book.dirty());
  EXPECT_EQ(book.state().global.day_used, 3u);
}

TEST(QuotaBookTest, CheckingTakesNothing) {
  QuotaBook book(unlimited(), 0);
  const QuotaTime t = QuotaTime::at(0, kMar15Noon);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(book.decide(ask(1, perDay(1)), t, false).granted());
  EXPECT_TRUE(book.decide(ask(1, perDay(1)), t, true).granted());
  EXPECT_FALSE(book.decide(ask(1, perDay(1)), t, false).granted());
}

TEST(QuotaBookTest, ZeroCommandsCostNothing) {
  QuotaBook book(PlanBudget{1, 1, 1}, 0);
  const QuotaTime t = QuotaTime::at(0, kMar15Noon);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(book.decide(ask(0, perDay(1)), t, true).granted());
  EXPECT_FALSE(book.dirty());
}

TEST(QuotaBookTest, RateRefillsAndBurstBounds) {
  QuotaBook book(unlimited(), 0);
  QuotaLimits l;
  l.rate = Rate{2, 1000};
  EXPECT_TRUE(book.decide(ask(1, l), QuotaTime::at(0, kMar15Noon), true).granted());
  EXPECT_TRUE(book.decide(ask(1, l), QuotaTime::at(0, kMar15Noon), true).granted());
  QuotaVerdict v = book.decide(ask(1, l), QuotaTime::at(100, kMar15Noon), true);
  ASSERT_TRUE(v.refused.has_value());
  EXPECT_EQ(v.refused->policy, "rate");
  EXPECT_EQ(v.refused->retry_after_s, 1);
  EXPECT_TRUE(book.decide(ask(1, l), QuotaTime::at(500, kMar15Noon), true).granted());
  QuotaVerdict big = book.decide(ask(3, l), QuotaTime::at(60000, kMar15Noon), true);
  ASSERT_TRUE(big.refused.has_value());
  EXPECT_NE(big.refused->message.find("exceeds the burst of 2"), std::string::npos);
}

TEST(QuotaBookTest, IdentitiesHaveTheirOwnBuckets) {
  QuotaBook book(unlimited(), 0);
  QuotaLimits l;
  l.per_identity_rate = Rate{1, 60000};
  const QuotaTime t = QuotaTime::at(0, kMar15Noon);
  QuotaAsk alice = ask(1, l);
  alice.identity = "sub:alice";
  QuotaAsk bob = ask(1, l);
  bob.identity = "sub:bob";
  EXPECT_TRUE(book.decide(alice, t, true).granted());
  EXPECT_TRUE(book.decide(bob, t, true).granted());
  QuotaVerdict again = book.decide(alice, t, true);
  ASSERT_TRUE(again.refused.has_value());
  EXPECT_EQ(again.refused->policy, "identity");
  EXPECT_EQ(again.refused->retry_after_s, 60);
}

TEST(QuotaBookTest, PlanPerSecondBudget) {
  QuotaBook book(PlanBudget{2, 0, 0}, 0);
  const QuotaTime t = QuotaTime::at(0, kMar15Noon);
  EXPECT_TRUE(book.decide(ask(2), t, true).granted());
  QuotaVerdict v = book.decide(ask(1, {}, "other"), t, true);
  ASSERT_TRUE(v.refused.has_value());
  EXPECT_EQ(v.refused->policy, "global-second");
}

TEST(QuotaBookTest, SharedPlanGivesUnsetLimitsHalfTheBudget) {
  QuotaBook book(PlanBudget{0, 10, 0}, 0);
  const QuotaTime t = QuotaTime::at(0, kMar15Noon);
  QuotaAsk a = ask(5);
  a.budget_shared = true;
  EXPECT_TRUE(book.decide(a, t, true).granted());
  QuotaVerdict v = book.decide(a, t, true);
  ASSERT_TRUE(v.refused.has_value());
  EXPECT_EQ(v.refused->policy, "day");
  EXPECT_NE(v.refused->message.find("default share is half of budget.per_day"), std::string::npos);
  QuotaAsk other = ask(5, {}, "other");
  other.budget_shared = true;
  EXPECT_TRUE(book.decide(other, t, true).granted());

  BudgetShares shares;
  QuotaLimits own = perDay(7);
  QuotaLimits out = budgetShares(own, PlanBudget{100, 10, 1}, true, shares);
  EXPECT_EQ(out.per_day, 7u);  // set by the client: kept
  EXPECT_FALSE(shares.day);
  EXPECT_EQ(out.rate.count, 50u);
  EXPECT_TRUE(shares.rate);
  EXPECT_EQ(out.per_month, 1u);  // half of 1, at least 1
  EXPECT_TRUE(shares.month);
}

TEST(QuotaBookTest, LeasedModeAsksForALeaseThenSpendsIt) {
  QuotaBook book(PlanBudget{0, 0, 0}, 0);
  book.useLeases();
  const QuotaTime t = QuotaTime::at(0, kMar15Noon);
  QuotaVerdict v = book.decide(ask(2, perDay(100)), t, true);
  EXPECT_FALSE(v.refused.has_value());
  ASSERT_EQ(v.need_lease.size(), 1u);
  EXPECT_TRUE(v.need_lease[0].day);
  EXPECT_FALSE(v.need_lease[0].global);
  EXPECT_EQ(QuotaBook::storeKey(false, "app", true, t.day),
            "keyward:quota:client:app:day:" + std::to_string(t.day));
  book.creditLease(v.need_lease[0].counter, t.day, 10, false, 0);
  EXPECT_EQ(book.leaseHeld(), 10u);
  EXPECT_TRUE(book.decide(ask(2, perDay(100)), t, true).granted());
  EXPECT_EQ(book.leaseHeld(), 8u);
  // A lease for a window that has passed is dropped.
  book.creditLease(v.need_lease[0].counter, t.day - 1, 50, false, 0);
  EXPECT_EQ(book.leaseHeld(), 8u);
  // A dry store refuses until it may be asked again.
  QuotaVerdict big = book.decide(ask(9, perDay(100)), t, true);
  ASSERT_EQ(big.need_lease.size(), 1u);
  book.creditLease(big.need_lease[0].counter, t.day, 0, true, 5000);
  QuotaVerdict dry = book.decide(ask(9, perDay(100)), QuotaTime::at(100, kMar15Noon), true);
  ASSERT_TRUE(dry.refused.has_value());
  EXPECT_TRUE(dry.need_lease.empty());
  std::vector<QuotaBook::Lease> back = book.takeLeases();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].amount, 8u);
  EXPECT_EQ(book.leaseHeld(), 0u);
}

// README, Quotas: a request charged but never sent (its client left while it waited, a queue
// timeout, an unreachable upstream) gets its charge back, exactly what it took.
TEST(QuotaBookTest, ARefundGivesBackWhatTheChargeTook) {
  QuotaBook book(PlanBudget{0, 10, 100}, 0);
  QuotaLimits l = perDay(8);
  l.rate = Rate{1, 1000};
  l.burst = 4;
  l.per_identity_rate = Rate{3, 60000};
  QuotaAsk a = ask(3, l);
  a.identity = "sub:alice";
  const QuotaTime t = QuotaTime::at(0, kMar15Noon);
  const QuotaVerdict v = book.decide(a, t, true);
  ASSERT_TRUE(v.granted());
  EXPECT_EQ(v.receipt.taken, QuotaReceipt::kClientRate | QuotaReceipt::kIdentityRate |
                                 QuotaReceipt::kGlobalDay | QuotaReceipt::kGlobalMonth |
                                 QuotaReceipt::kClientDay);
  EXPECT_FALSE(book.decide(a, t, true).granted()) << "the burst of 4 holds 1 more, not 3";
  book.refund(a, v.receipt, 0);
  // All of it is back: the same request fits again, and the day counts nothing of it.
  const QuotaVerdict again = book.decide(a, t, true);
  EXPECT_TRUE(again.granted());
  EXPECT_EQ(book.state().clients.at(0).second.day_used, 3u);
  EXPECT_EQ(book.state().global.day_used, 3u);
  EXPECT_EQ(book.state().global.month_used, 3u);
  // Never above a bucket's burst: two refunds of one charge give back one charge.
  book.refund(a, again.receipt, 0);
  book.refund(a, again.receipt, 0);
  QuotaLimits client_only = l;
  client_only.per_identity_rate = Rate{0, 1000};
  EXPECT_TRUE(book.decide(ask(4, client_only), t, true).granted()) << "a full burst of 4";
  EXPECT_FALSE(book.decide(ask(1, client_only), t, true).granted()) << "and no more";
  EXPECT_EQ(book.state().global.day_used, 4u) << "a counter never goes below zero";
}

TEST(QuotaBookTest, ARefundAfterItsWindowEndedGivesNothingBack) {
  QuotaBook book(unlimited(), 0);
  const QuotaTime day1 = QuotaTime::at(0, kJan31Last);
  const QuotaVerdict v = book.decide(ask(2, perDay(5)), day1, true);
  ASSERT_TRUE(v.granted());
  const QuotaTime day2 = QuotaTime::at(2000, kJan31Last + 2);
  ASSERT_TRUE(book.decide(ask(1, perDay(5)), day2, true).granted());
  book.refund(ask(2, perDay(5)), v.receipt, 2000);
  EXPECT_EQ(book.state().clients.at(0).second.day_used, 1u) << "the new day keeps its count";
  EXPECT_EQ(book.state().clients.at(0).second.day, day2.day);
}

// Only the counters the charge took: a budget set by a reload after the charge is not lowered.
TEST(QuotaBookTest, ARefundTouchesOnlyWhatItsChargeTook) {
  QuotaBook book(unlimited(), 0);
  const QuotaTime t = QuotaTime::at(0, kMar15Noon);
  const QuotaVerdict v = book.decide(ask(2), t, true);
  ASSERT_TRUE(v.granted());
  EXPECT_EQ(v.receipt.taken, 0);
  book.setBudget(PlanBudget{0, 10, 0}, 0);
  ASSERT_TRUE(book.decide(ask(4, {}, "other"), t, true).granted());
  book.refund(ask(2), v.receipt, 0);
  EXPECT_EQ(book.state().global.day_used, 4u);
  EXPECT_EQ(v.receipt.at.day, t.day);
}

// Leased mode: the count goes back to the replica's lease, not to the store.
TEST(QuotaBookTest, ALeasedRefundReturnsToTheLease) {
  QuotaBook book(unlimited(), 0);
  book.useLeases();
  const QuotaTime t = QuotaTime::at(0, kMar15Noon);
  QuotaVerdict need = book.decide(ask(2, perDay(100)), t, true);
  ASSERT_EQ(need.need_lease.size(), 1u);
  book.creditLease(need.need_lease[0].counter, t.day, 5, false, 0);
  const QuotaVerdict v = book.decide(ask(2, perDay(100)), t, true);
  ASSERT_TRUE(v.granted());
  EXPECT_EQ(book.leaseHeld(), 3u);
  book.refund(ask(2, perDay(100)), v.receipt, 0);
  EXPECT_EQ(book.leaseHeld(), 5u);
}

TEST(QuotaBookTest, IdentityKeys) {
  std::array<uint8_t, 16> v4{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 7};
  EXPECT_EQ(identityKey("", v4), "ip:203.0.113.7");
  EXPECT_EQ(identityKey("alice", v4), "sub:alice");
  std::array<uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 9, 9, 9, 9, 9, 9, 9, 9};
  EXPECT_EQ(identityKey("", v6), "ip6:2001:0db8:0001:0002::/64");
}

}  // namespace
}  // namespace kw::policy
