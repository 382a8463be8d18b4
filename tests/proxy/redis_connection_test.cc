// The pool's endpoint and upstream error statuses, without any server; the connection's corked
// writes against a bare socket and a real redis-server.
#include "proxy/upstream/redis/redis_connection.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "proxy/upstream/redis/redis_pool.h"
#include "tests/proxy/redis_test_support.h"

namespace kw::proxy {
namespace {

// The pool connects where conf's URL parser (the only one) says.
using testing::endpointFor;

TEST(RedisEndpoint, FromTheDocumentedUrlForms) {
  RedisEndpoint a = endpointFor("redis://127.0.0.1:6380");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6380);
  EXPECT_FALSE(a.tls);
  EXPECT_EQ(a.db, 0u);
  EXPECT_TRUE(a.password.empty());

  RedisEndpoint b = endpointFor("rediss://default:p%40ss%3Aw@eu1-x.upstash.io/3");
  EXPECT_TRUE(b.tls);
  EXPECT_EQ(b.host, "eu1-x.upstash.io");
  EXPECT_EQ(b.port, 6379);
  EXPECT_EQ(b.user, "default");
  EXPECT_EQ(b.password, "p@ss:w");
  EXPECT_EQ(b.db, 3u);

  RedisEndpoint c = endpointFor("redis://:pw@[::1]:7000/");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 7000);
  EXPECT_EQ(c.user, "");
  EXPECT_EQ(c.password, "pw");
}

TEST(RedisEndpoint, BadUrlsNeverReachThePool) {
  for (const char* bad : {"redis://", "redis://h:0", "redis://h:65536", "redis://h:x",
                          "redis://h:", "redis://h/x", "redis://h/99999999999", "redis://h?db=1",
                          "redis://[::1", "redis://%zz@h", "redis://[::1]x"}) {
    conf::UpstreamConfig u;
    EXPECT_FALSE(conf::parseUpstreamUrl(bad, u).has_value()) << bad;
  }
  testing::LoopRunner loop;
  RedisPoolOptions none;  // no host: refused, not connected somewhere by default
  EXPECT_FALSE(RedisPool::create(loop.base(), none).has_value());
}

TEST(UpstreamErrorKind, MapsToHttpStatus) {
  EXPECT_EQ(httpStatus(UpstreamErrorKind::Unreachable), 502);
  EXPECT_EQ(httpStatus(UpstreamErrorKind::Timeout), 504);
  EXPECT_EQ(httpStatus(UpstreamErrorKind::Protocol), 502);
  EXPECT_EQ(httpStatus(UpstreamErrorKind::Closed), 502);
  EXPECT_EQ(httpStatus(UpstreamErrorKind::TooLarge), 502);
  EXPECT_EQ(clientMessage({UpstreamErrorKind::Closed, "x", true}),
            "ERR upstream closed: outcome unknown");
  EXPECT_EQ(clientMessage({UpstreamErrorKind::Unreachable, "x", false}),
            "ERR upstream unreachable");
  EXPECT_EQ(
      clientMessage(
          {UpstreamErrorKind::TooLarge,
           "ERR reply exceeds upstream.max_reply_bytes (the command ran; its reply was dropped)",
           true}),
      "ERR reply exceeds upstream.max_reply_bytes (the command ran; its reply was dropped)");
  EXPECT_EQ(httpStatus(UpstreamErrorKind::Overloaded), 503);
  EXPECT_EQ(httpStatus(UpstreamErrorKind::Auth), 502);
  EXPECT_EQ(httpStatus(UpstreamErrorKind::Rejected), 400);
  EXPECT_EQ(toString(UpstreamErrorKind::Timeout), "timeout");
}

// Records what a RedisConnection reports.
struct Recorder : RedisConnection::Handler {
  bool ready = false;
  bool closed = false;
  std::vector<std::string> replies;
  void onReady(RedisConnection& /*conn*/) override { ready = true; }
  void onReply(RedisConnection& /*conn*/, std::string_view raw,
               std::span<const codec::RespNode> /*nodes*/) override {
    replies.emplace_back(raw);
  }
  void onClosed(RedisConnection& /*conn*/, const UpstreamError& /*error*/) override {
    closed = true;
  }
};

std::shared_ptr<RedisConnection> connectTo(testing::LoopRunner& loop, uint16_t port,
                                           const codec::RespLimits& limits, Recorder& rec) {
  RedisEndpoint ep;
  ep.host = "127.0.0.1";
  ep.port = port;
  auto conn = RedisConnection::create(loop.base(), ep, nullptr, Milliseconds(5000), limits, &rec);
  conn->start();
  EXPECT_TRUE(loop.runUntil([&] { return rec.ready || rec.closed; }));
  EXPECT_TRUE(rec.ready);
  return conn;
}

// Small writes wait for the end of the loop turn and leave together: nothing is on the wire when
// write() returns, everything (in order) once the loop has turned.
TEST(RedisConnectionCork, SmallWritesLeaveAfterTheTurn) {
  const testing::HangingServer server;  // never answers: the test reads what arrives
  testing::LoopRunner loop;
  codec::RespLimits limits;
  Recorder rec;
  auto conn = connectTo(loop, server.port(), limits, rec);
  const int peer = server.acceptOne();
  ASSERT_GE(peer, 0);
  const std::string ping = "*1\r\n$4\r\nPING\r\n";
  const std::string echo = "*2\r\n$4\r\nECHO\r\n$1\r\na\r\n";
  conn->write(ping);
  conn->write(echo);
  pollfd p{peer, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 50), 0) << "a small write left before the loop turned";
  std::string got;
  ASSERT_TRUE(loop.runUntil([&] {
    char buf[256];
    pollfd q{peer, POLLIN, 0};
    if (::poll(&q, 1, 0) == 1) {
      const ssize_t n = ::recv(peer, buf, sizeof buf, 0);
      if (n > 0) got.append(buf, static_cast<size_t>(n));
    }
    return got.size() >= ping.size() + echo.size();
  }));
  EXPECT_EQ(got, ping + echo);
  conn->close();
  ::close(peer);
}

// A large write skips the cork but never overtakes the small writes before it: SET, a 20 KiB
// APPEND (sent at once), STRLEN, all in one turn, reach Redis in that order.
TEST(RedisConnectionCork, LargeWriteKeepsTheOrder) {
  testing::RedisServer redis;
  testing::LoopRunner loop;
  codec::RespLimits limits;
  Recorder rec;
  auto conn = connectTo(loop, redis.port(), limits, rec);
  const std::string big(20 * 1024, 'x');
  std::string append =
      "*3\r\n$6\r\nAPPEND\r\n$1\r\nk\r\n$" + std::to_string(big.size()) + "\r\n" + big + "\r\n";
  conn->write("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\ny\r\n");
  conn->write(append);
  conn->write("*2\r\n$6\r\nSTRLEN\r\n$1\r\nk\r\n");
  ASSERT_TRUE(loop.runUntil([&] { return rec.replies.size() == 3 || rec.closed; }));
  ASSERT_EQ(rec.replies.size(), 3u);
  EXPECT_EQ(rec.replies[0], "+OK\r\n");
  EXPECT_EQ(rec.replies[1], ":20481\r\n");
  EXPECT_EQ(rec.replies[2], ":20481\r\n");
  conn->close();
}

}  // namespace
}  // namespace kw::proxy
