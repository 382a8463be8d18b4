// AdminServer: routing table (health, readiness, metrics, token-guarded /v1) and a live listener.
#include "proxy/admin/admin_server.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

namespace kw::proxy {
namespace {

constexpr const char* kToken = "admin-token-0123456789abcdef";

struct Fixture {
  EventBasePtr base;
  std::unique_ptr<AdminServer> server;
  bool ready = true;
  bool draining = false;

  explicit Fixture(std::string token = kToken) {
    auto b = makeEventBase();
    EXPECT_TRUE(b.has_value());
    base = std::move(*b);
    AdminHooks hooks;
    hooks.ready = [this] { return ready; };
    hooks.draining = [this] { return draining; };
    hooks.metrics = [] {
      return std::string("# TYPE keyward_requests_total counter\nkeyward_requests_total 7\n");
    };
    hooks.reload = [](std::string& msg) {
      msg = "cfg.yaml:3:4: bad \"value\"";
      return false;
    };
    conf::HostPort hp{"127.0.0.1", 0, "127.0.0.1:0"};
    auto s = AdminServer::create(base.get(), hp, std::move(token), std::move(hooks));
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
    if (s) server = std::move(*s);
  }
};

TEST(AdminServerRoute, HealthzAlways200) {
  Fixture f;
  f.ready = false;
  f.draining = true;
  auto r = f.server->route("GET", "/healthz", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
}

TEST(AdminServerRoute, ReadyzFollowsHooks) {
  Fixture f;
  EXPECT_EQ(f.server->route("GET", "/readyz", "").status, 200);
  f.ready = false;
  EXPECT_EQ(f.server->route("GET", "/readyz", "").status, 503);
  f.ready = true;
  f.draining = true;
  auto r = f.server->route("GET", "/readyz", "");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("draining"), std::string::npos);
}

TEST(AdminServerRoute, MetricsIsPrometheusText) {
  Fixture f;
  auto r = f.server->route("GET", "/metrics", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type.rfind("text/plain", 0), 0u);
  EXPECT_NE(r.body.find("keyward_requests_total 7"), std::string::npos);
  EXPECT_EQ(f.server->route("POST", "/metrics", "").status, 405);
}

TEST(AdminServerRoute, V1NeedsTheExactBearerToken) {
  Fixture f;
  EXPECT_EQ(f.server->route("POST", "/v1/reload", "").status, 401);
  EXPECT_EQ(f.server->route("POST", "/v1/reload", "Bearer wrong").status, 401);
  EXPECT_EQ(f.server->route("POST", "/v1/reload", std::string("Bearer ") + kToken + "x").status,
            401);
  EXPECT_EQ(f.server->route("POST", "/v1/reload", std::string("Basic ") + kToken).status, 401);
  auto r = f.server->route("POST", "/v1/reload", std::string("Bearer ") + kToken);
  EXPECT_EQ(r.status, 400);  // the hook refused the new config
  EXPECT_NE(r.body.find("\"reloaded\":false"), std::string::npos);
  EXPECT_NE(r.body.find("cfg.yaml:3:4: bad \\\"value\\\""), std::string::npos) << r.body;
  // The token never appears in any answer.
  EXPECT_EQ(r.body.find(kToken), std::string::npos);
  // The scheme in any case, as on the client listener (RFC 9110 11.1); the token exactly.
  EXPECT_EQ(f.server->route("POST", "/v1/reload", std::string("bearer ") + kToken).status, 400);
  EXPECT_EQ(f.server->route("POST", "/v1/reload", std::string("BEARER  ") + kToken).status, 400);
  EXPECT_EQ(f.server->route("POST", "/v1/reload", std::string("bearer ") + kToken + " x").status,
            401);
}

TEST(AdminServerRoute, EmptyTokenRefusesV1) {
  Fixture f("");
  EXPECT_EQ(f.server->route("POST", "/v1/reload", "Bearer ").status, 401);
}

TEST(AdminServerRoute, UnknownPathIs404Json) {
  Fixture f;
  auto r = f.server->route("GET", "/nope", "");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body.rfind("{\"error\":\"ERR", 0), 0u);
}

// Blocking HTTP/1.1 GET against host:port; returns the whole response (server closes).
std::string httpGet(uint16_t port, const std::string& raw) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return "connect failed";
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  (void)::send(fd, raw.data(), raw.size(), 0);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST(AdminServerLive, ServesOverTcpOnAnyFreePort) {
  Fixture f;
  ASSERT_TRUE(f.server);
  const std::string& addr = f.server->boundAddress();
  ASSERT_EQ(addr.rfind("127.0.0.1:", 0), 0u) << addr;
  uint16_t port = static_cast<uint16_t>(std::stoi(addr.substr(10)));
  ASSERT_NE(port, 0);
  std::atomic<bool> done{false};
  std::string health, metrics, bad;
  std::thread client([&] {
    health = httpGet(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    metrics = httpGet(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    bad = httpGet(port, "GARBAGE\r\n\r\n");
    done = true;
  });
  Timer poll(f.base.get(), [&] {
    if (done) event_base_loopbreak(f.base.get());
  });
  poll.armPeriodic(Milliseconds(5));
  Timer guard(f.base.get(), [&] { event_base_loopbreak(f.base.get()); });
  guard.arm(Milliseconds(10000));
  event_base_dispatch(f.base.get());
  client.join();
  EXPECT_EQ(health.rfind("HTTP/1.1 200", 0), 0u) << health;
  EXPECT_NE(health.find("Connection: close"), std::string::npos);
  EXPECT_NE(metrics.find("keyward_requests_total 7"), std::string::npos) << metrics;
  EXPECT_EQ(bad.rfind("HTTP/1.1 4", 0), 0u) << bad;
  EXPECT_NE(bad.find("{\"error\":\"ERR"), std::string::npos) << bad;
}

}  // namespace
}  // namespace kw::proxy

namespace kw::proxy {
namespace {

TEST(PrometheusText, CountersGaugesAndLabels) {
  PrometheusText t;
  t.counter("keyward_requests_total", "Requests served.", 12)
      .gauge("keyward_connections", "Open client connections.", 3)
      .sample("counter", "keyward_denied_total", "Denials by reason.", "reason", "key_denied", 2)
      .sample("counter", "keyward_denied_total", "Denials by reason.", "reason", "a\"b\\c\nd", 1);
  const std::string& s = t.text();
  EXPECT_NE(s.find("# HELP keyward_requests_total Requests served.\n"
                   "# TYPE keyward_requests_total counter\nkeyward_requests_total 12\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("# TYPE keyward_connections gauge\nkeyward_connections 3\n"), std::string::npos);
  EXPECT_NE(s.find("keyward_denied_total{reason=\"key_denied\"} 2\n"), std::string::npos);
  EXPECT_NE(s.find("keyward_denied_total{reason=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << s;
  // The family header appears once.
  EXPECT_EQ(s.find("# TYPE keyward_denied_total"), s.rfind("# TYPE keyward_denied_total"));
}

TEST(PrometheusText, RefusesNamesOutsideTheKeywardNamespace) {
  PrometheusText t;
  t.counter("requests_total", "x", 1).counter("keyward_bad name", "x", 1);
  EXPECT_TRUE(t.text().empty()) << t.text();
}

}  // namespace
}  // namespace kw::proxy

namespace kw::proxy {
namespace {

TEST(PrometheusTextTest, HistogramSeriesAreCumulativeWithSumAndCount) {
  LatencyHistogram h;
  h.observe(0.0004);  // first bucket
  h.observe(0.003);   // le 0.005
  h.observe(42);      // past every bound: +Inf only
  PrometheusText p;
  p.histogram("keyward_x_seconds", "help", "route", "command", h);
  const std::string& t = p.text();
  EXPECT_NE(t.find("# TYPE keyward_x_seconds histogram\n"), std::string::npos) << t;
  EXPECT_NE(t.find("keyward_x_seconds_bucket{route=\"command\",le=\"0.0005\"} 1\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("keyward_x_seconds_bucket{route=\"command\",le=\"0.0025\"} 1\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("keyward_x_seconds_bucket{route=\"command\",le=\"0.005\"} 2\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("keyward_x_seconds_bucket{route=\"command\",le=\"10\"} 2\n"), std::string::npos)
      << t;
  EXPECT_NE(t.find("keyward_x_seconds_bucket{route=\"command\",le=\"+Inf\"} 3\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("keyward_x_seconds_sum{route=\"command\"} 42.003400\n"), std::string::npos) << t;
  EXPECT_NE(t.find("keyward_x_seconds_count{route=\"command\"} 3\n"), std::string::npos) << t;
  PrometheusText q;
  q.sample("counter", "keyward_y_total", "help", {{"client", "a\"b"}, {"shadow", "allow"}}, 5);
  EXPECT_NE(q.text().find("keyward_y_total{client=\"a\\\"b\",shadow=\"allow\"} 5\n"),
            std::string::npos)
      << q.text();
}

}  // namespace
}  // namespace kw::proxy
