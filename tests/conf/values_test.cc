// Tests for the config value parsers: durations, rates, host:port, CIDRs, upstream URLs.
#include <gtest/gtest.h>

#include "conf/config.h"

namespace kw::conf {
namespace {

using std::chrono::milliseconds;

TEST(DurationTest, EveryUnit) {
  EXPECT_EQ(parseDuration("500ms").value(), milliseconds(500));
  EXPECT_EQ(parseDuration("30s").value(), milliseconds(30000));
  EXPECT_EQ(parseDuration("15m").value(), milliseconds(15 * 60000));
  EXPECT_EQ(parseDuration("2h").value(), milliseconds(2 * 3600000));
  EXPECT_EQ(parseDuration("7d").value(), milliseconds(7LL * 86400000));
  EXPECT_EQ(parseDuration("0s").value(), milliseconds(0));
}

TEST(DurationTest, RejectsMalformed) {
  for (const char* bad : {"", "s", "10", "10x", "1.5s", "-1s", "+1s", " 1s", "1s ", "1 s", "1S",
                          "1sec", "ms", "1m1s", "99999999999999999999s"}) {
    EXPECT_FALSE(parseDuration(bad).has_value()) << bad;
  }
  EXPECT_NE(parseDuration("10").error().message.find("no unit"), std::string::npos);
}

TEST(DurationTest, RejectsOverflow) {
  EXPECT_FALSE(parseDuration("999999999999d").has_value());
  EXPECT_NE(parseDuration("999999999999d").error().message.find("too long"), std::string::npos);
  EXPECT_TRUE(parseDuration("36500d").has_value());
}

TEST(RateTest, Units) {
  auto r = parseRate("50/s").value();
  EXPECT_EQ(r.count, 50u);
  EXPECT_EQ(r.period_ms, 1000u);
  EXPECT_EQ(parseRate("100/m").value().period_ms, 60000u);
  EXPECT_EQ(parseRate("1000/h").value().period_ms, 3600000u);
  EXPECT_EQ(parseRate("5000/d").value().period_ms, 86400000u);
  EXPECT_EQ(parseRate("10/30s").value().period_ms, 30000u);
  EXPECT_EQ(parseRate("10/250ms").value().period_ms, 250u);
}

TEST(RateTest, RejectsMalformed) {
  for (const char* bad : {"", "50", "/s", "50/", "50/x", "0/s", "-1/s", "5.5/s", "50/0s", "50/40d",
                          "50 /s", "1000000001/s"}) {
    EXPECT_FALSE(parseRate(bad).has_value()) << bad;
  }
}

TEST(HostPortTest, Forms) {
  auto a = parseHostPort("0.0.0.0:8443").value();
  EXPECT_EQ(a.host, "0.0.0.0");
  EXPECT_EQ(a.port, 8443);
  auto b = parseHostPort("[::1]:8443").value();
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.port, 8443);
  auto c = parseHostPort(":9091").value();
  EXPECT_EQ(c.host, "");
  EXPECT_EQ(c.port, 9091);
  EXPECT_EQ(parseHostPort("localhost:0").value().port, 0);
  EXPECT_EQ(parseHostPort("[::]:1").value().host, "::");
}

TEST(HostPortTest, RejectsMalformed) {
  for (const char* bad : {"", "8443", "host", "host:", "host:65536", "host:-1", "::1:8443", "[::1]",
                          "[::1]8443", "[nothost]:1", "ho st:1", "[1.2.3.4]:1"}) {
    EXPECT_FALSE(parseHostPort(bad).has_value()) << bad;
  }
  EXPECT_NE(parseHostPort("::1:8443").error().message.find("brackets"), std::string::npos);
}

TEST(CidrTest, ContainsV4AndV6) {
  auto net = parseCidr("10.0.0.0/8").value();
  EXPECT_TRUE(net.contains(*parseIp("10.1.2.3")));
  EXPECT_FALSE(net.contains(*parseIp("11.0.0.1")));
  EXPECT_TRUE(net.contains(*parseIp("::ffff:10.9.9.9")));  // v4-mapped peer
  auto v6 = parseCidr("2001:db8::/32").value();
  EXPECT_TRUE(v6.contains(*parseIp("2001:db8:1::5")));
  EXPECT_FALSE(v6.contains(*parseIp("2001:db9::1")));
  EXPECT_FALSE(v6.contains(*parseIp("10.0.0.1")));
  auto host = parseCidr("192.168.1.7").value();
  EXPECT_TRUE(host.contains(*parseIp("192.168.1.7")));
  EXPECT_FALSE(host.contains(*parseIp("192.168.1.8")));
  auto odd = parseCidr("172.16.0.0/12").value();
  EXPECT_TRUE(odd.contains(*parseIp("172.31.255.255")));
  EXPECT_FALSE(odd.contains(*parseIp("172.32.0.0")));
  auto all = parseCidr("0.0.0.0/0").value();
  EXPECT_TRUE(all.contains(*parseIp("8.8.8.8")));
  EXPECT_FALSE(all.contains(*parseIp("2001:db8::1")));
  EXPECT_TRUE(anyContains({net, v6}, *parseIp("2001:db8::1")));
  EXPECT_FALSE(anyContains({}, *parseIp("10.0.0.1")));
}

TEST(CidrTest, RejectsMalformedAndHostBits) {
  for (const char* bad : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "::/129", "x/8",
                          "10.0.0.0/8/8", "10.0.0.0/-1"}) {
    EXPECT_FALSE(parseCidr(bad).has_value()) << bad;
  }
  auto r = parseCidr("10.0.0.1/8");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("host bits"), std::string::npos);
}

TEST(UpstreamUrlTest, Kinds) {
  UpstreamConfig u;
  ASSERT_TRUE(parseUpstreamUrl("https://demo.upstash.io", u).has_value());
  EXPECT_EQ(u.kind, UpstreamKind::RestHttps);
  EXPECT_EQ(u.host, "demo.upstash.io");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.path, "");
  ASSERT_TRUE(parseUpstreamUrl("http://127.0.0.1:8080/base/", u).has_value());
  EXPECT_EQ(u.kind, UpstreamKind::RestHttp);
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.path, "/base");
  ASSERT_TRUE(parseUpstreamUrl("redis://127.0.0.1:6390", u).has_value());
  EXPECT_EQ(u.kind, UpstreamKind::Redis);
  EXPECT_EQ(u.port, 6390);
  EXPECT_EQ(u.db, 0u);
  ASSERT_TRUE(parseUpstreamUrl("rediss://[::1]/3", u).has_value());
  EXPECT_EQ(u.kind, UpstreamKind::Rediss);
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 6379);
  EXPECT_EQ(u.db, 3u);
  EXPECT_EQ(u.display, "rediss://[::1]:6379/3");
}

TEST(UpstreamUrlTest, RedisCredentialsNeverInDisplayOrErrors) {
  UpstreamConfig u;
  ASSERT_TRUE(parseUpstreamUrl("redis://alice:s%40cret@redis.local:6379/1", u).has_value());
  EXPECT_EQ(u.username, "alice");
  EXPECT_EQ(u.token, "s@cret");
  EXPECT_EQ(u.display.find("cret"), std::string::npos);
  auto bad = parseUpstreamUrl("redis://:topsecret@redis.local:99999", u);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message.find("topsecret"), std::string::npos);
}

TEST(UpstreamUrlTest, RejectsMalformed) {
  UpstreamConfig u;
  for (const char* bad : {"", "demo.upstash.io", "ftp://x", "https://", "https://user:pw@x",
                          "https://x?y=1", "https://x#f", "redis://x/abc", "redis://x:0",
                          "https://x:", "https://bad host", "redis://[::1", "https://x:70000"}) {
    EXPECT_FALSE(parseUpstreamUrl(bad, u).has_value()) << bad;
  }
}

}  // namespace
}  // namespace kw::conf
