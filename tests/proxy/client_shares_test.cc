// ShareLedger (per-client shares of shared pools) and FairQueue (tenants served in turn).
#include "proxy/router/client_shares.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "proxy/io/fair_queue.h"

namespace kw::proxy {
namespace {

ShareLedger::TicketPtr take(ShareLedger& l, ShareKind k, const std::string& c, uint64_t mine,
                            uint64_t pool) {
  auto got = l.acquire(k, c, mine, pool);
  auto* t = std::get_if<ShareLedger::TicketPtr>(&got);
  return t != nullptr ? *t : nullptr;
}

TEST(ShareLedger, RefusesAtTheClientShareWith429AndOthersStillGetIn) {
  ShareLedger l;
  auto a1 = take(l, ShareKind::Subscriptions, "a", 2, 10);
  auto a2 = take(l, ShareKind::Subscriptions, "a", 2, 10);
  ASSERT_TRUE(a1 && a2);
  auto refused = l.acquire(ShareKind::Subscriptions, "a", 2, 10);
  ASSERT_TRUE(std::holds_alternative<ShareRefusal>(refused));
  const auto& r = std::get<ShareRefusal>(refused);
  EXPECT_EQ(r.status, 429);
  EXPECT_NE(r.message.find("clients[].limits.max_subscriptions"), std::string::npos);
  EXPECT_TRUE(take(l, ShareKind::Subscriptions, "b", 2, 10));
  EXPECT_EQ(l.held(ShareKind::Subscriptions, "a"), 2u);
  EXPECT_EQ(l.total(ShareKind::Subscriptions), 2u);  // b's ticket was dropped at once
}

TEST(ShareLedger, RefusesAtThePoolWith503) {
  ShareLedger l;
  auto a = take(l, ShareKind::Subscriptions, "a", 5, 2);
  auto b = take(l, ShareKind::Subscriptions, "b", 5, 2);
  ASSERT_TRUE(a && b);
  auto refused = l.acquire(ShareKind::Subscriptions, "c", 5, 2);
  ASSERT_TRUE(std::holds_alternative<ShareRefusal>(refused));
  EXPECT_EQ(std::get<ShareRefusal>(refused).status, 503);
  EXPECT_NE(std::get<ShareRefusal>(refused).message.find("listen.max_subscriptions"),
            std::string::npos);
  b.reset();
  EXPECT_TRUE(take(l, ShareKind::Subscriptions, "c", 5, 2));
}

TEST(ShareLedger, KindsAreCountedApartAndTicketsReleaseOnDestruction) {
  ShareLedger l;
  auto s = take(l, ShareKind::Subscriptions, "a", 1, 0);
  auto f = take(l, ShareKind::InFlight, "a", 1, 0);
  ASSERT_TRUE(s && f);
  auto refused = l.acquire(ShareKind::InFlight, "a", 1, 0);
  ASSERT_TRUE(std::holds_alternative<ShareRefusal>(refused));
  EXPECT_NE(std::get<ShareRefusal>(refused).message.find("max_in_flight"), std::string::npos);
  f.reset();
  EXPECT_EQ(l.held(ShareKind::InFlight, "a"), 0u);
  EXPECT_EQ(l.held(ShareKind::Subscriptions, "a"), 1u);
  EXPECT_TRUE(take(l, ShareKind::InFlight, "a", 1, 0));
}

TEST(ShareLedger, ATicketMayOutliveItsLedger) {
  ShareLedger::TicketPtr t;
  {
    ShareLedger l;
    t = take(l, ShareKind::InFlight, "a", 1, 0);
  }
  t.reset();  // no use-after-free (ASan)
}

TEST(FairQueue, ServesTenantsInTurnAndFifoWithinATenant) {
  FairQueue<int> q;
  for (int i = 0; i < 100; ++i) q.push("flood", i);
  q.push("probe", 1000);
  q.push("probe", 1001);
  EXPECT_EQ(q.size(), 102u);
  EXPECT_EQ(q.pop(), 0);     // flood was first
  EXPECT_EQ(q.pop(), 1000);  // then the probe, not after 99 more
  EXPECT_EQ(q.pop(), 1);
  EXPECT_EQ(q.pop(), 1001);
  for (int i = 2; i < 100; ++i) EXPECT_EQ(q.pop(), i);
  EXPECT_TRUE(q.empty());
}

TEST(FairQueue, EraseRemovesOneItemAndDropsAnEmptyTenant) {
  FairQueue<int> q;
  q.push("a", 1);
  q.push("b", 2);
  q.push("a", 3);
  EXPECT_FALSE(q.erase("b", 7));
  EXPECT_TRUE(q.erase("b", 2));
  EXPECT_FALSE(q.erase("c", 1));
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.front(), 1);
  auto all = q.drain();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], 1);
  EXPECT_EQ(all[1], 3);
  EXPECT_TRUE(q.empty());
}

// A tenant's emptied lane is reused for the next tenant: nothing of the first carries over.
TEST(FairQueue, ALaneReusedByAnotherTenantStartsEmpty) {
  FairQueue<int> q;
  for (int round = 0; round < 10; ++round) {
    const std::string a = "a" + std::to_string(round);
    const std::string b = "tenant-with-a-long-name-" + std::to_string(round);
    q.push(a, round * 10);
    q.push(b, round * 10 + 1);
    q.push(a, round * 10 + 2);
    EXPECT_TRUE(q.erase(b, round * 10 + 1));
    EXPECT_EQ(q.tenants(), 1u);
    EXPECT_EQ(q.pop(), round * 10);
    EXPECT_EQ(q.pop(), round * 10 + 2);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.tenants(), 0u);
    EXPECT_FALSE(q.erase(a, round * 10));
  }
}

}  // namespace
}  // namespace kw::proxy
