// RedisPool::subscribe against a real redis-server: messages, patterns, pause/resume,
// teardown (PUBSUB NUMSUB back to 0) and failures.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "proxy/upstream/redis/redis_pool.h"
#include "redis_test_support.h"

namespace kw::proxy {
namespace {

using namespace std::chrono_literals;
using testing::HangingServer;
using testing::LoopRunner;
using testing::RedisServer;

using Cmd = std::vector<std::string_view>;

class RedisSubscriptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RedisPoolOptions opts;
    opts.endpoint = testing::endpointFor(redis_.url());
    opts.timeout = 2000ms;
    auto up = RedisPool::create(loop_.base(), opts);
    ASSERT_TRUE(up.has_value());
    up_ = std::move(*up);
  }

  std::string cmd(const Cmd& c) {
    const policy::Argv argv(c);
    std::optional<UpstreamResult> out;
    RequestHandle h =
        up_->execute({&argv, 1}, [&](UpstreamResult&& r) { out.emplace(std::move(r)); });
    EXPECT_TRUE(loop_.runUntil([&] { return out.has_value(); }));
    if (!out || !out->has_value()) {
      return "error";
    }
    return std::string(out->value().raw(0));
  }

  LoopRunner loop_;
  RedisServer redis_;
  std::unique_ptr<RedisPool> up_;
};

std::string bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}

TEST_F(RedisSubscriptionTest, SubscribeReceivesMessagesAndCloseUnsubscribes) {
  std::vector<std::string> events;
  std::optional<UpstreamError> closed;
  StreamSourcePtr sub = up_->subscribe(
      false, "chat",
      [&](const UpstreamReply& r) {
        events.emplace_back(r.raw);
        ASSERT_TRUE(r.value.isArray());
        ASSERT_EQ(r.value.elements.size(), 3u);
        EXPECT_EQ(r.value.elements[1].str, "chat");
      },
      [&](const UpstreamError& e) { closed = e; });
  ASSERT_TRUE(loop_.runUntil([&] { return !events.empty(); }));
  EXPECT_EQ(events[0], "*3\r\n" + bulk("subscribe") + bulk("chat") + ":1\r\n");
  EXPECT_EQ(up_->stats().subscriptions, 1u);
  EXPECT_EQ(cmd({"PUBLISH", "chat", "hello, world"}), ":1\r\n");
  EXPECT_EQ(cmd({"PUBLISH", "chat", "again"}), ":1\r\n");
  ASSERT_TRUE(loop_.runUntil([&] { return events.size() == 3; }));
  EXPECT_EQ(events[1], "*3\r\n" + bulk("message") + bulk("chat") + bulk("hello, world"));
  EXPECT_EQ(events[2], "*3\r\n" + bulk("message") + bulk("chat") + bulk("again"));
  EXPECT_EQ(cmd({"PUBSUB", "NUMSUB", "chat"}), "*2\r\n" + bulk("chat") + ":1\r\n");

  sub->close();
  sub.reset();
  EXPECT_EQ(up_->stats().subscriptions, 0u);
  std::string numsub;
  for (int i = 0; i < 100; ++i) {
    numsub = cmd({"PUBSUB", "NUMSUB", "chat"});
    if (numsub == "*2\r\n" + bulk("chat") + ":0\r\n") {
      break;
    }
    loop_.runFor(10ms);
  }
  EXPECT_EQ(numsub, "*2\r\n" + bulk("chat") + ":0\r\n");
  EXPECT_FALSE(closed.has_value()) << "on_close must not run after close()";
}

TEST_F(RedisSubscriptionTest, PatternSubscribeAndDestroyFromCallback) {
  std::vector<std::string> events;
  StreamSourcePtr sub;
  sub = up_->subscribe(
      true, "news.*",
      [&](const UpstreamReply& r) {
        events.emplace_back(r.raw);
        if (events.size() == 2) {
          sub.reset();  // the HTTP client went away while handling an event
        }
      },
      [&](const UpstreamError&) { FAIL() << "on_close after teardown"; });
  ASSERT_TRUE(loop_.runUntil([&] { return !events.empty(); }));
  EXPECT_EQ(events[0], "*3\r\n" + bulk("psubscribe") + bulk("news.*") + ":1\r\n");
  EXPECT_EQ(cmd({"PUBLISH", "news.eu", "x"}), ":1\r\n");
  ASSERT_TRUE(loop_.runUntil([&] { return events.size() == 2; }));
  EXPECT_EQ(events[1], "*4\r\n" + bulk("pmessage") + bulk("news.*") + bulk("news.eu") + bulk("x"));
  EXPECT_FALSE(sub);
  std::string numpat;
  for (int i = 0; i < 100 && numpat != ":0\r\n"; ++i) {
    loop_.runFor(10ms);
    numpat = cmd({"PUBSUB", "NUMPAT"});
  }
  EXPECT_EQ(numpat, ":0\r\n");
}

TEST_F(RedisSubscriptionTest, PauseHoldsMessagesUntilResume) {
  std::vector<std::string> events;
  StreamSourcePtr sub = up_->subscribe(
      false, "bp", [&](const UpstreamReply& r) { events.emplace_back(r.raw); },
      [&](const UpstreamError&) {});
  ASSERT_TRUE(loop_.runUntil([&] { return events.size() == 1; }));
  sub->pause();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(cmd({"PUBLISH", "bp", std::to_string(i)}), ":1\r\n");
  }
  loop_.runFor(100ms);
  EXPECT_EQ(events.size(), 1u);
  sub->resume();
  ASSERT_TRUE(loop_.runUntil([&] { return events.size() == 4; }));
  EXPECT_EQ(events[3], "*3\r\n" + bulk("message") + bulk("bp") + bulk("2"));
}

TEST_F(RedisSubscriptionTest, UpstreamDeathCallsOnClose) {
  std::vector<std::string> events;
  std::optional<UpstreamError> closed;
  StreamSourcePtr sub = up_->subscribe(
      false, "dies", [&](const UpstreamReply& r) { events.emplace_back(r.raw); },
      [&](const UpstreamError& e) { closed = e; });
  ASSERT_TRUE(loop_.runUntil([&] { return events.size() == 1; }));
  redis_.stop(SIGKILL);
  ASSERT_TRUE(loop_.runUntil([&] { return closed.has_value(); }));
  EXPECT_EQ(closed->kind, UpstreamErrorKind::Closed);
  EXPECT_EQ(up_->stats().subscriptions, 0u);
}

TEST(RedisSubscriptionLimits, OverloadedAndUnreachable) {
  LoopRunner loop;
  HangingServer hang;
  RedisPoolOptions opts;
  opts.endpoint = testing::endpointFor("redis://127.0.0.1:" + std::to_string(hang.port()));
  opts.max_subscriptions = 1;
  opts.timeout = 200ms;
  auto up = RedisPool::create(loop.base(), opts);
  ASSERT_TRUE(up.has_value());
  std::optional<UpstreamError> first;
  std::optional<UpstreamError> second;
  StreamSourcePtr a = (*up)->subscribe(
      false, "a", [](const UpstreamReply&) {}, [&](const UpstreamError& e) { first = e; });
  StreamSourcePtr b = (*up)->subscribe(
      false, "b", [](const UpstreamReply&) {}, [&](const UpstreamError& e) { second = e; });
  EXPECT_FALSE(second.has_value()) << "on_close ran inside subscribe()";
  ASSERT_TRUE(loop.runUntil([&] { return first && second; }, 3000ms));
  EXPECT_EQ(second->kind, UpstreamErrorKind::Overloaded);
  EXPECT_EQ(first->kind, UpstreamErrorKind::Timeout);  // never confirmed

  opts.endpoint = testing::endpointFor("redis://127.0.0.1:" + std::to_string(testing::freePort()));
  auto down = RedisPool::create(loop.base(), opts);
  std::optional<UpstreamError> refused;
  StreamSourcePtr c = (*down)->subscribe(
      false, "c", [](const UpstreamReply&) {}, [&](const UpstreamError& e) { refused = e; });
  ASSERT_TRUE(loop.runUntil([&] { return refused.has_value(); }, 3000ms));
  EXPECT_EQ(refused->kind, UpstreamErrorKind::Unreachable);
}

}  // namespace
}  // namespace kw::proxy
