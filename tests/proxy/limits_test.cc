// Limits on the real binary: 413 before the body arrives, 405, max_connections, upstream down.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/proxy/binary_test_support.h"

namespace {

using namespace kw::testing;  // NOLINT(google-build-using-namespace)

constexpr const char* kClients =
    "  - name: app\n"
    "    api_keys: [\"@REF@\"]\n"
    "    commands: [\"+@read\", \"+@write\"]\n"
    "    keys: [\"app:*\"]\n";

std::string sendAndRead(int fd, const std::string& bytes) {
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string got;
  char buf[2048];
  ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  if (n > 0) got.append(buf, static_cast<size_t>(n));
  return got;
}

TEST(Limits, OversizedBodyIsRefusedFromItsContentLengthBeforeTheBodyIsSent) {
  Stack s;
  ASSERT_TRUE(s.start(kClients, "  max_body_bytes: 1000\n")) << s.kw.out_text << s.kw.err_text;
  int fd = connectTo(s.port, 3);
  ASSERT_GE(fd, 0);
  auto t0 = Clock::now();
  std::string got =
      sendAndRead(fd, "POST /set/app:big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.key +
                          "\r\nContent-Length: 1000001\r\n\r\n");
  ::close(fd);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
  EXPECT_EQ(statusOf(got), 413) << got;
  EXPECT_NE(got.find("application/json"), std::string::npos) << got;
  EXPECT_NE(got.find("{\"error\":\"ERR"), std::string::npos) << got;
  EXPECT_EQ(s.redisCli("EXISTS app:big"), "0\n");
  // At the limit exactly, the body goes through.
  std::string value(1000, 'v');
  std::string ok =
      roundTrip(s.port, "POST /set/app:big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.key +
                            "\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n" + value);
  EXPECT_EQ(statusOf(ok), 200) << ok;
}

TEST(Limits, MethodsOutsideTheRestSetAre405Json) {
  Stack s;
  ASSERT_TRUE(s.start(kClients)) << s.kw.out_text << s.kw.err_text;
  for (const char* method : {"DELETE", "PATCH", "TRACE"}) {
    std::string got = roundTrip(s.port, std::string(method) +
                                            " /get/app:a HTTP/1.1\r\nHost: x\r\nAuthorization: "
                                            "Bearer " +
                                            s.key + "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(statusOf(got), 405) << method << "\n" << got;
    EXPECT_NE(got.find("{\"error\":\"ERR"), std::string::npos) << got;
  }
}

TEST(Limits, MaxConnectionsIsNeverExceededAndFreesUpWhenAClientLeaves) {
  Stack s;
  // The client's own limit lifts its default share (half of listen.max_connections).
  const std::string clients = std::string(kClients) + "    limits: { max_connections: 2 }\n";
  // Every connection here comes from 127.0.0.1 and connects before it authenticates.
  ASSERT_TRUE(s.start(clients, "  max_connections: 2\n  max_unauthenticated_per_address: 2\n"))
      << s.kw.out_text << s.kw.err_text;
  const std::string get =
      "GET /get/app:a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.key + "\r\n\r\n";
  int a = connectTo(s.port, 3);
  int b = connectTo(s.port, 3);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  EXPECT_EQ(statusOf(sendAndRead(a, get)), 200);
  EXPECT_EQ(statusOf(sendAndRead(b, get)), 200);
  // A third client is not served while two are open (closed, or a 503: never a 200).
  int c = connectTo(s.port, 3);
  if (c >= 0) {
    std::string got = sendAndRead(c, get);
    EXPECT_NE(statusOf(got), 200) << got;
    ::close(c);
  }
  ::close(a);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int d = connectTo(s.port, 3);
  ASSERT_GE(d, 0);
  EXPECT_EQ(statusOf(sendAndRead(d, get)), 200);
  ::close(d);
  ::close(b);
}

// README, Limits and shares: at listen.max_connections a new connection closes the connection
// that has gone longest without authenticating (attack round 14: idle connections from a few
// addresses locked every client out). An authenticated connection is never closed for it.
TEST(Limits, AtMaxConnectionsTheOldestUnauthenticatedConnectionMakesRoom) {
  Stack s;
  const std::string clients = std::string(kClients) + "    limits: { max_connections: 3 }\n";
  ASSERT_TRUE(s.start(clients,
                      "  max_connections: 3\n  max_unauthenticated_per_address: 3\n"
                      "  workers: 1\n"))
      << s.kw.out_text << s.kw.err_text;
  const std::string get =
      "GET /get/app:a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.key + "\r\n\r\n";
  const int authed = connectTo(s.port, 1);
  ASSERT_GE(authed, 0);
  EXPECT_EQ(statusOf(sendAndRead(authed, get)), 200);
  const int older = connectTo(s.port, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // accepted in this order
  const int newer = connectTo(s.port, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_GE(older, 0);
  ASSERT_GE(newer, 0);
  const int fresh = connectTo(s.port, 3);
  ASSERT_GE(fresh, 0);
  EXPECT_EQ(statusOf(sendAndRead(fresh, get)), 200) << "a new client is served at the bound";
  char byte = 0;
  EXPECT_EQ(::recv(older, &byte, 1, 0), 0) << "the oldest unauthenticated connection is closed";
  EXPECT_EQ(::recv(newer, &byte, 1, 0), -1) << "the newer one stays (the read times out)";
  EXPECT_EQ(statusOf(sendAndRead(authed, get)), 200) << "the authenticated one stays";
  // Every connection authenticated now but `newer`: the next newcomer closes it; then none is
  // left to close and a newcomer is refused.
  const int second = connectTo(s.port, 3);
  ASSERT_GE(second, 0);
  EXPECT_EQ(statusOf(sendAndRead(second, get)), 200);
  EXPECT_EQ(::recv(newer, &byte, 1, 0), 0);
  const int refused = connectTo(s.port, 3);
  if (refused >= 0) {
    EXPECT_EQ(statusOf(sendAndRead(refused, get)), -1) << "closed at accept";
    ::close(refused);
  }
  EXPECT_EQ(statusOf(sendAndRead(authed, get)), 200);
  const std::string metrics =
      roundTrip(s.admin_port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(metrics.find("keyward_unauthenticated_evicted_total 2\n"), std::string::npos)
      << metrics;
  for (const int fd : {authed, older, newer, fresh, second}) ::close(fd);
}

// Attack round 16: a flood of newcomers closed a trusted proxy's connections (each carries many
// clients' requests). They are never closed for a newcomer.
TEST(Limits, ATrustedProxysConnectionsAreNeverClosedForANewcomer) {
  Stack s;
  ASSERT_TRUE(s.start(
      kClients, "  max_connections: 2\n  workers: 1\n  trusted_proxies: [\"127.0.0.1/32\"]\n"))
      << s.kw.out_text << s.kw.err_text;
  const int a = connectTo(s.port, 1);
  const int b = connectTo(s.port, 1);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int c = connectTo(s.port, 1);
  if (c >= 0) {
    char byte = 0;
    EXPECT_EQ(::recv(c, &byte, 1, 0), 0) << "the newcomer is closed at accept";
    ::close(c);
  }
  char byte = 0;
  EXPECT_EQ(::recv(a, &byte, 1, 0), -1) << "the proxy's idle connection stays (the read times out)";
  EXPECT_EQ(::recv(b, &byte, 1, 0), -1);
  const std::string metrics =
      roundTrip(s.admin_port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(metrics.find("keyward_unauthenticated_evicted_total 0\n"), std::string::npos)
      << metrics;
  ::close(a);
  ::close(b);
}

// README, Limits and shares: the credential, address, Origin and path-style command are checked
// from the head; a refused request is answered without its body and without `100 Continue`.
TEST(Limits, RefusedHeadsAreAnsweredBeforeTheirBody) {
  Stack s;
  ASSERT_TRUE(s.start(kClients)) << s.kw.out_text << s.kw.err_text;
  const std::string tail = "\r\nExpect: 100-continue\r\nContent-Length: 9000000\r\n\r\n";
  struct Case {
    std::string head;
    int status;
  };
  const Case cases[] = {
      {"POST /set/app:x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer kw_wrong" + tail, 401},
      {"POST /set/app:x HTTP/1.1\r\nHost: x" + tail, 401},
      {"POST /flushall HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.key + tail, 403},
      {"POST /nosuchcommand/a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.key + tail, 403},
      {"POST /set/app:x HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n"
       "Authorization: Bearer " +
           s.key + tail,
       403},
  };
  for (const Case& c : cases) {
    int fd = connectTo(s.port, 3);
    ASSERT_GE(fd, 0);
    std::string got = sendAndRead(fd, c.head);
    ::close(fd);
    EXPECT_EQ(got.find("100 Continue"), std::string::npos) << got;
    EXPECT_EQ(statusOf(got), c.status) << got;
    EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
    EXPECT_NE(got.find("{\"error\":"), std::string::npos) << got;
  }
  // Admitted: 100 Continue comes before any body byte is sent.
  int fd = connectTo(s.port, 3);
  ASSERT_GE(fd, 0);
  std::string got =
      sendAndRead(fd, "POST /set/app:x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.key +
                          "\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u) << got;
  got = sendAndRead(fd, "ok");
  EXPECT_EQ(statusOf(got), 200) << got;
  ::close(fd);
  EXPECT_EQ(s.redisCli("GET app:x"), "ok\n");
}

TEST(Limits, DefaultClientShareIsHalfOfTheListenersConnections) {
  Stack s;
  ASSERT_TRUE(s.start(kClients, "  max_connections: 4\n  max_unauthenticated_per_address: 4\n"))
      << s.kw.out_text << s.kw.err_text;
  const std::string get =
      "GET /get/app:a HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + s.key + "\r\n\r\n";
  int a = connectTo(s.port, 3);
  int b = connectTo(s.port, 3);
  int c = connectTo(s.port, 3);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ASSERT_GE(c, 0);
  EXPECT_EQ(statusOf(sendAndRead(a, get)), 200);
  EXPECT_EQ(statusOf(sendAndRead(b, get)), 200);
  std::string got = sendAndRead(c, get);
  EXPECT_EQ(statusOf(got), 429) << got;
  EXPECT_NE(got.find("limits.max_connections 2"), std::string::npos) << got;
  ::close(a);
  ::close(b);
  ::close(c);
}

TEST(Limits, UpstreamDownIs502JsonAndNoUpstreamDetail) {
  Stack s;
  ASSERT_TRUE(s.start(kClients)) << s.kw.out_text << s.kw.err_text;
  s.redis.stop();
  std::string got = post(s.port, "/", s.key, R"(["get","app:a"])");
  EXPECT_EQ(statusOf(got), 502) << got;
  EXPECT_NE(got.find("{\"error\":\"ERR"), std::string::npos) << got;
  EXPECT_EQ(got.find(std::to_string(s.redis_port)), std::string::npos) << got;
  EXPECT_EQ(got.find(s.password), std::string::npos) << got;
}

}  // namespace
