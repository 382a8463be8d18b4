// QuotaLedger decisions without a network: all-or-nothing across limits, commands counted,
// bounded identities, state round trip, and store leases from a scripted lease source.
#include "proxy/quota/quota_ledger.h"

#include <gtest/gtest.h>

#include <deque>

namespace kw::proxy {
namespace {

conf::BudgetConfig noBudget() { return {0, 0, 0}; }

QuotaAsk ask(std::string client, conf::LimitsConfig lim, uint64_t n,
             std::string id = "ip:1.2.3.4") {
  return QuotaAsk{std::move(client), lim, std::move(id), n};
}

TEST(QuotaLedger, PipelinesCountCommandsAgainstTheRate) {
  QuotaLedger q(noBudget());
  conf::LimitsConfig lim;
  lim.rate = {10, 60000};  // 10 a minute: no refill during the test
  lim.burst = 10;
  EXPECT_FALSE(q.charge(ask("a", lim, 7)).refused);
  auto r = q.charge(ask("a", lim, 4));
  ASSERT_TRUE(r.refused);
  EXPECT_EQ(r.refused->policy, "rate");
  EXPECT_FALSE(q.charge(ask("a", lim, 3)).refused);
  r = q.charge(ask("b", lim, 11));
  ASSERT_TRUE(r.refused) << "more than the burst never fits";
  EXPECT_NE(r.refused->message.find("exceeds the burst of 10"), std::string::npos);
}

TEST(QuotaLedger, ARefusedRequestTakesNothingFromAnyCounter) {
  conf::BudgetConfig b{0, 100, 0};
  QuotaLedger q(b);
  conf::LimitsConfig lim;
  lim.per_day = 10;
  lim.per_identity_rate = {5, 60000};
  // The identity allows 5; a request of 6 is refused by it and must not spend the day budgets.
  auto r = q.charge(ask("a", lim, 6));
  ASSERT_TRUE(r.refused);
  EXPECT_EQ(r.refused->policy, "identity");
  EXPECT_FALSE(q.charge(ask("a", lim, 5)).refused);
  EXPECT_FALSE(q.charge(ask("a", lim, 5, "ip:5.6.7.8")).refused);
  r = q.charge(ask("a", lim, 1, "ip:9.9.9.9"));
  ASSERT_TRUE(r.refused);
  EXPECT_EQ(r.refused->policy, "day");
  const policy::QuotaState st = q.state();
  EXPECT_EQ(st.global.day_used, 10u);
  ASSERT_EQ(st.clients.size(), 1u);
  EXPECT_EQ(st.clients[0].second.day_used, 10u);
}

TEST(QuotaLedger, ZeroBilledCommandsCostNothing) {
  QuotaLedger q(conf::BudgetConfig{1, 1, 1});
  EXPECT_FALSE(q.charge(ask("a", {}, 0)).refused);
  EXPECT_FALSE(q.charge(ask("a", {}, 1)).refused);
  EXPECT_TRUE(q.charge(ask("a", {}, 1)).refused);
}

TEST(QuotaLedger, RestoredCountersAreStillSpent) {
  conf::LimitsConfig lim;
  lim.per_day = 10;
  QuotaLedger a(noBudget());
  EXPECT_FALSE(a.charge(ask("c", lim, 8)).refused);
  auto changed = a.takeChangedState();  // the saver's step: the change is seen once
  ASSERT_TRUE(changed.has_value());
  EXPECT_FALSE(a.takeChangedState().has_value());
  QuotaLedger b(noBudget());
  b.restore(*changed);
  EXPECT_TRUE(b.charge(ask("c", lim, 3)).refused);
  EXPECT_FALSE(b.charge(ask("c", lim, 2)).refused);
}

TEST(QuotaLedger, IdentityKeysGroupIpv6By64) {
  std::array<uint8_t, 16> v4{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  EXPECT_EQ(identityKey("", v4), "ip:10.1.2.3");
  EXPECT_EQ(identityKey("alice", v4), "sub:alice");
  std::array<uint8_t, 16> a{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
  std::array<uint8_t, 16> b = a;
  b[15] = 9;
  EXPECT_EQ(identityKey("", a), identityKey("", b));
  EXPECT_EQ(identityKey("", a), "ip6:2001:0db8:0001:0002::/64");
}

// Grants from a script, answered when the test says so.
class FakeSource : public QuotaLeaseSource {
 public:
  uint64_t remaining = 0;
  bool up = true;
  std::deque<std::pair<std::vector<Want>, Granted>> calls;
  uint64_t returned = 0;
  void lease(const std::vector<Want>& wants, Granted done) override {
    calls.emplace_back(wants, std::move(done));
  }
  void answer() {
    auto [wants, done] = std::move(calls.front());
    calls.pop_front();
    std::vector<Grant> g;
    for (const Want& w : wants) {
      const uint64_t give = std::min(remaining, std::max<uint64_t>(w.need, 4));
      remaining -= give;
      g.push_back({give, remaining});
    }
    done(up, g);
  }
  void giveBack(const std::vector<Return>& r, std::function<void()> done) override {
    for (const Return& x : r) returned += x.amount;
    done();
  }
};

TEST(QuotaLedger, StoreModeWaitsForALeaseAndNeverSpendsMoreThanLeased) {
  FakeSource src;
  src.remaining = 10;
  QuotaLedger q(conf::BudgetConfig{0, 10, 0});
  q.useLeases(&src);
  int granted = 0, refused = 0;
  auto cb = [&](const std::optional<QuotaRefusal>& r) { r ? ++refused : ++granted; };
  auto c1 = q.charge(ask("a", {}, 3));
  ASSERT_TRUE(c1.wait);
  c1.wait->onDone(cb);
  auto c2 = q.charge(ask("a", {}, 5));
  ASSERT_TRUE(c2.wait);
  c2.wait->onDone(cb);
  ASSERT_EQ(src.calls.size(), 1u) << "one store call at a time";
  EXPECT_EQ(src.calls.front().first[0].need, 3u);
  src.answer();  // grants 4: the first ask takes 3, the second still misses 4
  EXPECT_EQ(granted, 1);
  ASSERT_EQ(src.calls.size(), 1u);
  EXPECT_EQ(src.calls.front().first[0].need, 4u);
  src.answer();
  EXPECT_EQ(granted, 2);
  EXPECT_EQ(q.leaseHeld(), 0u);
  EXPECT_EQ(src.remaining, 2u);
  // 2 left in the store: a request of 3 is refused once the store says it is dry.
  auto c3 = q.charge(ask("a", {}, 3));
  ASSERT_TRUE(c3.wait);
  c3.wait->onDone(cb);
  src.answer();
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(q.leaseHeld(), 2u);
  q.returnLeases([] {});
  EXPECT_EQ(src.returned, 2u);
}

// A charge granted after a store lease and never sent goes back into that lease (the store is
// not asked again for it), counted in stats().refunded; an embedded charge back into the day.
TEST(QuotaLedger, ARefundAfterALeaseGoesBackIntoTheLease) {
  FakeSource src;
  src.remaining = 10;
  QuotaLedger q(conf::BudgetConfig{0, 10, 0});
  q.useLeases(&src);
  const QuotaAsk a = ask("a", {}, 3);
  auto c = q.charge(a);
  ASSERT_TRUE(c.wait);
  QuotaWait* wait = c.wait.get();
  std::optional<policy::QuotaReceipt> receipt;
  c.wait->onDone([&](const std::optional<QuotaRefusal>& r) {
    ASSERT_FALSE(r);
    receipt = wait->receipt();
  });
  src.answer();  // grants 4, takes 3
  ASSERT_TRUE(receipt.has_value());
  EXPECT_NE(receipt->taken, 0);
  EXPECT_EQ(q.leaseHeld(), 1u);
  q.refund(wait->ask(), *receipt);
  EXPECT_EQ(q.leaseHeld(), 4u);
  EXPECT_EQ(q.stats().refunded, 3u);
  EXPECT_FALSE(q.charge(ask("a", {}, 4)).wait) << "served from the lease, no store call";

  QuotaLedger embedded(conf::BudgetConfig{0, 5, 0});
  auto e = embedded.charge(ask("b", {}, 5));
  ASSERT_FALSE(e.refused);
  EXPECT_TRUE(embedded.charge(ask("b", {}, 1)).refused);
  embedded.refund(ask("b", {}, 5), e.receipt);
  EXPECT_FALSE(embedded.charge(ask("b", {}, 5)).refused);
}

TEST(QuotaLedger, AGrantLargerThanPossibleIsAStoreFailure) {
  FakeSource src;
  src.remaining = 1'000'000;
  QuotaLedger q(conf::BudgetConfig{0, 1'000'000, 0});
  q.useLeases(&src);
  std::optional<QuotaRefusal> got;
  auto c1 = q.charge(ask("a", {}, 2));
  ASSERT_TRUE(c1.wait);
  c1.wait->onDone([&](const std::optional<QuotaRefusal>& r) { got = r; });
  // The store answers with more than max(need, kLeaseChunk): keyward does not take it.
  auto [wants, done] = std::move(src.calls.front());
  src.calls.pop_front();
  done(true, {{QuotaLeaseSource::kLeaseChunk + 1, 0}});
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->reason, "quota_store_unavailable");
  EXPECT_EQ(q.leaseHeld(), 0u);
}

TEST(QuotaLedger, StoreFailureFailsClosedAndACancelledWaitNeverAnswers) {
  FakeSource src;
  src.remaining = 100;
  src.up = false;
  QuotaLedger q(conf::BudgetConfig{0, 100, 0});
  q.useLeases(&src);
  std::optional<QuotaRefusal> got;
  auto c1 = q.charge(ask("a", {}, 1));
  c1.wait->onDone([&](const std::optional<QuotaRefusal>& r) { got = r; });
  auto c2 = q.charge(ask("a", {}, 1));
  bool ran = false;
  c2.wait->onDone([&](const std::optional<QuotaRefusal>&) { ran = true; });
  c2.wait.reset();  // the client went away
  src.answer();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->reason, "quota_store_unavailable");
  EXPECT_FALSE(ran);
  auto c3 = q.charge(ask("a", {}, 1));
  ASSERT_TRUE(c3.refused) << "within the back-off, no store call: refused at once";
}

}  // namespace
}  // namespace kw::proxy
