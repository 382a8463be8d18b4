// ShareLedger (per-client shares of shared pools) and FairQueue (tenants served in turn).
#include "proxy/router/client_shares.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <vector>

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

// Attack round 19: one JWT identity took its client's whole max_in_flight. An identity holds at
// most half of its client's share; the client's other identities and static keys get the rest.
TEST(ShareLedger, AnIdentityHoldsAtMostHalfOfItsClientsShare) {
  ShareLedger l;
  std::vector<ShareLedger::TicketPtr> alice;
  for (int i = 0; i < 5; ++i) {
    auto got = l.acquire(ShareKind::InFlight, "app", 10, 0, "alice");
    ASSERT_TRUE(std::holds_alternative<ShareLedger::TicketPtr>(got)) << i;
    alice.push_back(std::get<ShareLedger::TicketPtr>(got));
  }
  auto refused = l.acquire(ShareKind::InFlight, "app", 10, 0, "alice");
  ASSERT_TRUE(std::holds_alternative<ShareRefusal>(refused));
  EXPECT_EQ(std::get<ShareRefusal>(refused).status, 429);
  EXPECT_NE(std::get<ShareRefusal>(refused).message.find("half of its client's share"),
            std::string::npos);
  EXPECT_EQ(l.held(ShareKind::InFlight, "app"), 5u);
  auto bob = l.acquire(ShareKind::InFlight, "app", 10, 0, "bob");
  ASSERT_TRUE(std::holds_alternative<ShareLedger::TicketPtr>(bob));
  auto plain = l.acquire(ShareKind::InFlight, "app", 10, 0);
  ASSERT_TRUE(std::holds_alternative<ShareLedger::TicketPtr>(plain));
  EXPECT_EQ(l.held(ShareKind::InFlight, "app"), 7u);
  alice.pop_back();  // a ticket given back frees the identity's unit too
  EXPECT_TRUE(std::holds_alternative<ShareLedger::TicketPtr>(
      l.acquire(ShareKind::InFlight, "app", 10, 0, "alice")));
  // A share of 1: an identity may still hold it.
  EXPECT_TRUE(std::holds_alternative<ShareLedger::TicketPtr>(
      l.acquire(ShareKind::InFlight, "one", 1, 0, "x")));
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

// Attack round 19: one JWT identity's twenty queued requests kept another identity of the same
// client waiting behind all of them. A tenant's lanes take turns within its turn; tenants still
// get one item per round however many lanes they have.
TEST(FairQueue, ATenantsLanesTakeTurnsWithinItsTurn) {
  FairQueue<int> q;
  for (int i = 0; i < 20; ++i) q.push("app", "app\nalice", i);
  q.push("app", "app\nbob", 100);
  q.push("other", 200);
  q.push("app", "app\nbob", 101);
  EXPECT_EQ(q.lanes(), 3u);
  EXPECT_EQ(q.tenants(), 2u);
  EXPECT_EQ(q.pop(), 0);    // app (alice)
  EXPECT_EQ(q.pop(), 200);  // other's turn
  EXPECT_EQ(q.pop(), 100);  // app again: bob's turn, not alice's next
  EXPECT_EQ(q.pop(), 1);    // app: alice (other is empty)
  EXPECT_EQ(q.pop(), 101);
  for (int i = 2; i < 20; ++i) EXPECT_EQ(q.pop(), i);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.lanes(), 0u);
}

// skip() passes over one lane: the tenant's other lanes come first, then the next tenant; passing
// over lanes() times tries every lane once.
TEST(FairQueue, SkipTriesEveryLaneOnce) {
  FairQueue<int> q;
  q.push("app", "app\na", 1);
  q.push("app", "app\nb", 2);
  q.push("app", "app\nc", 3);
  q.push("other", 4);
  std::vector<int> seen;
  for (size_t i = 0; i < q.lanes(); ++i) {
    seen.push_back(q.front());
    q.skip();
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(q.size(), 4u);
  // Erasing a lane's last item drops the lane; the tenant keeps its others.
  EXPECT_TRUE(q.erase("app", "app\nb", 2));
  EXPECT_FALSE(q.erase("app", "app\nb", 2));
  EXPECT_EQ(q.lanes(), 3u);
  auto all = q.drain();
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::deque<int>{1, 3, 4}));
}

// A client with thousands of identities queued: passing over it tries kLaneTries of them, then
// the next tenant, so a dispatch that places nothing costs O(tenants), not O(queue); the next
// turn goes on from the next lane.
TEST(FairQueue, ATenantIsPassedAfterKLaneTriesOfItsLanes) {
  FairQueue<int> q;
  for (int i = 0; i < 1000; ++i) q.push("app", "app\n" + std::to_string(i), i);
  q.push("other", 5000);
  size_t tries = 0;
  while (!q.skip()) ++tries;
  EXPECT_EQ(tries + 1, FairQueue<int>::kLaneTries);
  EXPECT_EQ(q.front(), 5000);
  q.skipTenant();
  EXPECT_EQ(q.front(), static_cast<int>(FairQueue<int>::kLaneTries));  // where it stopped
}

}  // namespace
}  // namespace kw::proxy
