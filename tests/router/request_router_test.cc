// RequestRouter against a fake Upstream (upstream.h) and a fake Exchange: what the router sends,
// what it answers itself, and what never reaches the upstream. No sockets, no event loop.
#include "proxy/router/request_router.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "conf/api_key_gen.h"
#include "conf/loader.h"
#include "conf/snapshot.h"
#include "proxy/codec/http_request_parser.h"
#include "proxy/quota/quota_ledger.h"
#include "proxy/upstream/upstream.h"

namespace kw::proxy {
namespace {

// Records every plan it is handed (copied: the plan's views die with route()) and answers
// nothing: the test decides what the upstream said.
class FakeUpstream final : public Upstream {
 public:
  struct Sent {
    codec::RestRoute route;
    std::vector<std::vector<std::string>> commands;
    std::vector<size_t> denied_at;
    std::string channel;
    std::string tenant;
    std::vector<std::pair<std::string, std::string>> headers;
  };

  void dispatch(const RequestPlan& plan, const RouteContext& ctx, Exchange&) override {
    Sent s{plan.route,          {}, plan.denied_at, std::string(plan.channel), ctx.client,
           ctx.upstream_headers};
    for (const policy::Argv& argv : plan.forward) s.commands.emplace_back(argv.begin(), argv.end());
    sent.push_back(std::move(s));
  }
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> passthroughHeaders(
      const codec::HttpRequestParser&, const codec::ResponseOptions& opts,
      std::string_view client) const override {
    return {{"x-for", std::string(client)}, {"x-base64", opts.base64 ? "1" : "0"}};
  }
  void probe() override { ++probes; }
  [[nodiscard]] bool ready() const override { return probes > 0; }
  [[nodiscard]] UpstreamStats stats() const override { return {}; }
  [[nodiscard]] std::string describe() const override { return "fake"; }

  std::vector<Sent> sent;
  int probes = 0;
};

class FakeExchange final : public Exchange {
 public:
  void respond(HttpResponse r) override { response = std::move(r); }
  void holdRequest(RequestHandle) override {}
  void holdSource(StreamSourcePtr) override {}
  void holdQuotaWait(QuotaWaitPtr) override { waiting = true; }
  void beginStream(HttpResponse) override {}
  void streamWrite(std::string_view) override {}
  void endStream() override {}
  void relayBegin(HttpResponse, std::optional<uint64_t>) override {}
  void relayWrite(std::string_view) override {}
  void relayEnd() override {}
  void relayAbort() override {}
  AccessRecord& record() override { return rec; }
  policy::EvalScratch& scratch() override { return eval; }

  std::optional<HttpResponse> response;
  bool waiting = false;
  AccessRecord rec;
  policy::EvalScratch eval;
};

class RequestRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto app = conf::newApiKey();
    auto metered = conf::newApiKey();
    ASSERT_TRUE(app && metered);
    app_key_ = app->key;
    metered_key_ = metered->key;
    const std::string yaml =
        "listen:\n  address: 127.0.0.1:0\n"
        "upstream:\n  url: redis://127.0.0.1:1\n"
        "clients:\n"
        "  - name: app\n    api_keys: [\"" +
        app->reference +
        "\"]\n    commands: [\"+get\", \"+set\", \"+subscribe\"]\n    keys: [\"app:*\"]\n"
        "    channels: [\"news\"]\n    allow_origins: [\"https://ok.example\"]\n"
        "  - name: metered\n    api_keys: [\"" +
        metered->reference +
        "\"]\n    commands: [\"+get\"]\n    keys: [\"*\"]\n    limits: { per_day: 2 }\n";
    auto cfg = conf::loadConfigText(yaml, "<test>", "/tmp",
                                    [](std::string_view) { return std::optional<std::string>(); });
    ASSERT_TRUE(cfg) << cfg.error().message;
    auto snap = conf::buildSnapshot(std::move(*cfg));
    ASSERT_TRUE(snap) << snap.error().message;
    router_ = std::make_unique<RequestRouter>(*snap, upstream_);
  }

  // Parses `head` + `body`, admits and routes it as a connection would.
  FakeExchange run(const std::string& method_target, const std::string& key,
                   const std::string& body = {}, const std::string& extra_headers = {}) {
    return runOn(*router_, method_target, key, body, extra_headers);
  }
  // The same through `router` (another worker's router on the same shared state).
  FakeExchange runOn(RequestRouter& router, const std::string& method_target,
                     const std::string& key, const std::string& body = {},
                     const std::string& extra_headers = {}) {
    std::string req = method_target + " HTTP/1.1\r\nHost: t\r\n";
    if (!key.empty()) req += "Authorization: Bearer " + key + "\r\n";
    req += extra_headers;
    if (!body.empty()) req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    // As a connection does: admitted at the head, routed once the body is in.
    codec::HttpRequestParser parser;
    size_t used = 0;
    codec::ParseStatus st = parser.feed(req, &used);
    EXPECT_TRUE(st == codec::ParseStatus::Complete || st == codec::ParseStatus::HeadComplete);
    FakeExchange ex;
    PeerInfo peer{"127.0.0.1", {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1}};
    Admission a = router.admit(parser, peer, ex.rec);
    if (a.refusal) {
      ex.response = std::move(*a.refusal);
      return ex;
    }
    if (st == codec::ParseStatus::HeadComplete) {
      size_t more = 0;
      EXPECT_EQ(parser.feed(std::string_view(req).substr(used), &more),
                codec::ParseStatus::Complete);
    }
    router.route(parser, std::move(a), ex);
    return ex;
  }

  FakeUpstream upstream_;
  std::unique_ptr<RequestRouter> router_;
  std::string app_key_;
  std::string metered_key_;
};

TEST_F(RequestRouterTest, AllowedCommandIsSentAndNotAnsweredByTheRouter) {
  FakeExchange ex = run("GET /get/app:x", app_key_);
  EXPECT_FALSE(ex.response.has_value());
  ASSERT_EQ(upstream_.sent.size(), 1u);
  EXPECT_EQ(upstream_.sent[0].route, codec::RestRoute::Command);
  EXPECT_EQ(upstream_.sent[0].commands, (std::vector<std::vector<std::string>>{{"get", "app:x"}}));
  EXPECT_EQ(upstream_.sent[0].tenant, "app");
  EXPECT_EQ(ex.rec.decision, "allow");
  EXPECT_EQ(ex.rec.client, "app");
}

TEST_F(RequestRouterTest, UpstreamChoosesThePassthroughHeaders) {
  run("POST /", app_key_, R"(["GET","app:x"])", "Upstash-Encoding: base64\r\n");
  ASSERT_EQ(upstream_.sent.size(), 1u);
  const auto& h = upstream_.sent[0].headers;
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0], (std::pair<std::string, std::string>{"x-for", "app"}));
  EXPECT_EQ(h[1], (std::pair<std::string, std::string>{"x-base64", "1"}));
}

TEST_F(RequestRouterTest, DeniedKeyNeverReachesTheUpstream) {
  FakeExchange ex = run("POST /", app_key_, R"(["GET","other:x"])");
  ASSERT_TRUE(ex.response.has_value());
  EXPECT_EQ(ex.response->status, 403);
  EXPECT_NE(ex.response->body.find("NOPERM"), std::string::npos);
  EXPECT_TRUE(upstream_.sent.empty());
  EXPECT_EQ(ex.rec.decision, "deny");
}

TEST_F(RequestRouterTest, WrongCredentialIs401BeforeAnythingElse) {
  FakeExchange ex = run("GET /get/app:x", "not-a-key");
  ASSERT_TRUE(ex.response.has_value());
  EXPECT_EQ(ex.response->status, 401);
  EXPECT_TRUE(upstream_.sent.empty());
}

TEST_F(RequestRouterTest, PipelineSendsOnlyTheAllowedCommandsAndKeepsDeniedPositions) {
  FakeExchange ex = run("POST /pipeline", app_key_,
                        R"([["SET","app:a","1"],["FLUSHALL"],["GET","app:a"],["GET","secret:b"]])");
  EXPECT_FALSE(ex.response.has_value());
  ASSERT_EQ(upstream_.sent.size(), 1u);
  EXPECT_EQ(upstream_.sent[0].route, codec::RestRoute::Pipeline);
  EXPECT_EQ(upstream_.sent[0].commands,
            (std::vector<std::vector<std::string>>{{"SET", "app:a", "1"}, {"GET", "app:a"}}));
  EXPECT_EQ(upstream_.sent[0].denied_at, (std::vector<size_t>{1, 3}));
  EXPECT_EQ(ex.rec.decision, "partial");
}

TEST_F(RequestRouterTest, AllDeniedPipelineIsAnsweredByTheRouter) {
  FakeExchange ex = run("POST /pipeline", app_key_, R"([["FLUSHALL"],["GET","secret:b"]])");
  EXPECT_TRUE(upstream_.sent.empty());
  ASSERT_TRUE(ex.response.has_value());
  EXPECT_EQ(ex.response->status, 200);
  const std::string& b = ex.response->body;
  EXPECT_EQ(b.front(), '[');
  EXPECT_EQ(b.back(), ']');
  EXPECT_NE(b.find("{\"error\":\"NOPERM"), std::string::npos);
  EXPECT_EQ(ex.rec.decision, "deny");
}

TEST_F(RequestRouterTest, AllDeniedPipelineInResp2IsRespErrors) {
  FakeExchange ex =
      run("POST /pipeline", app_key_, R"([["FLUSHALL"]])", "Upstash-Response-Format: resp2\r\n");
  EXPECT_TRUE(upstream_.sent.empty());
  ASSERT_TRUE(ex.response.has_value());
  EXPECT_EQ(ex.response->content_type, "application/octet-stream");
  EXPECT_EQ(ex.response->body.rfind("-NOPERM", 0), 0u);
}

TEST_F(RequestRouterTest, TransactionWithOneDeniedCommandIsRefusedWhole) {
  FakeExchange ex = run("POST /multi-exec", app_key_, R"([["SET","app:a","1"],["DEL","app:a"]])");
  EXPECT_TRUE(upstream_.sent.empty());
  ASSERT_TRUE(ex.response.has_value());
  EXPECT_EQ(ex.response->status, 403);
  EXPECT_NE(ex.response->body.find("transaction command at index 1"), std::string::npos);
}

TEST_F(RequestRouterTest, SubscribeInABodyIsRefusedAndSubscribePathIsSent) {
  FakeExchange body = run("POST /", app_key_, R"(["SUBSCRIBE","news"])");
  ASSERT_TRUE(body.response.has_value());
  EXPECT_EQ(body.response->status, 400);
  EXPECT_TRUE(upstream_.sent.empty());
  FakeExchange path = run("GET /subscribe/news", app_key_);
  EXPECT_FALSE(path.response.has_value());
  ASSERT_EQ(upstream_.sent.size(), 1u);
  EXPECT_EQ(upstream_.sent[0].route, codec::RestRoute::Subscribe);
  EXPECT_EQ(upstream_.sent[0].channel, "news");
}

TEST_F(RequestRouterTest, DailyLimitRefusesWith429AndSendsNothing) {
  EXPECT_FALSE(run("GET /get/k", metered_key_).response.has_value());
  EXPECT_FALSE(run("GET /get/k", metered_key_).response.has_value());
  FakeExchange third = run("GET /get/k", metered_key_);
  ASSERT_TRUE(third.response.has_value());
  EXPECT_EQ(third.response->status, 429);
  bool retry_after = false;
  for (const auto& [name, value] : third.response->headers) retry_after |= name == "Retry-After";
  EXPECT_TRUE(retry_after);
  EXPECT_EQ(upstream_.sent.size(), 2u);
}

TEST_F(RequestRouterTest, OriginOutsideTheClientsListIs403WithNothingSent) {
  FakeExchange ex = run("GET /get/app:x", app_key_, {}, "Origin: https://evil.example\r\n");
  ASSERT_TRUE(ex.response.has_value());
  EXPECT_EQ(ex.response->status, 403);
  EXPECT_TRUE(upstream_.sent.empty());
  FakeExchange ok = run("GET /get/app:x", app_key_, {}, "Origin: https://ok.example\r\n");
  EXPECT_FALSE(ok.response.has_value());
  EXPECT_EQ(upstream_.sent.size(), 1u);
}

// `admitter` admits a request head; a reload through router_ makes that admission stale.
void expectStaleAfterReload(RequestRouter& admitter, RequestRouter& reloader,
                            const std::string& key) {
  std::string req =
      "GET /get/app:x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + key + "\r\n\r\n";
  codec::HttpRequestParser parser;
  size_t used = 0;
  ASSERT_EQ(parser.feed(req, &used), codec::ParseStatus::Complete);
  AccessRecord rec;
  Admission a = admitter.admit(parser, PeerInfo{"127.0.0.1", {}}, rec);
  ASSERT_FALSE(a.refusal.has_value());
  EXPECT_TRUE(admitter.admissionCurrent(a, 0));
  reloader.setSnapshot(reloader.snapshot());  // a reload, even of the same config
  EXPECT_FALSE(admitter.admissionCurrent(a, 0));
  EXPECT_EQ(admitter.snapshot(), reloader.snapshot());
}

TEST_F(RequestRouterTest, AdmissionGoesStaleWhenTheConfigChanges) {
  expectStaleAfterReload(*router_, *router_, app_key_);
}

// Two workers' routers on one RouterShared: a day budget counts both, and a reload or a
// revocation made through one is in force on the other's next admission.
TEST_F(RequestRouterTest, WorkersShareBudgetsAndReloads) {
  FakeUpstream other_upstream;
  RequestRouter other(router_->shared(), other_upstream);
  EXPECT_FALSE(run("GET /get/k", metered_key_).response.has_value());
  EXPECT_FALSE(runOn(other, "GET /get/k", metered_key_).response.has_value());
  FakeExchange third = runOn(other, "GET /get/k", metered_key_);
  ASSERT_TRUE(third.response.has_value());
  EXPECT_EQ(third.response->status, 429);
  EXPECT_EQ(upstream_.sent.size() + other_upstream.sent.size(), 2u);

  // A reload through the first router: the other admits under the new snapshot at once.
  expectStaleAfterReload(other, *router_, app_key_);
}

// The sync token is the response's time, never a count another client or user could move.
TEST_F(RequestRouterTest, SyncTokensAreTheResponseTime) {
  EXPECT_EQ(RequestRouter::nextSyncToken(""), "0");
  const auto micros = [] {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  };
  const uint64_t before = micros();
  const uint64_t a1 = std::stoull(RequestRouter::nextSyncToken("app"));
  for (int i = 0; i < 1000; ++i) RequestRouter::nextSyncToken("metered");
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const uint64_t a2 = std::stoull(RequestRouter::nextSyncToken("app"));
  const uint64_t after = micros();
  EXPECT_GE(a1, before);
  EXPECT_GE(a2, a1 + 2000);
  EXPECT_LE(a2, after);
}

}  // namespace
}  // namespace kw::proxy
