// In-process gateway tests: GatewayServer + ClientConnection + RequestRouter on a plaintext
// listener in front of a real redis-server, driven by raw sockets.
#include <gtest/gtest.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "conf/api_key_gen.h"
#include "conf/loader.h"
#include "conf/snapshot.h"
#include "policy/jwt.h"
#include "proxy/router/request_router.h"
#include "proxy/server/gateway_server.h"
#include "proxy/upstream/redis/redis_pool.h"
#include "proxy/upstream/redis/redis_upstream.h"
#include "tests/proxy/redis_test_support.h"

namespace kw::proxy {
namespace {

using testing::LoopRunner;
using testing::RedisServer;

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto admin = conf::newApiKey();
    auto reader = conf::newApiKey();
    auto budget = conf::newApiKey();
    auto iplocked = conf::newApiKey();
    ASSERT_TRUE(admin && reader && budget && iplocked);
    budget_key_ = budget->key;
    iplocked_key_ = iplocked->key;
    admin_key_ = admin->key;
    reader_key_ = reader->key;
    std::string yaml =
        "listen:\n  address: 127.0.0.1:0\n  header_timeout: 300ms\n  max_output_bytes: 4194304\n"
        "  max_body_bytes: 1000\n  trusted_proxies: [\"127.0.0.1\"]\n"
        "upstream:\n  url: redis://127.0.0.1:" +
        std::to_string(redis_.port()) +
        "\nclients:\n"
        "  - name: admin\n    api_keys: [\"" +
        admin->reference +
        "\"]\n    commands: [\"+@all\"]\n    keys: [\"*\"]\n    channels: [\"*\"]\n"
        "  - name: reader\n    api_keys: [\"" +
        reader->reference +
        "\"]\n    commands: [\"+@read\"]\n    keys: [\"app:*\"]\n"
        "  - name: budget\n    api_keys: [\"" +
        budget->reference +
        "\"]\n    commands: [\"+get\"]\n    keys: [\"app:*\"]\n"
        "    limits: { per_day: 3 }\n"
        "  - name: iplocked\n    api_keys: [\"" +
        iplocked->reference +
        "\"]\n    commands: [\"+get\"]\n    keys: [\"app:*\"]\n"
        "    allow_ips: [\"10.0.0.0/8\"]\n"
        "  - name: tenant\n    commands: [\"+get\", \"+set\"]\n"
        "    keys: [\"user:{sub}:*\"]\n"
        "signing:\n  keys:\n    - id: k1\n      alg: HS256\n"
        "      secret_env: KW_TEST_HS\n";
    auto cfg = conf::loadConfigText(yaml, "<test>", "/tmp", [](std::string_view name) {
      return name == "KW_TEST_HS" ? std::optional<std::string>(std::string(48, 's'))
                                  : std::optional<std::string>();
    });
    ASSERT_TRUE(cfg) << cfg.error().message;
    auto snap = conf::buildSnapshot(std::move(*cfg));
    ASSERT_TRUE(snap) << snap.error().message;
    snapshot_ = *snap;
    RedisPoolOptions uo;
    uo.endpoint = testing::endpointFor(snapshot_->config().upstream.url);
    auto up = RedisPool::create(loop_.base(), uo);  // the test's own commands
    ASSERT_TRUE(up) << up.error().message;
    upstream_ = std::move(*up);
    auto gateway_up = RedisUpstream::create(loop_.base(), uo);
    ASSERT_TRUE(gateway_up) << gateway_up.error().message;
    gateway_upstream_ = std::move(*gateway_up);
    router_ = std::make_unique<RequestRouter>(snapshot_, *gateway_upstream_);
    auto srv = GatewayServer::create(loop_.base(), snapshot_->config().listen, *router_, nullptr);
    ASSERT_TRUE(srv) << srv.error().message;
    server_ = std::move(*srv);
    port_ = static_cast<uint16_t>(
        std::stoi(server_->boundAddress().substr(server_->boundAddress().rfind(':') + 1)));
  }

  // A non-blocking client socket connected to the fixture's listener (or `port`), with a receive
  // buffer of `rcvbuf` bytes when given (set before connecting: it decides the window scale).
  int connectClient(uint16_t port = 0, int rcvbuf = 0) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf != 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port != 0 ? port : port_);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
  }

  // Sends `bytes`, then runs the loop until `responses` complete responses arrived or the
  // peer closed. Returns everything read.
  std::string exchange(int fd, const std::string& bytes, int responses, bool* closed = nullptr,
                       std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
    std::string got;
    bool eof = false;
    loop_.runUntil(
        [&] {
          char buf[65536];
          for (;;) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
              got.append(buf, static_cast<size_t>(n));
              continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) eof = true;
            break;
          }
          return eof || countResponses(got) >= responses;
        },
        limit);
    if (closed) *closed = eof;
    return got;
  }

  static int countResponses(const std::string& s) {
    int n = 0;
    size_t pos = 0;
    for (;;) {
      size_t head_end = s.find("\r\n\r\n", pos);
      if (head_end == std::string::npos) return n;
      size_t cl = s.find("Content-Length: ", pos);
      size_t len = 0;
      if (cl != std::string::npos && cl < head_end) len = std::stoul(s.substr(cl + 16));
      if (s.size() < head_end + 4 + len) return n;
      ++n;
      pos = head_end + 4 + len;
    }
  }

  std::string post(const std::string& path, const std::string& body, const std::string& key) {
    return "POST " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  std::string roundTrip(const std::string& request) {
    int fd = connectClient();
    std::string r = exchange(fd, request, 1);
    ::close(fd);
    return r;
  }

  RedisServer redis_;
  LoopRunner loop_;
  conf::SnapshotConstSharedPtr snapshot_;
  std::unique_ptr<RedisPool> upstream_;
  std::unique_ptr<RedisUpstream> gateway_upstream_;
  std::unique_ptr<RequestRouter> router_;
  std::unique_ptr<GatewayServer> server_;
  uint16_t port_ = 0;
  std::string admin_key_;
  std::string reader_key_;
  std::string budget_key_;
  std::string iplocked_key_;
};

TEST_F(GatewayTest, SingleCommandRoundTrip) {
  std::string r = roundTrip(post("/", R"(["SET","app:a","v1"])", admin_key_));
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("upstash-sync-token: "), std::string::npos);
  EXPECT_NE(r.find("Content-Type: application/json"), std::string::npos);
  EXPECT_NE(r.find(R"({"result":"OK"})"), std::string::npos) << r;
  r = roundTrip("GET /get/app:a HTTP/1.1\r\nAuthorization: Bearer " + reader_key_ + "\r\n\r\n");
  EXPECT_NE(r.find(R"({"result":"v1"})"), std::string::npos) << r;
}

TEST_F(GatewayTest, AuthAndPolicyRefusals) {
  std::string r = roundTrip(post("/", R"(["GET","app:a"])", "kw_nope"));
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;
  EXPECT_NE(r.find(R"({"error":"WRONGPASS invalid or missing auth token"})"), std::string::npos);
  r = roundTrip(post("/", R"(["SET","app:a","x"])", reader_key_));
  EXPECT_EQ(r.rfind("HTTP/1.1 403", 0), 0u) << r;
  EXPECT_NE(r.find("NOPERM"), std::string::npos);
  r = roundTrip(post("/", R"(["FLUSHALL"])", admin_key_));
  EXPECT_EQ(r.rfind("HTTP/1.1 403", 0), 0u) << r;
  r = roundTrip(post("/", R"(["SUBSCRIBE","ch"])", admin_key_));
  EXPECT_EQ(r.rfind("HTTP/1.1 400", 0), 0u) << "SUBSCRIBE only via the SSE routes: " << r;
  r = roundTrip("DELETE /get/a HTTP/1.1\r\nAuthorization: Bearer " + admin_key_ + "\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 405", 0), 0u) << r;
  r = roundTrip("POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 413", 0), 0u) << r;
  EXPECT_NE(r.find(R"({"error":"ERR)"), std::string::npos) << r;
}

TEST_F(GatewayTest, PipelineSplicesDenialsAndMultiExecRefusesWhole) {
  std::string r = roundTrip(
      post("/pipeline", R"([["SET","app:p","1"],["FLUSHALL"],["INCR","app:p"]])", admin_key_));
  EXPECT_NE(r.find(R"([{"result":"OK"},{"error":"NOPERM)"), std::string::npos) << r;
  EXPECT_NE(r.find(R"({"result":2}])"), std::string::npos) << r;
  r = roundTrip(post("/multi-exec", R"([["GET","app:p"],["INCR","app:p"]])", reader_key_));
  EXPECT_EQ(r.rfind("HTTP/1.1 403", 0), 0u) << r;
  EXPECT_NE(r.find("index 1"), std::string::npos) << r;
  r = roundTrip(post("/multi-exec", R"([["INCR","app:p"],["GET","app:p"]])", admin_key_));
  EXPECT_NE(r.find(R"([{"result":3},{"result":"3"}])"), std::string::npos) << r;
  // All slots denied: answered without the upstream.
  r = roundTrip(post("/pipeline", R"([["SET","app:p","9"]])", reader_key_));
  EXPECT_NE(r.find(R"([{"error":"NOPERM)"), std::string::npos) << r;
}

TEST_F(GatewayTest, JwtBindsSubIntoKeyTemplates) {
  ASSERT_FALSE(snapshot_->jwtKeys().empty());
  policy::JwtClaims claims;
  claims.client = "tenant";
  claims.sub = "alice";
  claims.iat = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  claims.exp = claims.iat + 300;
  auto token = policy::signJwt(*snapshot_->jwtKeys()[0], claims, snapshot_->jwtRules());
  ASSERT_TRUE(token) << token.error().message;
  std::string r = roundTrip(post("/", R"(["SET","user:alice:x","1"])", *token));
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  r = roundTrip(post("/", R"(["SET","user:bob:x","1"])", *token));
  EXPECT_EQ(r.rfind("HTTP/1.1 403", 0), 0u) << r;
  std::string tampered = *token;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  r = roundTrip(post("/", R"(["SET","user:alice:x","1"])", tampered));
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;
  claims.exp = claims.iat - 100;  // expired
  auto old = policy::signJwt(*snapshot_->jwtKeys()[0], claims, snapshot_->jwtRules());
  ASSERT_TRUE(old);
  r = roundTrip(post("/", R"(["GET","user:alice:x"])", *old));
  EXPECT_EQ(r.rfind("HTTP/1.1 401", 0), 0u) << r;
}

TEST_F(GatewayTest, DailyBudgetCountsCommands) {
  // per_day: 3 commands: a 2-command pipeline, then 1 GET, then nothing more.
  std::string r = roundTrip(post("/pipeline", R"([["GET","app:b"],["GET","app:b"]])", budget_key_));
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  r = roundTrip(post("/", R"(["GET","app:b"])", budget_key_));
  EXPECT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  r = roundTrip(post("/", R"(["GET","app:b"])", budget_key_));
  EXPECT_EQ(r.rfind("HTTP/1.1 429", 0), 0u) << r;
  EXPECT_NE(r.find("Retry-After: "), std::string::npos) << r;
  EXPECT_NE(r.find("RateLimit-Policy: \"day\";q=3;w=86400"), std::string::npos) << r;
  EXPECT_NE(r.find("RateLimit: \"day\";r=0;t="), std::string::npos) << r;
  EXPECT_NE(r.find("daily command budget of this client exhausted"), std::string::npos) << r;
}

TEST_F(GatewayTest, TrustedProxyForwardsTheClientAddress) {
  auto get = [&](const std::string& xff) {
    return roundTrip("POST / HTTP/1.1\r\nAuthorization: Bearer " + iplocked_key_ +
                     "\r\nX-Forwarded-For: " + xff +
                     "\r\nContent-Length: 15\r\n\r\n[\"GET\",\"app:q\"]");
  };
  EXPECT_EQ(get("10.1.2.3").rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(get("10.1.2.3, 127.0.0.1").rfind("HTTP/1.1 200", 0), 0u) << "trusted hops skipped";
  EXPECT_EQ(get("192.168.1.1").rfind("HTTP/1.1 403", 0), 0u);
  // The right-most untrusted hop counts: a client cannot prepend an allowed address.
  EXPECT_EQ(get("10.1.2.3, 192.168.1.1").rfind("HTTP/1.1 403", 0), 0u);
  std::string r = roundTrip(post("/", R"(["GET","app:q"])", iplocked_key_));
  EXPECT_EQ(r.rfind("HTTP/1.1 403", 0), 0u) << "no header: the proxy's own address " << r;
}

// Runs one command on the upstream directly (bypassing the gateway) and returns its raw reply.
std::string direct(LoopRunner& loop, RedisPool& up, std::vector<std::string> argv) {
  std::vector<std::string_view> views(argv.begin(), argv.end());
  policy::Argv a(views.data(), views.size());
  std::optional<std::string> out;
  RequestHandle h = up.execute({&a, 1}, [&](UpstreamResult&& r) {
    out = r ? std::string(r.value().raw(0)) : std::string("failed");
  });
  loop.runUntil([&] { return out.has_value(); });
  return out.value_or("timeout");
}

TEST_F(GatewayTest, SseStreamsWithBackpressureAndTearsDownOnDisconnect) {
  int fd = connectClient();
  std::string head = exchange(
      fd, "GET /subscribe/news HTTP/1.1\r\nAuthorization: Bearer " + admin_key_ + "\r\n\r\n", 0,
      nullptr, std::chrono::milliseconds(300));
  ASSERT_TRUE(loop_.runUntil([&] {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) head.append(buf, static_cast<size_t>(n));
    return head.find("data: subscribe,news,1") != std::string::npos;
  })) << head;
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_NE(head.find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);
  // 200 x 32 KiB published while the client does not read: the gateway pauses the upstream
  // above its high-water mark and resumes as the client drains; nothing is lost.
  const std::string payload(32 * 1024, 'x');
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(direct(loop_, *upstream_, {"PUBLISH", "news", payload}), ":1\r\n");
  }
  std::string got;
  size_t messages = 0;
  ASSERT_TRUE(loop_.runUntil(
      [&] {
        char buf[65536];
        for (;;) {
          ssize_t n = ::recv(fd, buf, sizeof buf, 0);
          if (n <= 0) break;
          got.append(buf, static_cast<size_t>(n));
        }
        messages = 0;
        for (size_t p = got.find("data: message,news,"); p != std::string::npos;
             p = got.find("data: message,news,", p + 1)) {
          ++messages;
        }
        return messages == 200 && got.size() >= 200 * payload.size();
      },
      std::chrono::milliseconds(15000)))
      << messages;
  ::close(fd);
  EXPECT_TRUE(loop_.runUntil(
      [&] {
        return direct(loop_, *upstream_, {"PUBSUB", "NUMSUB", "news"}).find(":0") !=
               std::string::npos;
      },
      std::chrono::milliseconds(3000)))
      << "upstream subscription outlived the client";
}

TEST_F(GatewayTest, PipelinedRequestsAnsweredInOrder) {
  int fd = connectClient();
  std::string two = post("/", R"(["SET","app:o","first"])", admin_key_) +
                    post("/", R"(["GET","app:o"])", admin_key_);
  std::string r = exchange(fd, two, 2);
  ::close(fd);
  size_t a = r.find(R"({"result":"OK"})");
  size_t b = r.find(R"({"result":"first"})");
  ASSERT_NE(a, std::string::npos) << r;
  ASSERT_NE(b, std::string::npos) << r;
  EXPECT_LT(a, b);
}

// A plaintext connection is read 16 KiB at a time by keyward's own read event: 400 pipelined
// requests (~90 KiB) in one send span several reads and turns, and every one is answered, in
// order (INCR counts 1..400).
TEST_F(GatewayTest, PipelineLargerThanOneReadAnsweredInOrder) {
  int fd = connectClient();
  std::string all;
  const std::string pad(120, 'p');
  for (int i = 0; i < 400; ++i) {
    all += "POST / HTTP/1.1\r\nHost: x\r\nX-Pad: " + pad + "\r\nAuthorization: Bearer " +
           admin_key_ + "\r\nContent-Length: 20\r\n\r\n" + R"(["INCR","app:count"])";
  }
  ASSERT_GT(all.size(), 64u * 1024);
  const int sndbuf = 1 << 20;  // the whole pipeline leaves in one non-blocking send
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  std::string r = exchange(fd, all, 400, nullptr, std::chrono::milliseconds(10000));
  ::close(fd);
  ASSERT_EQ(countResponses(r), 400) << r.substr(0, 400);
  size_t pos = 0;
  for (int i = 1; i <= 400; ++i) {
    const std::string want = R"({"result":)" + std::to_string(i) + "}";
    const size_t at = r.find(want, pos);
    ASSERT_NE(at, std::string::npos) << "reply " << i;
    pos = at + want.size();
  }
}

// A peer that leaves in the middle of a body is closed and nothing of its request runs.
TEST_F(GatewayTest, PeerGoneMidBodyRunsNothing) {
  int fd = connectClient();
  const std::string body = R"(["SET","app:half","x"])";
  const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin_key_ +
                           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  bool closed = false;
  exchange(fd, head + body.substr(0, 10), 1, &closed, std::chrono::milliseconds(200));
  EXPECT_FALSE(closed);
  ::shutdown(fd, SHUT_WR);
  closed = loop_.runUntil(
      [&] {
        char buf[512];
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
      },
      std::chrono::milliseconds(3000));
  ::close(fd);
  EXPECT_TRUE(closed) << "the connection outlived its peer's end of stream";
  std::string r = roundTrip(post("/", R"(["EXISTS","app:half"])", admin_key_));
  EXPECT_NE(r.find(R"({"result":0})"), std::string::npos) << r;
}

// A client that reads its answer slowly but steadily is not idle: with idle_timeout 500ms, an
// 8 MiB reply (more than the kernel's send buffer takes) read at about 6 MB/s arrives whole. The
// kernel reports room to write only after a third of a full send buffer drained; the timer used to
// close the connection at 500ms with the rest of the body unsent (attack round 12).
TEST_F(GatewayTest, SlowSteadyReaderGetsTheWholeReply) {
  const std::string big(8 << 20, 'x');
  std::optional<UpstreamResult> set;
  const std::vector<std::string_view> cmd{"SET", "app:big", big};
  const policy::Argv argv(cmd);
  RequestHandle h =
      upstream_->execute({&argv, 1}, [&](UpstreamResult&& r) { set.emplace(std::move(r)); });
  ASSERT_TRUE(loop_.runUntil([&] { return set.has_value(); }));
  conf::ListenConfig listen = snapshot_->config().listen;
  listen.idle_timeout = std::chrono::milliseconds(500);
  listen.max_output_bytes = 64 << 20;
  auto srv = GatewayServer::create(loop_.base(), listen, *router_, nullptr);
  ASSERT_TRUE(srv) << srv.error().message;
  const std::string addr = (*srv)->boundAddress();
  const auto port = static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
  int fd = connectClient(port, 64 * 1024);
  const std::string get =
      "GET /get/app:big HTTP/1.1\r\nAuthorization: Bearer " + admin_key_ + "\r\n\r\n";
  ASSERT_EQ(::send(fd, get.data(), get.size(), MSG_NOSIGNAL), static_cast<ssize_t>(get.size()));
  std::string got;
  bool eof = false;
  auto last = std::chrono::steady_clock::now();
  const auto started = last;
  loop_.runUntil(
      [&] {
        const auto now = std::chrono::steady_clock::now();
        if (now - last >= std::chrono::milliseconds(10)) {  // 64 KiB per 10 ms at most
          last = now;
          char buf[64 * 1024];
          const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
          if (n > 0) got.append(buf, static_cast<size_t>(n));
          if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) eof = true;
        }
        return eof || countResponses(got) == 1;
      },
      std::chrono::milliseconds(20000));
  const auto took = std::chrono::steady_clock::now() - started;
  ::close(fd);
  EXPECT_GT(took, std::chrono::milliseconds(1000)) << "the reader was not slow: nothing shown";
  ASSERT_EQ(countResponses(got), 1) << "cut off after " << got.size() << " bytes, eof " << eof;
  EXPECT_NE(got.find(R"({"result":")" + big + R"("})"), std::string::npos);
}

TEST_F(GatewayTest, SlowHeadIsCutOffAfterHeaderTimeout) {
  int fd = connectClient();
  bool closed = false;
  exchange(fd, "POST / HTTP/1.1\r\nHost:", 1, &closed, std::chrono::milliseconds(2000));
  ::close(fd);
  EXPECT_TRUE(closed) << "header_timeout 300ms did not close the connection";
}

TEST_F(GatewayTest, ParserErrorIsJsonAndCloses) {
  int fd = connectClient();
  bool closed = false;
  std::string r = exchange(fd, "GET / HTTP/9.9\r\n\r\n", 5, &closed);
  ::close(fd);
  EXPECT_TRUE(closed);
  EXPECT_NE(r.find(R"({"error":"ERR)"), std::string::npos) << r;
}

TEST_F(GatewayTest, DrainClosesIdleConnectionsAndStopsAccepting) {
  int fd = connectClient();
  std::string r = exchange(fd, post("/", R"(["PING"])", admin_key_), 1);
  EXPECT_NE(r.find("PONG"), std::string::npos);
  bool drained = false;
  server_->beginDrain([&] { drained = true; });
  EXPECT_TRUE(loop_.runUntil([&] { return drained; }, std::chrono::milliseconds(3000)));
  EXPECT_EQ(server_->connectionCount(), 0u);
  ::close(fd);
}

// listen.max_output_bytes (4 MiB here): clients that never read pipeline GETs of a 1.5 MiB value;
// past the total the biggest stalled holders are closed until it fits, the rest wait, a client
// that reads gets its whole value, and every closed connection gives its share back.
TEST_F(GatewayTest, OutputTotalShedsStalledReadersFirst) {
  const std::string value(1536 * 1024, 'v');
  ASSERT_EQ(direct(loop_, *upstream_, {"SET", "app:big", value}), "+OK\r\n");
  const std::string get =
      "GET /get/app:big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin_key_ + "\r\n\r\n";
  std::vector<int> stalled;
  for (int i = 0; i < 6; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;  // the kernel keeps little of what keyward sends
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    std::string three = get + get + get;
    ASSERT_EQ(::send(fd, three.data(), three.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(three.size()));
    stalled.push_back(fd);
  }
  // Each holds at most 1 MiB plus one response (about 2.5 MiB): 6 of them exceed 4 MiB.
  ASSERT_TRUE(loop_.runUntil([&] { return server_->outputShed() > 0; }));
  loop_.runFor(std::chrono::milliseconds(700));  // the survivors are now stalled readers
  EXPECT_LE(server_->outputBytes(), 4194304u);
  EXPECT_GT(server_->outputBytes(), 0u);
  const uint64_t shed = server_->outputShed();
  EXPECT_LT(shed, 6u);
  EXPECT_EQ(server_->connectionCount(), 6u - shed);
  // A reader that keeps up pushes the total over again: a stalled reader goes, it does not.
  int fd = connectClient();
  std::string got = exchange(fd, get, 1, nullptr, std::chrono::milliseconds(10000));
  EXPECT_NE(got.find("HTTP/1.1 200"), std::string::npos);
  EXPECT_GT(got.size(), value.size());
  EXPECT_NE(got.find(R"({"result":")" + value + R"("})"), std::string::npos);
  ::close(fd);
  EXPECT_LE(server_->outputBytes(), 4194304u);
  for (int s : stalled) ::close(s);
  EXPECT_TRUE(loop_.runUntil([&] { return server_->connectionCount() == 0; }));
  EXPECT_EQ(server_->outputBytes(), 0u);
}

}  // namespace
}  // namespace kw::proxy
