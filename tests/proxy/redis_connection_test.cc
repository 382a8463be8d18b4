// The pool's endpoint and upstream error statuses, without any server.
#include "proxy/upstream/redis/redis_connection.h"

#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace kw::proxy
