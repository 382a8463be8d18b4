// What workers share across threads: LoopMailbox (posts from other threads run on the loop),
// ListenerLedger (listen.* bounds exact under concurrent workers) and ShareLedger / QuotaLedger
// used from several threads at once (run under TSan by scripts/test.sh's tsan step).
#include <event2/event.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "proxy/io/event_loop.h"
#include "proxy/io/loop_mailbox.h"
#include "proxy/quota/quota_ledger.h"
#include "proxy/router/client_shares.h"
#include "proxy/server/listener_ledger.h"

namespace kw::proxy {
namespace {

using namespace std::chrono_literals;

TEST(LoopMailbox, PostsFromOtherThreadsRunOnTheLoopInOrder) {
  auto base = makeEventBase();
  ASSERT_TRUE(base);
  auto box = LoopMailbox::create(base->get());
  ASSERT_TRUE(box);
  LoopMailbox& m = **box;
  std::thread::id loop_thread;
  std::vector<int> seen;  // touched only on the loop thread
  std::thread loop([&] {
    loop_thread = std::this_thread::get_id();
    event_base_dispatch(base->get());
  });
  std::vector<std::thread> posters;
  std::atomic<int> wrong_thread{0};
  for (int t = 0; t < 4; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        EXPECT_TRUE(m.post([&, t, i] {
          if (std::this_thread::get_id() != loop_thread) ++wrong_thread;
          seen.push_back(t * 1000 + i);
        }));
      }
    });
  }
  for (auto& p : posters) p.join();
  // call() waits for its function, which runs after everything posted before it.
  size_t count = 0;
  ASSERT_TRUE(m.call([&] { count = seen.size(); }, 5000ms));
  EXPECT_EQ(count, 1000u);
  EXPECT_EQ(wrong_thread.load(), 0);
  // Each poster's own posts keep their order.
  std::vector<int> last(4, -1);
  for (int v : seen) {
    EXPECT_GT(v % 1000, last[v / 1000]);
    last[v / 1000] = v % 1000;
  }
  ASSERT_TRUE(m.post([&] { event_base_loopexit(base->get(), nullptr); }));
  loop.join();
  m.close();
  EXPECT_FALSE(m.post([] {}));
  EXPECT_FALSE(m.call([] {}, 10ms));
}

TEST(LoopMailbox, CallTimesOutWhenTheLoopDoesNotRun) {
  auto base = makeEventBase();
  ASSERT_TRUE(base);
  auto box = LoopMailbox::create(base->get());
  ASSERT_TRUE(box);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE((*box)->call([] {}, 50ms));  // nobody runs the loop
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
}

conf::ListenConfig listenWith(uint64_t max_connections, uint64_t max_buffered = 1000) {
  conf::ListenConfig l;
  l.max_connections = max_connections;
  l.max_buffered_bytes = max_buffered;
  return l;
}

TEST(ListenerLedger, ConnectionsNeverPassTheBoundUnderConcurrentWorkers) {
  ListenerLedger ledger(listenWith(100), nullptr);
  std::atomic<int> taken{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (ledger.takeConnection()) ++taken;
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(taken.load(), 100);
  EXPECT_EQ(ledger.connections(), 100u);
  for (int i = 0; i < 100; ++i) ledger.dropConnection();
  EXPECT_EQ(ledger.connections(), 0u);
  EXPECT_TRUE(ledger.takeConnection());
}

TEST(ListenerLedger, AnonymousBodiesAndClientsCountEveryWorker) {
  ListenerLedger ledger(listenWith(10, 1000), nullptr);
  std::atomic<int> anonymous{0};
  std::atomic<int> attached{0};
  std::atomic<uint64_t> reserved{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (ledger.enterAnonymous("ip:10.0.0.1", 7)) ++anonymous;
        if (ledger.attachClient("app", 5)) ++attached;
        if (ledger.reserveBody(100, "app") == ListenerLedger::BodyReserve::Ok) reserved += 100;
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(anonymous.load(), 7);
  EXPECT_EQ(ledger.anonymousRefused(), 4u * 50 - 7);
  EXPECT_EQ(attached.load(), 5);
  EXPECT_EQ(ledger.clientConnections("app"), 5u);
  EXPECT_EQ(reserved.load(), 500u);  // one client holds at most half of max_buffered_bytes
  EXPECT_EQ(ledger.bufferedBytes(), 500u);
  EXPECT_EQ(ledger.reserveBody(100, "other"), ListenerLedger::BodyReserve::Ok);
  ledger.releaseBody(500, "app");
  ledger.releaseBody(100, "other");
  EXPECT_EQ(ledger.bufferedBytes(), 0u);
}

// At max_connections a newcomer goes to the worker holding the process's oldest
// unauthenticated connection (attack round 15); one not taken gives back its socket and its
// anonymous place.
TEST(ListenerLedger, AHandedConnectionGoesToTheWorkerWithTheOldestUnauthenticated) {
  ListenerLedger ledger(listenWith(10), nullptr);
  std::vector<int> got(3, 0);
  for (int w = 0; w < 3; ++w) {
    EXPECT_EQ(ledger.addWorker([&got, w](std::shared_ptr<HandedConnection>) { ++got[w]; }),
              static_cast<uint32_t>(w));
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  auto handed = [&] {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ::close(sv[1]);
    EXPECT_TRUE(ledger.enterAnonymous("ip:1", 100));
    return std::make_shared<HandedConnection>(ledger, sv[0], reinterpret_cast<sockaddr*>(&a),
                                              "ip:1");
  };
  // No other worker holds one: nothing handed.
  auto h = handed();
  EXPECT_FALSE(ledger.handOff(0, h, ListenerLedger::kNoneUnauthenticated));
  ASSERT_NE(h, nullptr);
  ledger.noteOldestUnauthenticated(1, 500);
  ledger.noteOldestUnauthenticated(2, 300);
  ledger.noteOldestUnauthenticated(0, 100);
  // The caller's own (100) is the oldest: it keeps the newcomer.
  EXPECT_FALSE(ledger.handOff(0, h, 100));
  // From worker 1 (its oldest 500): worker 0 holds the oldest of the others.
  EXPECT_TRUE(ledger.handOff(1, h, 500));
  EXPECT_EQ(h, nullptr);
  EXPECT_EQ(got, (std::vector<int>{1, 0, 0}));
  ledger.noteOldestUnauthenticated(0, ListenerLedger::kNoneUnauthenticated);
  h = handed();
  EXPECT_TRUE(ledger.handOff(1, h, 500));
  EXPECT_EQ(got, (std::vector<int>{1, 0, 1}));
  // Not taken: its socket closes and its anonymous place comes back (enterAnonymous was called
  // once per handed connection; none is left counted).
  auto dropped = handed();
  const int fd = dropped->fd;
  dropped.reset();
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "the socket of a connection not taken stayed open";
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(ledger.enterAnonymous("ip:1", 100)) << i;
  EXPECT_FALSE(ledger.enterAnonymous("ip:1", 100));
}

// Hand-offs on their way each hold a socket outside max_connections: at most kMaxHandOffs at
// once; one taken (or dropped) makes room for the next.
TEST(ListenerLedger, HandOffsOnTheirWayAreBounded) {
  ListenerLedger ledger(listenWith(10), nullptr);
  std::vector<std::shared_ptr<HandedConnection>> waiting;  // the other worker has not run yet
  (void)ledger.addWorker([](std::shared_ptr<HandedConnection>) {});
  (void)ledger.addWorker([&](std::shared_ptr<HandedConnection> h) { waiting.push_back(h); });
  ledger.noteOldestUnauthenticated(1, 100);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  auto handed = [&] {
    return std::make_shared<HandedConnection>(ledger, -1, reinterpret_cast<sockaddr*>(&a), "");
  };
  for (uint32_t i = 0; i < ListenerLedger::kMaxHandOffs; ++i) {
    auto h = handed();
    ASSERT_TRUE(ledger.handOff(0, h, ListenerLedger::kNoneUnauthenticated)) << i;
  }
  auto over = handed();
  EXPECT_FALSE(ledger.handOff(0, over, ListenerLedger::kNoneUnauthenticated));
  EXPECT_NE(over, nullptr);
  (void)waiting.back()->take();  // the worker took one
  waiting.pop_back();
  EXPECT_TRUE(ledger.handOff(0, over, ListenerLedger::kNoneUnauthenticated));
  waiting.clear();  // dropped at shutdown: each gives its place back
  for (uint32_t i = 0; i < ListenerLedger::kMaxHandOffs; ++i) {
    auto h = handed();
    ASSERT_TRUE(ledger.handOff(0, h, ListenerLedger::kNoneUnauthenticated)) << i;
  }
}

TEST(ListenerLedger, OutputTotalIsTheSumOfEveryWorkersBytes) {
  ListenerLedger ledger(listenWith(10), nullptr);
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) (void)ledger.noteOutput(10, 0);
      for (int i = 0; i < 500; ++i) (void)ledger.noteOutput(0, 10);
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(ledger.outputBytes(), 4u * 5000);
}

TEST(ListenerLedger, AskingWorkersToShedWakesEveryOneAtMostEvery5ms) {
  ListenerLedger ledger(listenWith(10), nullptr);
  std::atomic<int> woken[2] = {0, 0};
  ledger.onShedWanted([&] { ++woken[0]; });
  ledger.onShedWanted([&] { ++woken[1]; });
  ledger.askWorkersToShed();
  ledger.askWorkersToShed();  // within 5 ms: nothing more
  EXPECT_EQ(woken[0].load(), 1);
  EXPECT_EQ(woken[1].load(), 1);
  std::this_thread::sleep_for(10ms);
  ledger.askWorkersToShed();
  EXPECT_EQ(woken[0].load(), 2);
  EXPECT_EQ(woken[1].load(), 2);
}

TEST(ShareLedger, InFlightShareIsExactAcrossThreads) {
  ShareLedger shares;
  std::vector<ShareLedger::TicketPtr> held[4];
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        auto got = shares.acquire(ShareKind::InFlight, "app", 30, 0);
        if (auto* ticket = std::get_if<ShareLedger::TicketPtr>(&got)) {
          held[t].push_back(std::move(*ticket));
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  size_t n = 0;
  for (auto& h : held) n += h.size();
  EXPECT_EQ(n, 30u);
  EXPECT_EQ(shares.held(ShareKind::InFlight, "app"), 30u);
  // Tickets end on other threads than took them.
  std::thread([&] {
    for (auto& h : held) h.clear();
  }).join();
  EXPECT_EQ(shares.total(ShareKind::InFlight), 0u);
}

TEST(QuotaLedger, ADayBudgetIsExactUnderConcurrentWorkers) {
  QuotaLedger ledger(conf::BudgetConfig{});
  std::atomic<int> granted{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        QuotaAsk ask;
        ask.client = "app";
        ask.identity = "ip:10.0.0.1";
        ask.commands = 1;
        ask.limits.per_day = 777;
        QuotaLedger::Charge c = ledger.charge(std::move(ask));
        EXPECT_EQ(c.wait, nullptr);
        if (!c.refused) ++granted;
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(granted.load(), 777);
  EXPECT_EQ(ledger.stats().refused, 4u * 500 - 777);
}

}  // namespace
}  // namespace kw::proxy
