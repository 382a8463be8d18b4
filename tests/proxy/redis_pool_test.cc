// RedisPool against real redis-server processes: pipelines, transactions, AUTH, TLS,
// failures, timeouts, cancellation, pub/sub and large values.
#include "proxy/upstream/redis/redis_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "redis_test_support.h"

namespace kw::proxy {
namespace {

using namespace std::chrono_literals;
using testing::HangingServer;
using testing::LoopRunner;
using testing::RedisServer;
using testing::ScriptedServer;
using testing::TempDir;

using Cmd = std::vector<std::string_view>;

std::unique_ptr<RedisPool> makeUpstream(event_base* base, const std::string& url,
                                        RedisPoolOptions opts = {}) {
  const std::string password = opts.endpoint.password;  // overrides the URL's, as token_env does
  opts.endpoint = testing::endpointFor(url);
  if (!password.empty()) opts.endpoint.password = password;
  auto up = RedisPool::create(base, std::move(opts));
  EXPECT_TRUE(up.has_value()) << (up ? "" : up.error().message);
  return up ? std::move(*up) : nullptr;
}

// Runs commands (or a transaction) and waits for the outcome.
std::optional<UpstreamResult> run(LoopRunner& loop, RedisPool& up, const std::vector<Cmd>& cmds,
                                  bool transaction = false,
                                  std::chrono::milliseconds limit = 10000ms) {
  std::vector<policy::Argv> argvs(cmds.begin(), cmds.end());
  std::optional<UpstreamResult> out;
  auto cb = [&out](UpstreamResult&& r) { out.emplace(std::move(r)); };
  RequestHandle h = transaction ? up.executeTransaction(argvs, cb) : up.execute(argvs, cb);
  EXPECT_FALSE(out.has_value()) << "callback ran inside execute()";
  loop.runUntil([&] { return out.has_value(); }, limit);
  return out;
}

std::string rawOf(const UpstreamResult& r, size_t i = 0) {
  if (!r.has_value()) {
    return "error: " + r.error().message;
  }
  return std::string(r.value().raw(i));
}

class RedisPoolTest : public ::testing::Test {
 protected:
  LoopRunner loop_;
};

TEST_F(RedisPoolTest, SingleCommandAndPing) {
  RedisServer redis;
  auto up = makeUpstream(loop_.base(), redis.url());
  ASSERT_TRUE(up);
  auto set = run(loop_, *up, {{"SET", "k", "v"}});
  ASSERT_TRUE(set && set->has_value());
  EXPECT_EQ(rawOf(*set), "+OK\r\n");
  auto get = run(loop_, *up, {{"GET", "k"}});
  ASSERT_TRUE(get);
  EXPECT_EQ(rawOf(*get), "$1\r\nv\r\n");
  auto err = run(loop_, *up, {{"GET"}});
  ASSERT_TRUE(err && err->has_value()) << "a Redis error is a reply, not a failure";
  EXPECT_EQ(rawOf(*err).substr(0, 4), "-ERR");

  std::optional<UpstreamResult> pong;
  RequestHandle h = up->ping([&](UpstreamResult&& r) { pong.emplace(std::move(r)); });
  ASSERT_TRUE(loop_.runUntil([&] { return pong.has_value(); }));
  EXPECT_EQ(rawOf(*pong), "+PONG\r\n");
  EXPECT_FALSE(h.pending());
  EXPECT_EQ(up->describe(), "redis://127.0.0.1:" + std::to_string(redis.port()) + "/0");
}

TEST_F(RedisPoolTest, ThousandCommandPipelineInOrder) {
  RedisServer redis;
  auto up = makeUpstream(loop_.base(), redis.url());
  std::vector<std::string> storage;
  storage.reserve(1000);
  std::vector<Cmd> cmds;
  for (int i = 0; i < 1000; ++i) {
    storage.push_back(std::to_string(i));
    // SET replies +OK; INCRBY replies count up 1..500.
    cmds.push_back(i % 2 == 0 ? Cmd{"SET", "p:k", storage.back()} : Cmd{"INCRBY", "counter", "1"});
  }
  auto res = run(loop_, *up, cmds);
  ASSERT_TRUE(res && res->has_value()) << rawOf(*res);
  ASSERT_EQ(res->value().size(), 1000u);
  for (size_t i = 0; i < 1000; ++i) {
    const std::string want = i % 2 == 0 ? "+OK\r\n" : ":" + std::to_string(i / 2 + 1) + "\r\n";
    ASSERT_EQ(rawOf(*res, i), want) << "reply " << i;
  }
  const auto values = res->value().values();
  ASSERT_EQ(values.size(), 1000u);
  EXPECT_EQ(values[0].type, codec::RespType::Status);
  EXPECT_EQ(values[999].integer, 500);
  std::string all;
  for (size_t i = 0; i < res->value().size(); ++i) all += res->value().raw(i);
  EXPECT_TRUE(all.starts_with("+OK\r\n:1\r\n+OK\r\n:2\r\n"));
  EXPECT_EQ(res->value().rawSize(), all.size());
}

TEST_F(RedisPoolTest, ManyConcurrentRequestsShareThePool) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 3;
  opts.max_pipeline_depth = 4;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  std::vector<std::string> keys;
  std::vector<std::string> incs;
  for (int i = 0; i < 200; ++i) {
    keys.push_back("c" + std::to_string(i));
    incs.push_back(std::to_string(i));
  }
  std::vector<RequestHandle> handles;
  std::vector<std::string> got(200);
  int done = 0;
  for (int i = 0; i < 200; ++i) {
    const Cmd cmd{"INCRBY", keys[i], incs[i]};
    const policy::Argv argv(cmd);
    handles.push_back(up->execute({&argv, 1}, [&, i](UpstreamResult&& r) {
      got[i] = rawOf(r);
      ++done;
    }));
  }
  EXPECT_LE(up->stats().connections, 3u);
  ASSERT_TRUE(loop_.runUntil([&] { return done == 200; }));
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(got[i], ":" + std::to_string(i) + "\r\n");
  }
  EXPECT_EQ(up->stats().in_flight, 0u);
  EXPECT_EQ(up->stats().queued, 0u);
}

TEST_F(RedisPoolTest, TransactionAndExecAbort) {
  RedisServer redis;
  auto up = makeUpstream(loop_.base(), redis.url());
  auto tx = run(loop_, *up, {{"SET", "t", "1"}, {"INCR", "t"}, {"GET", "t"}}, true);
  ASSERT_TRUE(tx && tx->has_value()) << rawOf(*tx);
  ASSERT_EQ(tx->value().size(), 5u);
  EXPECT_EQ(rawOf(*tx, 0), "+OK\r\n");
  EXPECT_EQ(rawOf(*tx, 1), "+QUEUED\r\n");
  EXPECT_EQ(tx->value().execRaw(), "*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n");
  const codec::RespValue& exec = tx->value().values().back();
  ASSERT_TRUE(exec.isArray());
  ASSERT_EQ(exec.elements.size(), 3u);
  EXPECT_EQ(exec.elements[1].type, codec::RespType::Integer);
  EXPECT_EQ(exec.elements[1].integer, 2);
  EXPECT_EQ(exec.elements[2].str, "2");

  auto abort = run(loop_, *up, {{"SET", "t", "9"}, {"NOSUCHCOMMAND", "x"}}, true);
  ASSERT_TRUE(abort && abort->has_value());
  EXPECT_EQ(rawOf(*abort, 2).substr(0, 4), "-ERR");
  EXPECT_EQ(abort->value().execRaw().substr(0, 10), "-EXECABORT");
  EXPECT_TRUE(abort->value().values().back().isError());
  EXPECT_TRUE(abort->value().values().back().str.starts_with("EXECABORT"));
  auto get = run(loop_, *up, {{"GET", "t"}});
  EXPECT_EQ(rawOf(*get), "$1\r\n2\r\n") << "the aborted transaction must not have run";
}

// Integers at int64's edges are replies like any other: the connection stays up and in step
// (an 18-digit framer once dropped it on INCR's answer past 10^18, failing every request on it).
TEST_F(RedisPoolTest, IntegersAtInt64EdgesKeepTheConnection) {
  RedisServer redis;
  auto up = makeUpstream(loop_.base(), redis.url());
  auto r = run(loop_, *up,
               {{"SET", "big", "9223372036854775806"},
                {"INCR", "big"},
                {"SET", "small", "-9223372036854775807"},
                {"DECR", "small"},
                {"PING"}});
  ASSERT_TRUE(r && r->has_value()) << (r && !r->has_value() ? r->error().message : "");
  ASSERT_EQ(r->value().size(), 5u);
  EXPECT_EQ(r->value().value(1).type, codec::RespType::Integer);
  EXPECT_EQ(r->value().value(1).integer, INT64_MAX);
  EXPECT_EQ(r->value().value(3).integer, INT64_MIN);
  EXPECT_EQ(rawOf(*r, 4), "+PONG\r\n");
  // Redis refuses to pass the edge with an error reply; the transaction path reads the same.
  auto tx = run(loop_, *up, {{"INCR", "big"}, {"DECR", "small"}, {"GET", "big"}}, true);
  ASSERT_TRUE(tx && tx->has_value());
  const codec::RespValue& exec = tx->value().values().back();
  ASSERT_TRUE(exec.isArray());
  ASSERT_EQ(exec.elements.size(), 3u);
  EXPECT_TRUE(exec.elements[0].isError());
  EXPECT_EQ(exec.elements[2].str, "9223372036854775807");
}

TEST_F(RedisPoolTest, RejectsCommandsThatWouldDesyncThePool) {
  RedisServer redis;
  auto up = makeUpstream(loop_.base(), redis.url());
  for (const Cmd& bad : {Cmd{"subscribe", "x"}, Cmd{"MULTI"}, Cmd{"select", "1"},
                         Cmd{"CLIENT", "REPLY", "OFF"}, Cmd{}}) {
    auto res = run(loop_, *up, {{"PING"}, bad});
    ASSERT_TRUE(res);
    ASSERT_FALSE(res->has_value());
    EXPECT_EQ(res->error().kind, UpstreamErrorKind::Rejected);
    EXPECT_EQ(httpStatus(res->error().kind), 400);
  }
  auto tx = run(loop_, *up, {{"WATCH", "x"}}, true);
  ASSERT_TRUE(tx && !tx->has_value());
  EXPECT_EQ(tx->error().kind, UpstreamErrorKind::Rejected);
  EXPECT_EQ(rawOf(*run(loop_, *up, {{"PING"}})), "+PONG\r\n");
}

TEST_F(RedisPoolTest, AuthWithRequirepass) {
  RedisServer redis({"--requirepass", "s3cret"});
  RedisPoolOptions good;
  good.endpoint.password = "s3cret";
  auto up = makeUpstream(loop_.base(), redis.url(), good);
  EXPECT_EQ(rawOf(*run(loop_, *up, {{"PING"}})), "+PONG\r\n");

  RedisPoolOptions bad;
  bad.endpoint.password = "wrong";
  auto up_bad = makeUpstream(loop_.base(), redis.url(), bad);
  auto res = run(loop_, *up_bad, {{"PING"}});
  ASSERT_TRUE(res && !res->has_value());
  EXPECT_EQ(res->error().kind, UpstreamErrorKind::Auth);
  EXPECT_EQ(res->error().message.find("wrong"), std::string::npos) << "password leaked";
  EXPECT_NE(res->error().message.find("WRONGPASS"), std::string::npos) << res->error().message;

  auto up_url = makeUpstream(loop_.base(),
                             "redis://:s3cret@127.0.0.1:" + std::to_string(redis.port()) + "/2");
  EXPECT_EQ(rawOf(*run(loop_, *up_url, {{"SET", "in2", "x"}})), "+OK\r\n");
  EXPECT_EQ(rawOf(*run(loop_, *up, {{"EXISTS", "in2"}})), ":0\r\n") << "db 2 was not selected";

  auto up_none = makeUpstream(loop_.base(), redis.url());
  EXPECT_EQ(rawOf(*run(loop_, *up_none, {{"PING"}})).substr(0, 7), "-NOAUTH");
}

TEST_F(RedisPoolTest, TlsVerificationSuccessWrongCaAndWrongHost) {
  TempDir dir;
  testing::makeCert(dir, "ca", "server", "DNS:localhost,IP:127.0.0.1");
  testing::makeCert(dir, "ca", "other", "DNS:wrong.example");
  testing::makeCert(dir, "ca2", "unused", "DNS:localhost");
  const auto tlsArgs = [&](const std::string& name) {
    return std::vector<std::string>{"--tls-cert-file",    dir.file(name + ".crt"),
                                    "--tls-key-file",     dir.file(name + ".key"),
                                    "--tls-ca-cert-file", dir.file("ca.crt"),
                                    "--tls-auth-clients", "no"};
  };
  RedisServer redis(tlsArgs("server"), 0, true);
  RedisServer wrong_host(tlsArgs("other"), 0, true);

  RedisPoolOptions opts;
  opts.ca_file = dir.file("ca.crt");
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    auto up = makeUpstream(loop_.base(), redis.url(host), opts);
    EXPECT_EQ(rawOf(*run(loop_, *up, {{"PING"}})), "+PONG\r\n") << host;
  }
  auto check_fails = [&](const std::string& url, const RedisPoolOptions& o) {
    auto up = makeUpstream(loop_.base(), url, o);
    auto res = run(loop_, *up, {{"PING"}});
    ASSERT_TRUE(res && !res->has_value()) << url;
    EXPECT_EQ(res->error().kind, UpstreamErrorKind::Unreachable);
    EXPECT_NE(res->error().message.find("certificate verify failed"), std::string::npos)
        << res->error().message;
  };
  RedisPoolOptions wrong_ca;
  wrong_ca.ca_file = dir.file("ca2.crt");
  check_fails(redis.url(), wrong_ca);
  check_fails(wrong_host.url("localhost"), opts);
  check_fails(wrong_host.url("127.0.0.1"), opts);
  RedisPoolOptions system_store;  // a private CA is not in the system store
  check_fails(redis.url("localhost"), system_store);

  RedisPoolOptions missing;
  missing.endpoint = testing::endpointFor(redis.url());
  missing.ca_file = dir.file("nope.crt");
  EXPECT_FALSE(RedisPool::create(loop_.base(), missing).has_value());
}

TEST_F(RedisPoolTest, RedisKilledMidRequestThenRestarted) {
  auto redis = std::make_unique<RedisServer>();
  const uint16_t port = redis->port();
  auto up = makeUpstream(loop_.base(), redis->url());
  ASSERT_EQ(rawOf(*run(loop_, *up, {{"PING"}})), "+PONG\r\n");

  std::optional<UpstreamResult> blocked;
  const Cmd blpop{"BLPOP", "nothing", "5"};
  const policy::Argv argv(blpop);
  RequestHandle h =
      up->execute({&argv, 1}, [&](UpstreamResult&& r) { blocked.emplace(std::move(r)); });
  loop_.runFor(100ms);
  EXPECT_FALSE(blocked.has_value());
  redis->stop(SIGKILL);
  ASSERT_TRUE(loop_.runUntil([&] { return blocked.has_value(); }));
  ASSERT_FALSE(blocked->has_value());
  EXPECT_EQ(blocked->error().kind, UpstreamErrorKind::Closed);

  auto down = run(loop_, *up, {{"PING"}});
  ASSERT_TRUE(down && !down->has_value());
  EXPECT_EQ(down->error().kind, UpstreamErrorKind::Unreachable);
  EXPECT_EQ(httpStatus(down->error().kind), 502);

  redis = std::make_unique<RedisServer>(std::vector<std::string>{}, port);
  EXPECT_EQ(rawOf(*run(loop_, *up, {{"PING"}})), "+PONG\r\n");
}

TEST_F(RedisPoolTest, TimeoutAgainstHangingServer) {
  HangingServer hang;
  RedisPoolOptions opts;
  opts.timeout = 300ms;
  auto up = makeUpstream(loop_.base(), "redis://127.0.0.1:" + std::to_string(hang.port()), opts);
  const auto t0 = std::chrono::steady_clock::now();
  std::optional<UpstreamResult> a;
  std::optional<UpstreamResult> b;
  const Cmd ping{"PING"};
  const policy::Argv argv(ping);
  RequestHandle ha = up->execute({&argv, 1}, [&](UpstreamResult&& r) { a.emplace(std::move(r)); });
  RequestHandle hb = up->execute({&argv, 1}, [&](UpstreamResult&& r) { b.emplace(std::move(r)); });
  ASSERT_TRUE(loop_.runUntil([&] { return a && b; }, 5000ms));
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(elapsed, 290ms);
  EXPECT_LT(elapsed, 2000ms);
  ASSERT_FALSE(a->has_value());
  EXPECT_EQ(a->error().kind, UpstreamErrorKind::Timeout);
  EXPECT_EQ(httpStatus(a->error().kind), 504);
  EXPECT_EQ(b->error().kind, UpstreamErrorKind::Timeout);
  EXPECT_TRUE(a->error().maybe_executed && b->error().maybe_executed);
  // Written, so Redis may still be running them: the connection drains (takes nothing new) for
  // up to four more timeouts, then closes.
  EXPECT_EQ(up->stats().in_flight, 2u);
  ASSERT_TRUE(loop_.runUntil([&] { return up->stats().in_flight == 0; }, 3000ms));

  // With a password the handshake never completes: the TCP connect succeeded, so the silent
  // upstream is a timeout (504, e2e "upstream accepts and never answers"), not unreachable.
  opts.endpoint.password = "pw";
  auto up_auth =
      makeUpstream(loop_.base(), "redis://127.0.0.1:" + std::to_string(hang.port()), opts);
  auto res = run(loop_, *up_auth, {{"PING"}}, false, 5000ms);
  ASSERT_TRUE(res && !res->has_value());
  EXPECT_EQ(res->error().kind, UpstreamErrorKind::Timeout) << res->error().message;
}

TEST_F(RedisPoolTest, CancelledRequestNeverCallsBackAndPoolStaysInSync) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 1;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  ASSERT_EQ(rawOf(*run(loop_, *up, {{"SET", "sync", "yes"}})), "+OK\r\n");

  bool called = false;
  const Cmd blpop{"BLPOP", "nothing", "0.3"};
  const policy::Argv blpop_argv(blpop);
  {
    RequestHandle h = up->execute({&blpop_argv, 1}, [&](UpstreamResult&&) { called = true; });
    loop_.runFor(50ms);
    EXPECT_TRUE(h.pending());
    h.cancel();
    EXPECT_FALSE(h.pending());
  }
  // Queued behind the cancelled one on the only connection: must get its own reply.
  auto get = run(loop_, *up, {{"GET", "sync"}});
  EXPECT_EQ(rawOf(*get), "$3\r\nyes\r\n");
  EXPECT_FALSE(called);

  // Dropping the handle cancels too, also for a request that is only queued.
  opts.max_pipeline_depth = 1;
  auto up1 = makeUpstream(loop_.base(), redis.url(), opts);
  bool first = false;
  bool second = false;
  RequestHandle h1 = up1->execute({&blpop_argv, 1}, [&](UpstreamResult&&) { first = true; });
  {
    RequestHandle h2 = up1->execute({&blpop_argv, 1}, [&](UpstreamResult&&) { second = true; });
    EXPECT_EQ(up1->stats().queued, 2u);  // both wait for the (lazily opened) connection
  }
  EXPECT_EQ(up1->stats().queued, 1u);
  ASSERT_TRUE(loop_.runUntil([&] { return first; }));
  loop_.runFor(100ms);
  EXPECT_FALSE(second);
}

TEST_F(RedisPoolTest, QueueOverflowIsOverloaded) {
  HangingServer hang;
  RedisPoolOptions opts;
  opts.connections = 1;
  opts.max_pipeline_depth = 1;
  opts.max_queue = 2;
  opts.timeout = 500ms;
  auto up = makeUpstream(loop_.base(), "redis://127.0.0.1:" + std::to_string(hang.port()), opts);
  std::vector<std::optional<UpstreamResult>> out(4);
  std::vector<RequestHandle> hs;
  const Cmd ping{"PING"};
  const policy::Argv argv(ping);
  for (size_t i = 0; i < 4; ++i) {
    hs.push_back(
        up->execute({&argv, 1}, [&out, i](UpstreamResult&& r) { out[i].emplace(std::move(r)); }));
  }
  ASSERT_TRUE(loop_.runUntil([&] { return out[2] && out[3]; }, 2000ms));
  EXPECT_EQ(out[2]->error().kind, UpstreamErrorKind::Overloaded);
  EXPECT_EQ(httpStatus(out[3]->error().kind), 503);
  ASSERT_TRUE(loop_.runUntil([&] { return out[0] && out[1]; }, 3000ms));
  EXPECT_EQ(out[0]->error().kind, UpstreamErrorKind::Timeout);
  EXPECT_EQ(out[1]->error().kind, UpstreamErrorKind::Timeout);
}

TEST_F(RedisPoolTest, WaitingRequestsOfDifferentTenantsAreServedInTurn) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 1;
  opts.max_pipeline_depth = 1;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  const Cmd ping{"PING"};
  const policy::Argv argv(ping);
  std::vector<std::string> order;
  std::vector<RequestHandle> hs;
  for (int i = 0; i < 20; ++i) {
    hs.push_back(up->execute(
        {&argv, 1}, [&order](UpstreamResult&&) { order.emplace_back("flood"); }, "flood"));
  }
  hs.push_back(up->execute(
      {&argv, 1}, [&order](UpstreamResult&&) { order.emplace_back("probe"); }, "probe"));
  ASSERT_TRUE(loop_.runUntil([&] { return order.size() == 21; }));
  // FIFO would answer the probe last; in turn, it goes right after the flood's first.
  const auto at = std::find(order.begin(), order.end(), "probe") - order.begin();
  EXPECT_LE(at, 1);
}

TEST_F(RedisPoolTest, FiveMegabyteValueRoundTrip) {
  RedisServer redis;
  auto up = makeUpstream(loop_.base(), redis.url());
  std::string big(5 * 1024 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>((i * 131 + 7) & 0xff);
  }
  EXPECT_EQ(rawOf(*run(loop_, *up, {{"SET", "big", big}})), "+OK\r\n");
  auto get = run(loop_, *up, {{"GET", "big"}, {"STRLEN", "big"}});
  ASSERT_TRUE(get && get->has_value());
  const std::string want = "$" + std::to_string(big.size()) + "\r\n" + big + "\r\n";
  EXPECT_TRUE(rawOf(*get, 0) == want);
  EXPECT_TRUE(get->value().value(0).str == big);
  EXPECT_EQ(rawOf(*get, 1), ":5242880\r\n");

  RedisPoolOptions small;
  small.max_reply_bytes = 1 << 20;
  auto up_small = makeUpstream(loop_.base(), redis.url(), small);
  auto over = run(loop_, *up_small, {{"GET", "big"}});
  ASSERT_TRUE(over && !over->has_value());
  EXPECT_EQ(over->error().kind, UpstreamErrorKind::TooLarge);
  EXPECT_EQ(clientMessage(over->error()),
            "ERR reply exceeds upstream.max_reply_bytes (the command ran; its reply was dropped)");
  EXPECT_EQ(rawOf(*run(loop_, *up_small, {{"STRLEN", "big"}})), ":5242880\r\n");
}

// Fires requests on one pooled connection before the loop runs (so they are pipelined on it)
// and waits for all their outcomes.
// `tenants[i]` (when given) is whose request i is.
std::vector<UpstreamResult> runConcurrently(LoopRunner& loop, RedisPool& up,
                                            const std::vector<std::vector<Cmd>>& requests,
                                            const std::vector<std::string>& tenants = {},
                                            const std::vector<std::string>& identities = {}) {
  std::vector<std::vector<policy::Argv>> argvs;
  for (const auto& r : requests) argvs.emplace_back(r.begin(), r.end());
  std::vector<std::optional<UpstreamResult>> out(requests.size());
  std::vector<RequestHandle> hs;
  for (size_t i = 0; i < requests.size(); ++i) {
    hs.push_back(up.execute(
        argvs[i], [&out, i](UpstreamResult&& r) { out[i].emplace(std::move(r)); },
        i < tenants.size() ? tenants[i] : std::string_view(),
        i < identities.size() ? identities[i] : std::string_view()));
  }
  loop.runUntil(
      [&] { return std::all_of(out.begin(), out.end(), [](auto& o) { return o.has_value(); }); },
      10000ms);
  std::vector<UpstreamResult> res;
  for (auto& o : out) {
    EXPECT_TRUE(o.has_value());
    res.push_back(o ? std::move(*o) : UpstreamResult(UpstreamError{}));
  }
  return res;
}

// A reply over a limit fails that request (or that pipeline slot) only: the shared connection
// stays in sync, the other requests pipelined on it get their own replies, and each INCR ran
// once (checked on redis-server).
TEST_F(RedisPoolTest, OverLimitReplyFailsOnlyItsRequestOnTheSharedConnection) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 1;
  opts.max_reply_elements = 1000;
  opts.max_reply_bytes = 1 << 20;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  std::vector<std::string> push_args = {"RPUSH", "big"};
  for (int i = 0; i < 5000; ++i) push_args.push_back(std::to_string(i));
  const Cmd push(push_args.begin(), push_args.end());
  ASSERT_EQ(rawOf(*run(loop_, *up, {push})), ":5000\r\n");
  const std::string blob(3 << 20, 'x');
  ASSERT_EQ(rawOf(*run(loop_, *up, {{"SET", "blob", blob}})), "+OK\r\n");

  auto res = runConcurrently(loop_, *up,
                             {{{"INCR", "c"}},
                              {{"LRANGE", "big", "0", "-1"}},
                              {{"INCR", "c"}},
                              {{"GET", "blob"}},
                              {{"INCR", "c"}, {"LRANGE", "big", "0", "-1"}, {"INCR", "c"}},
                              {{"INCR", "c"}}});
  EXPECT_EQ(rawOf(res[0]), ":1\r\n");
  ASSERT_FALSE(res[1].has_value());
  EXPECT_EQ(res[1].error().kind, UpstreamErrorKind::TooLarge);
  EXPECT_EQ(httpStatus(res[1].error().kind), 502);
  EXPECT_EQ(
      clientMessage(res[1].error()),
      "ERR reply exceeds upstream.max_reply_elements (the command ran; its reply was dropped)");
  EXPECT_EQ(rawOf(res[2]), ":2\r\n");
  ASSERT_FALSE(res[3].has_value());
  EXPECT_EQ(clientMessage(res[3].error()),
            "ERR reply exceeds upstream.max_reply_bytes (the command ran; its reply was dropped)");
  // The pipeline keeps its other slots; the over-limit slot is an error reply of keyward's.
  ASSERT_TRUE(res[4].has_value()) << res[4].error().message;
  EXPECT_EQ(rawOf(res[4], 0), ":3\r\n");
  EXPECT_EQ(rawOf(res[4], 1),
            "-ERR reply exceeds upstream.max_reply_elements (the command ran; its reply was "
            "dropped)\r\n");
  EXPECT_TRUE(res[4].value().value(1).isError());
  EXPECT_EQ(rawOf(res[4], 2), ":4\r\n");
  EXPECT_EQ(rawOf(res[5]), ":5\r\n");
  EXPECT_EQ(up->stats().connections, 1u);  // never closed
  EXPECT_GT(up->stats().reply_bytes, 0u);  // the delivered responses still hold their bytes
  res.clear();
  EXPECT_EQ(up->stats().reply_bytes, 0u);  // nothing left held
  EXPECT_EQ(rawOf(*run(loop_, *up, {{"GET", "c"}})), "$1\r\n5\r\n");
  // Within the limits the same data comes back byte-exact.
  auto ok = run(loop_, *up, {{"LRANGE", "big", "0", "998"}});  // 999 + the array = 1000 values
  ASSERT_TRUE(ok && ok->has_value());
  EXPECT_EQ(ok->value().value(0).elements.size(), 999u);
  auto part = run(loop_, *up, {{"GETRANGE", "blob", "0", "1000000"}});
  ASSERT_TRUE(part && part->has_value());
  EXPECT_EQ(part->value().value(0).str.size(), 1000001u);
}

// A limit on what all requests hold at once: a pipeline whose replies together would go over
// upstream.max_reply_bytes gets that slot refused, the earlier slots kept.
TEST_F(RedisPoolTest, PipelineReplyBytesAreBounded) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 1;
  opts.max_reply_bytes = 4 << 20;
  opts.max_reply_bytes_total = 16 << 20;  // a share of 8 MiB: the request's bound bites
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  const std::string value(3 << 20, 'v');
  ASSERT_EQ(rawOf(*run(loop_, *up, {{"SET", "a", value}})), "+OK\r\n");
  auto res = run(loop_, *up, {{"GET", "a"}, {"GET", "a"}, {"STRLEN", "a"}});
  ASSERT_TRUE(res && res->has_value());
  EXPECT_EQ(res->value().value(0).str.size(), value.size());
  EXPECT_EQ(
      rawOf(*res, 1),
      "-ERR reply exceeds upstream.max_reply_bytes (the command ran; its reply was dropped)\r\n");
  EXPECT_EQ(rawOf(*res, 2), ":3145728\r\n");
  res.reset();
  EXPECT_EQ(up->stats().reply_bytes, 0u);
}

constexpr const char* kTotalRefused =
    "-ERR replies in flight exceed upstream.max_reply_bytes_total (the command ran; its reply was "
    "dropped)\r\n";
constexpr const char* kShareRefused =
    "-ERR replies in flight of this client exceed its share, half of "
    "upstream.max_reply_bytes_total (the command ran; its reply was dropped)\r\n";

// Requests on separate connections whose replies arrive at once (BLPOP makes them wait, then
// the 2 MiB replies stream in together): three tenants, each within its half, together over the
// total: exactly one is refused for the total.
TEST_F(RedisPoolTest, TotalReplyBytesAreBounded) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 3;
  opts.max_pipeline_depth = 1;
  opts.max_reply_bytes = 4 << 20;
  opts.max_reply_bytes_total = 5 << 20;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  const std::string value(2 << 20, 'v');
  ASSERT_EQ(rawOf(*run(loop_, *up, {{"SET", "a", value}})), "+OK\r\n");
  const std::vector<Cmd> slow = {{"BLPOP", "nothing", "0.3"}, {"GET", "a"}};
  auto all = runConcurrently(loop_, *up, {slow, slow, slow}, {"t1", "t2", "t3"});
  EXPECT_EQ(up->stats().connections, 3u);
  size_t refused = 0;
  for (auto& r : all) {
    ASSERT_TRUE(r.has_value());
    if (rawOf(r, 1) == kTotalRefused) {
      ++refused;
    } else {
      EXPECT_EQ(r.value().value(1).str.size(), value.size()) << rawOf(r, 1).substr(0, 120);
    }
  }
  EXPECT_EQ(refused, 1u);
  all.clear();
  EXPECT_EQ(up->stats().reply_bytes, 0u);
}

// One tenant holds at most half of the total, counted until its responses are gone (a reply
// still being sent to a slow reader keeps counting); another tenant's reply still fits.
TEST_F(RedisPoolTest, EachTenantHoldsAtMostHalfOfTheTotal) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 2;
  opts.max_reply_bytes = 4 << 20;
  opts.max_reply_bytes_total = 8 << 20;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  const std::string value(3 << 20, 'v');
  ASSERT_EQ(rawOf(*run(loop_, *up, {{"SET", "a", value}})), "+OK\r\n");
  auto held = runConcurrently(loop_, *up, {{{"GET", "a"}}}, {"greedy"});
  ASSERT_TRUE(held[0].has_value());
  EXPECT_EQ(held[0].value().value(0).str.size(), value.size());
  EXPECT_GT(up->stats().reply_bytes, uint64_t{3} << 20);
  // While that response lives, the same tenant's next 3 MiB would pass its 4 MiB half.
  auto next = runConcurrently(loop_, *up, {{{"GET", "a"}, {"STRLEN", "a"}}, {{"GET", "a"}}},
                              {"greedy", "other"});
  ASSERT_TRUE(next[0].has_value() && next[1].has_value());
  EXPECT_EQ(rawOf(next[0], 0), std::string(kShareRefused));
  EXPECT_EQ(rawOf(next[0], 1), ":3145728\r\n");
  EXPECT_EQ(next[1].value().value(0).str.size(), value.size());  // the other tenant's fits
  // Once the held response is gone, the tenant's share is free again.
  held.clear();
  next.clear();
  EXPECT_EQ(up->stats().reply_bytes, 0u);
  auto again = runConcurrently(loop_, *up, {{{"GET", "a"}}}, {"greedy"});
  ASSERT_TRUE(again[0].has_value());
  EXPECT_EQ(again[0].value().value(0).str.size(), value.size());
}

// One identity of a client (a JWT sub: one browser user) holds at most half of the client's
// share, so it cannot lock every other user of that client out (found by an attack run: 40
// never-read GETs of one user got the client's share refused to every other user).
TEST_F(RedisPoolTest, OneIdentityHoldsAtMostHalfOfItsClientsShare) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 2;
  opts.max_reply_bytes = 4 << 20;
  opts.max_reply_bytes_total = 8 << 20;  // the client's half: 4 MiB; an identity's: 2 MiB
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  const std::string value(1536 << 10, 'v');
  ASSERT_EQ(rawOf(*run(loop_, *up, {{"SET", "a", value}})), "+OK\r\n");
  ASSERT_EQ(rawOf(*run(loop_, *up, {{"SET", "b", std::string(512 << 10, 'b')}})), "+OK\r\n");
  auto held = runConcurrently(loop_, *up, {{{"GET", "a"}}}, {"app"}, {"u1"});
  ASSERT_TRUE(held[0].has_value());
  EXPECT_EQ(held[0].value().value(0).str.size(), value.size());
  // While u1's response lives, u1's next 1.5 MiB would pass its 2 MiB; u2 of the same client
  // and the client's identity-less requests still get theirs (3.5 of the client's 4 MiB).
  auto next =
      runConcurrently(loop_, *up, {{{"GET", "a"}, {"STRLEN", "a"}}, {{"GET", "a"}}, {{"GET", "b"}}},
                      {"app", "app", "app"}, {"u1", "u2", ""});
  for (const auto& r : next) ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(rawOf(next[0], 0),
            "-ERR replies in flight of this identity exceed its share, a quarter of "
            "upstream.max_reply_bytes_total (the command ran; its reply was dropped)\r\n");
  EXPECT_EQ(rawOf(next[0], 1), ":1572864\r\n");
  EXPECT_EQ(next[1].value().value(0).str.size(), value.size());
  EXPECT_EQ(next[2].value().value(0).str.size(), 512u << 10);
  next.clear();
  held.clear();
  EXPECT_EQ(up->stats().reply_bytes, 0u);
  // Its response gone, u1's share is free again.
  auto again = runConcurrently(loop_, *up, {{{"GET", "a"}}}, {"app"}, {"u1"});
  ASSERT_TRUE(again[0].has_value());
  EXPECT_EQ(again[0].value().value(0).str.size(), value.size());
}

// A reply of many small values counts what it takes parsed, not only its bytes: 72 bytes per
// value (the framing record and the tree node). 100,000 one-byte items are 0.7 MB of RESP but
// 7.9 MB held, over a 4 MiB share; counting bytes alone let 20 readers of a million such values
// hold 400 MiB against a 256 MiB total.
TEST_F(RedisPoolTest, ManySmallValuesCountWhatTheirTreeTakes) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.max_reply_bytes = 4 << 20;
  opts.max_reply_bytes_total = 8 << 20;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  const char* fill = "for i = 1, tonumber(ARGV[1]) do redis.call('rpush', KEYS[1], 'x') end";
  ASSERT_TRUE(run(loop_, *up, {{"EVAL", fill, "1", "big", "100000"}})->has_value());
  ASSERT_TRUE(run(loop_, *up, {{"EVAL", fill, "1", "small", "20000"}})->has_value());
  auto big = run(loop_, *up, {{"LRANGE", "big", "0", "-1"}, {"PING"}});
  ASSERT_TRUE(big && big->has_value());
  EXPECT_EQ(rawOf(*big, 0), std::string(kShareRefused));
  EXPECT_EQ(rawOf(*big, 1), "+PONG\r\n");  // the connection stays in step
  big.reset();
  EXPECT_EQ(up->stats().reply_bytes, 0u);
  auto small = run(loop_, *up, {{"LRANGE", "small", "0", "-1"}});
  ASSERT_TRUE(small && small->has_value());
  EXPECT_EQ(small->value().value(0).elements.size(), 20000u);
  const uint64_t raw = small->value().rawSize();
  EXPECT_EQ(up->stats().reply_bytes, raw + 20001 * 72);  // held while the response lives
  small.reset();
  EXPECT_EQ(up->stats().reply_bytes, 0u);
}

// Replies that do not match what was sent (a RESP3 push on a RESP2 connection, a reply nobody
// asked for, an EXEC array of the wrong length): the connection is closed at once and never
// reused, and what was written on it is answered "outcome unknown". Fake upstream: a real
// redis-server never sends these.
TEST_F(RedisPoolTest, OutOfStepRepliesKillTheConnection) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {">2\r\n+message\r\n+x\r\n", false},   // push type on RESP2
      {"|1\r\n+a\r\n+b\r\n+OK\r\n", false},  // attribute
      {"%1\r\n+a\r\n+b\r\n", false},         // RESP3 map
      {"+OK\r\n+EXTRA\r\n", true},           // one reply too many
  };
  for (const auto& [bad, first_ok] : cases) {
    ScriptedServer fake({bad, "+PONG\r\n"});
    RedisPoolOptions opts;
    opts.connections = 1;
    opts.timeout = 2000ms;
    auto up = makeUpstream(loop_.base(), fake.url(), opts);
    std::optional<UpstreamResult> a;
    const Cmd ping{"PING"};
    const policy::Argv argv(ping);
    RequestHandle h = up->execute({&argv, 1}, [&](UpstreamResult&& r) { a.emplace(std::move(r)); });
    ASSERT_TRUE(loop_.runUntil([&] { return a.has_value(); }, 3000ms));
    if (first_ok) {
      EXPECT_EQ(rawOf(*a), "+OK\r\n");
    } else {
      ASSERT_FALSE(a->has_value()) << bad;
      EXPECT_EQ(a->error().kind, UpstreamErrorKind::Protocol) << bad;
      EXPECT_TRUE(a->error().maybe_executed);
      EXPECT_EQ(clientMessage(a->error()), "ERR upstream protocol: outcome unknown");
    }
    ASSERT_TRUE(loop_.runUntil([&] { return up->stats().connections == 0; }, 2000ms)) << bad;
    // The next request gets a new connection (the fake's second one), never the dead one.
    auto next = run(loop_, *up, {{"PING"}}, false, 3000ms);
    ASSERT_TRUE(next);
    EXPECT_EQ(rawOf(*next), "+PONG\r\n") << bad;
    EXPECT_EQ(fake.accepted(), 2u);
  }

  ScriptedServer fake({"+OK\r\n+QUEUED\r\n*2\r\n:1\r\n:2\r\n", "+PONG\r\n"});
  RedisPoolOptions opts;
  opts.connections = 1;
  auto up = makeUpstream(loop_.base(), fake.url(), opts);
  auto tx = run(loop_, *up, {{"INCR", "x"}}, true, 3000ms);
  ASSERT_TRUE(tx && !tx->has_value());
  EXPECT_EQ(tx->error().kind, UpstreamErrorKind::Protocol);
  EXPECT_TRUE(tx->error().maybe_executed);
  EXPECT_EQ(up->stats().connections, 0u);
  EXPECT_EQ(rawOf(*run(loop_, *up, {{"PING"}}, false, 3000ms)), "+PONG\r\n");
}

// A connection dropped under written requests: each may have run, so each is told the outcome
// is unknown; a request that was never written is told so differently.
TEST_F(RedisPoolTest, DroppedConnectionAnswersOutcomeUnknown) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 1;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  ASSERT_EQ(rawOf(*run(loop_, *up, {{"PING"}})), "+PONG\r\n");
  std::vector<std::optional<UpstreamResult>> out(2);
  const Cmd blpop{"BLPOP", "nothing", "5"};
  const Cmd incr{"INCR", "c"};
  const policy::Argv a0(blpop);
  const policy::Argv a1(incr);
  RequestHandle h0 =
      up->execute({&a0, 1}, [&](UpstreamResult&& r) { out[0].emplace(std::move(r)); });
  RequestHandle h1 =
      up->execute({&a1, 1}, [&](UpstreamResult&& r) { out[1].emplace(std::move(r)); });
  loop_.runFor(100ms);
  auto killer = makeUpstream(loop_.base(), redis.url());
  EXPECT_EQ(rawOf(*run(loop_, *killer, {{"CLIENT", "KILL", "TYPE", "normal"}})), ":1\r\n");
  ASSERT_TRUE(loop_.runUntil([&] { return out[0] && out[1]; }, 3000ms));
  for (auto& r : out) {
    ASSERT_FALSE(r->has_value());
    EXPECT_EQ(r->error().kind, UpstreamErrorKind::Closed);
    EXPECT_EQ(clientMessage(r->error()), "ERR upstream closed: outcome unknown");
  }
  redis.stop(SIGKILL);
  auto never = run(loop_, *up, {{"INCR", "c"}}, false, 6000ms);
  ASSERT_TRUE(never && !never->has_value());
  EXPECT_EQ(never->error().kind, UpstreamErrorKind::Unreachable);
  EXPECT_FALSE(never->error().maybe_executed);
  EXPECT_EQ(clientMessage(never->error()), "ERR upstream unreachable");
}

// A request is not pipelined behind a large reply that is streaming in (it would wait for all
// of it): it goes to another connection and is answered first.
// A Lua loop that keeps Redis busy for `ms` milliseconds (Redis runs one command at a time).
const std::string kBusyScript =
    "local s = redis.call('TIME') repeat local n = redis.call('TIME') "
    "until (n[1] - s[1]) * 1000000 + (n[2] - s[2]) >= tonumber(ARGV[1]) * 1000 return 1";

// Sends `n` copies of one command for `tenant`, each counted in `done` once answered (and
// expected to succeed); their handles go to `hs`.
void submitMany(RedisPool& up, const policy::Argv& argv, int n, const std::string& tenant,
                int& done, std::vector<RequestHandle>& hs) {
  for (int i = 0; i < n; ++i) {
    hs.push_back(up.execute(
        {&argv, 1},
        [&done](UpstreamResult&& r) {
          EXPECT_TRUE(r.has_value());
          ++done;
        },
        tenant));
  }
}

// The longest of `n` PINGs of `tenant`, one after another.
std::chrono::steady_clock::duration worstPing(LoopRunner& loop, RedisPool& up,
                                              const std::string& tenant, int n = 5) {
  std::chrono::steady_clock::duration worst{};
  for (int i = 0; i < n; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto pong = runConcurrently(loop, up, {{{"PING"}}}, {tenant});
    EXPECT_EQ(rawOf(pong[0]), "+PONG\r\n");
    worst = std::max(worst, std::chrono::steady_clock::now() - t0);
  }
  return worst;
}

// A long pipeline of tenant "a" and tenant "b"'s PINGs while it runs (after `head_start`).
struct ProbedPipeline {
  std::optional<UpstreamResult> result;
  bool overlapped = false;  // the probes ran before the pipeline was answered
  std::chrono::steady_clock::duration worst{};
  std::chrono::steady_clock::duration took{};
};
ProbedPipeline probePipeline(LoopRunner& loop, RedisPool& up,
                             const std::vector<policy::Argv>& pipeline,
                             std::chrono::milliseconds head_start) {
  ProbedPipeline p;
  const auto started = std::chrono::steady_clock::now();
  RequestHandle h = up.executePipeline(
      pipeline, [&](UpstreamResult&& r) { p.result.emplace(std::move(r)); }, "a");
  loop.runFor(head_start);
  p.worst = worstPing(loop, up, "b");
  p.overlapped = !p.result.has_value();
  loop.runUntil([&] { return p.result.has_value(); }, 10000ms);
  p.took = std::chrono::steady_clock::now() - started;
  return p;
}

// Attack round 32b: a reply nested deeper than 64 levels failed its whole request (502 "outcome
// unknown") although every command of the pipeline or transaction had run: it is its own slot's
// error now, the other replies are delivered, the connection stays in step.
TEST_F(RedisPoolTest, AReplyNestedTooDeeplyIsItsOwnSlotsError) {
  RedisServer redis;
  auto up = makeUpstream(loop_.base(), redis.url(), RedisPoolOptions{});
  const std::string deep = "local t = {} for i = 1, 65 do t = {t} end return t";
  const std::string shallow = "local t = {} for i = 1, 63 do t = {t} end return t";
  auto r = run(loop_, *up, {{"EVAL", deep, "0"}, {"INCR", "n"}, {"EVAL", shallow, "0"}});
  ASSERT_TRUE(r && r->has_value()) << (r ? r->error().message : "no result");
  ASSERT_EQ(r->value().size(), 3u);
  EXPECT_TRUE(r->value().value(0).isError());
  EXPECT_EQ(rawOf(*r, 0),
            "-ERR reply nested deeper than 64 levels (the command ran; its reply was dropped)\r\n");
  EXPECT_EQ(rawOf(*r, 1), ":1\r\n");
  EXPECT_FALSE(r->value().value(2).isError());
  auto t = run(loop_, *up, {{"INCR", "n"}, {"EVAL", deep, "0"}}, true);
  ASSERT_TRUE(t && t->has_value()) << (t ? t->error().message : "no result");
  EXPECT_TRUE(t->value().values().back().isError());
  auto n = run(loop_, *up, {{"GET", "n"}});
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(rawOf(*n), "$1\r\n2\r\n") << "the transaction did not run whole";
}

// Attack round 13: a tenant alone filled every connection's pipeline (every in-flight slot of
// the pool) with slow commands, and the next tenant's requests could only queue behind them (1.4
// s; 504s with a 5 s timeout). A tenant never holds more than half the connections, alone or
// not, so half the slots stay for the others: the next tenant's request is written at once.
TEST_F(RedisPoolTest, ALoneTenantHoldsAtMostHalfThePool) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 4;
  opts.max_pipeline_depth = 2;  // 8 slots
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  const Cmd busy{"EVAL", kBusyScript, "0", "50"};
  const policy::Argv busy_argv(busy);
  int flood_done = 0;
  std::vector<RequestHandle> hs;
  submitMany(*up, busy_argv, 20, "flood", flood_done, hs);
  ASSERT_TRUE(loop_.runUntil([&] { return up->stats().in_flight >= 4; }, 10000ms));
  loop_.runFor(300ms);  // every connection has opened by now: more would go out if allowed
  const UpstreamStats before = up->stats();
  EXPECT_EQ(before.in_flight, 4u) << "a lone tenant took more than half the slots";
  EXPECT_EQ(before.queued + before.in_flight + flood_done, 20u);
  const Cmd ping{"PING"};
  const policy::Argv ping_argv(ping);
  bool probed = false;
  hs.push_back(up->execute(
      {&ping_argv, 1}, [&](UpstreamResult&&) { probed = true; }, "probe"));
  // Placed at once (execute dispatches): on a connection of its own, not queued behind the flood.
  EXPECT_EQ(up->stats().queued, before.queued) << "the probe waits in the queue";
  EXPECT_EQ(up->stats().in_flight, before.in_flight + 1);
  ASSERT_TRUE(loop_.runUntil([&] { return probed; }, 5000ms));
  ASSERT_TRUE(loop_.runUntil([&] { return flood_done == 20; }, 20000ms));
}

// Attack round 15: one /pipeline of 1,500 LREM, written at once, froze Redis for every client
// for 5-7 s (Redis runs all it has read from a connection before the next). A pipeline longer
// than max_pipeline_depth is written a window at a time, so another tenant's command waits for
// one window of it (here 4 x 5 ms), not the whole (600 ms; 350 ms or more when written at once).
TEST_F(RedisPoolTest, APipelineIsWrittenAWindowAtATimeSoOthersRunBetween) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 2;
  opts.max_pipeline_depth = 4;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  runConcurrently(loop_, *up, {{{"PING"}}, {{"PING"}}}, {"a", "b"});  // both connections open
  ASSERT_EQ(up->stats().connections, 2u);
  const Cmd busy{"EVAL", kBusyScript, "0", "5"};
  const std::vector<policy::Argv> pipeline(120, policy::Argv(busy));
  const ProbedPipeline p = probePipeline(loop_, *up, pipeline, 30ms);
  const auto& long_one = p.result;
  EXPECT_TRUE(p.overlapped) << "the probes did not overlap the pipeline";
  EXPECT_LT(p.worst, 150ms)
      << "another tenant waited behind the pipeline: "
      << std::chrono::duration_cast<std::chrono::milliseconds>(p.worst).count() << " ms";
  ASSERT_TRUE(long_one.has_value());
  EXPECT_GE(p.took, 550ms) << "the scripts did not run";
  ASSERT_TRUE(long_one->has_value()) << rawOf(*long_one);
  ASSERT_EQ(long_one->value().size(), 120u);
  for (size_t i = 0; i < 120; ++i) ASSERT_EQ(rawOf(*long_one, i), ":1\r\n") << "reply " << i;
}

// A tenant's many concurrent slow commands, each on a connection of its half of the pool, kept
// another tenant's command waiting for all of them at the server (Redis runs what every
// connection sent before the next command). While another tenant is active a tenant has at most
// max_pipeline_depth commands unanswered in the pool; alone it uses its half in full.
TEST_F(RedisPoolTest, WhileAnotherTenantIsActiveATenantKeepsOneWindowAtTheServer) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 8;
  opts.max_pipeline_depth = 4;  // alone: 4 connections x 4 = 16 unanswered
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  const Cmd busy{"EVAL", kBusyScript, "0", "10"};
  const policy::Argv busy_argv(busy);
  int done = 0;
  std::vector<RequestHandle> hs;
  submitMany(*up, busy_argv, 40, "a", done, hs);  // alone
  ASSERT_TRUE(loop_.runUntil([&] { return up->stats().in_flight >= 16; }, 5000ms));
  EXPECT_EQ(up->stats().in_flight, 16u) << "alone, a tenant uses its half of the pool";
  ASSERT_TRUE(loop_.runUntil([&] { return done == 40; }, 20000ms));
  // Another tenant is active now.
  ASSERT_TRUE(runConcurrently(loop_, *up, {{{"PING"}}}, {"b"})[0].has_value());
  submitMany(*up, busy_argv, 40, "a", done, hs);
  loop_.runFor(50ms);
  EXPECT_LE(up->stats().in_flight, 4u) << "a tenant kept more than one window at the server";
  const auto worst = worstPing(loop_, *up, "b");
  EXPECT_LT(done, 80) << "the probes did not overlap the flood";
  EXPECT_LT(worst, 100ms) << "another tenant waited "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(worst).count()
                          << " ms (16 x 10 ms at the server when not held to one window)";
  ASSERT_TRUE(loop_.runUntil([&] { return done == 80; }, 20000ms));
}

// A pipeline cancelled while it is written a window at a time is written to its end, as it would
// have been whole: nothing of it is half-sent, and the connection stays in step.
TEST_F(RedisPoolTest, ACancelledWindowedPipelineIsWrittenWholeAndTheConnectionStaysInStep) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 1;
  opts.max_pipeline_depth = 4;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  ASSERT_TRUE(run(loop_, *up, {{"PING"}}));
  const Cmd incr{"INCR", "w"};
  const std::vector<policy::Argv> pipeline(50, policy::Argv(incr));
  bool called = false;
  RequestHandle h = up->executePipeline(
      pipeline, [&](UpstreamResult&&) { called = true; }, "a");
  ASSERT_EQ(up->stats().in_flight, 1u);  // placed, its first window written: cancelled mid-way
  h.cancel();
  auto get = run(loop_, *up, {{"GET", "w"}});  // queued behind the cancelled pipeline
  ASSERT_TRUE(get && get->has_value());
  EXPECT_EQ(rawOf(*get), "$2\r\n50\r\n");
  EXPECT_FALSE(called);
}

// A pipeline of `n` pairs: `a` then `b`.
std::vector<policy::Argv> pairs(const Cmd& a, const Cmd& b, int n) {
  std::vector<policy::Argv> out;
  for (int i = 0; i < n; ++i) {
    out.emplace_back(a);
    out.emplace_back(b);
  }
  return out;
}

// Two 3,000-byte strings of random a/b under `x` and `y`: one LCS of them holds Redis about 50 ms.
void setLcsStrings(LoopRunner& loop, RedisPool& up) {
  std::mt19937 rng(7);
  for (const char* key : {"x", "y"}) {
    std::string value(3000, 'a');
    for (char& c : value) c = (rng() & 1) != 0 ? 'a' : 'b';
    ASSERT_TRUE(run(loop, up, {{"SET", key, value}}));
  }
}

// Attack round 17: 8 LCS in one /pipeline held Redis 9.3 s, a window of 32 of them would hold it
// for all 32: a command whose Redis time grows with the tenant's stored data (kDataSized)
// weighs more than one of a window. A tenant has one such command at the server at a time, so
// another tenant waits for one LCS, not for the window.
TEST_F(RedisPoolTest, ATenantsDataSizedCommandsRunOneAtATime) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 2;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  runConcurrently(loop_, *up, {{{"PING"}}, {{"PING"}}}, {"a", "b"});  // both connections open
  setLcsStrings(loop_, *up);
  const Cmd lcs{"LCS", "x", "y", "LEN"};
  const Cmd incr{"INCR", "n"};
  const std::vector<policy::Argv> pipeline = pairs(lcs, incr, 12);
  const ProbedPipeline p = probePipeline(loop_, *up, pipeline, 20ms);
  const auto& long_one = p.result;
  EXPECT_TRUE(p.overlapped) << "the probes did not overlap the pipeline";
  // Back to back, the probe waits for all 12; one at a time, for one or two (a loaded machine
  // slows every LCS, so the bound is a share of the pipeline's time, not a fixed one).
  EXPECT_LT(p.worst, p.took / 4)
      << "another tenant waited behind several LCS: "
      << std::chrono::duration_cast<std::chrono::milliseconds>(p.worst).count() << " ms of "
      << std::chrono::duration_cast<std::chrono::milliseconds>(p.took).count() << " ms";
  ASSERT_TRUE(long_one.has_value());
  EXPECT_GE(p.took, 300ms) << "the LCS did not run";
  ASSERT_TRUE(long_one->has_value()) << rawOf(*long_one);
  ASSERT_EQ(long_one->value().size(), 24u);
  const std::string len = rawOf(*long_one, 0);
  for (size_t i = 0; i < 24; i += 2) {
    EXPECT_EQ(rawOf(*long_one, i), len) << "reply " << i;
    EXPECT_EQ(rawOf(*long_one, i + 1), ":" + std::to_string(i / 2 + 1) + "\r\n") << "reply " << i;
  }
}

// Single data-sized requests of one tenant, sent at once, go to the server one after another
// (alone too: a tenant arriving later would wait for all it had written); another tenant's
// data-sized command is not held behind them, and a transaction holding one counts once.
TEST_F(RedisPoolTest, DataSizedRequestsOfOneTenantWaitForEachOther) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 8;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  setLcsStrings(loop_, *up);
  const Cmd lcs{"lcs", "x", "y", "LEN"};
  const policy::Argv lcs_argv(lcs);
  int done = 0;
  std::vector<RequestHandle> hs;
  submitMany(*up, lcs_argv, 6, "a", done, hs);
  const Cmd incr{"INCR", "t"};
  const std::vector<policy::Argv> tx{policy::Argv(lcs), policy::Argv(incr)};
  bool tx_done = false;
  hs.push_back(up->executeTransaction(
      tx,
      [&](UpstreamResult&& r) {
        EXPECT_TRUE(r.has_value());
        tx_done = true;
      },
      "a"));
  ASSERT_TRUE(loop_.runUntil([&] { return up->stats().in_flight >= 1; }, 5000ms));
  loop_.runFor(150ms);  // the pool has grown by now: more would go out if allowed
  EXPECT_EQ(up->stats().in_flight, 1u) << "a tenant had several data-sized commands at the server";
  int other_done = 0;
  const int done_before = done;
  submitMany(*up, lcs_argv, 1, "b", other_done, hs);
  ASSERT_TRUE(loop_.runUntil([&] { return other_done == 1; }, 10000ms));
  // Behind the LCS running now and at most the next one sent meanwhile (Redis serves the
  // connections in turn), not behind all the tenant had sent.
  EXPECT_LE(done, done_before + 2) << "another tenant's LCS waited for this tenant's";
  ASSERT_TRUE(loop_.runUntil([&] { return done == 6 && tx_done; }, 10000ms));
  auto counted = run(loop_, *up, {{"GET", "t"}});
  ASSERT_TRUE(counted && counted->has_value());
  EXPECT_EQ(rawOf(*counted), "$1\r\n1\r\n");
}

// Attack round 20: a written request that timed out closed its connection, which freed its
// tenant's data-sized slot while Redis still ran the command (Redis does not stop a command whose
// client left), so the next queued one went out at once: 4,900 queued SINTERCARDs cost Redis 223
// runs (29 s) for 39 answers. The connection drains instead: the slot stays taken until Redis
// answers, and the requests queued behind time out without being written.
TEST_F(RedisPoolTest, ATimedOutDataSizedCommandHoldsItsTenantsSlotUntilRedisAnswers) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 4;
  opts.timeout = 80ms;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  std::mt19937 rng(3);
  // LCS of two 8,000-byte strings: about 0.19 s on a fast machine (7,000 took 0.15 s there, as
  // long as the timeout this test had, and answered in time).
  for (const char* key : {"x", "y"}) {
    std::string value(8000, 'a');
    for (char& c : value) c = (rng() & 1) != 0 ? 'a' : 'b';
    ASSERT_TRUE(run(loop_, *up, {{"SET", key, value}}));
  }
  ASSERT_TRUE(run(loop_, *up, {{"CONFIG", "RESETSTAT"}}));
  // Every connection open, so a request freed to go has one at once.
  runConcurrently(loop_, *up, {{{"PING"}}, {{"PING"}}, {{"PING"}}, {{"PING"}}},
                  {"p", "q", "r", "s"});
  ASSERT_EQ(up->stats().connections, 4u);
  const Cmd lcs{"LCS", "x", "y", "LEN"};
  const policy::Argv lcs_argv(lcs);
  std::vector<std::optional<UpstreamResult>> out(4);
  std::vector<RequestHandle> hs;
  for (auto& o : out) {
    hs.push_back(up->execute(
        {&lcs_argv, 1}, [&o](UpstreamResult&& r) { o.emplace(std::move(r)); }, "a"));
  }
  ASSERT_TRUE(loop_.runUntil(
      [&] { return std::all_of(out.begin(), out.end(), [](auto& o) { return o.has_value(); }); },
      5000ms));
  for (auto& o : out) {
    ASSERT_FALSE(o->has_value());
    EXPECT_EQ(o->error().kind, UpstreamErrorKind::Timeout);
  }
  EXPECT_TRUE(out[0]->error().maybe_executed);
  for (size_t i = 1; i < out.size(); ++i) {
    EXPECT_FALSE(out[i]->error().maybe_executed) << "request " << i << " was written";
  }
  // Redis ran the first alone; once it answered, the connection serves again.
  ASSERT_TRUE(loop_.runUntil([&] { return up->stats().in_flight == 0; }, 3000ms));
  auto info = run(loop_, *up, {{"INFO", "commandstats"}});
  ASSERT_TRUE(info && info->has_value());
  const std::string text = rawOf(*info);
  EXPECT_NE(text.find("cmdstat_lcs:calls=1,"), std::string::npos) << text;
}

// A pipeline that times out while it is written a window at a time: nothing more of it is
// written (its client has its 504), the connection waits for what was, then serves again.
TEST_F(RedisPoolTest, ATimedOutWindowedPipelineStopsBeingWritten) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 1;
  opts.max_pipeline_depth = 4;
  opts.timeout = 150ms;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  ASSERT_TRUE(run(loop_, *up, {{"SET", "n", "0"}}));
  const Cmd busy{"EVAL", kBusyScript, "0", "10"};
  const Cmd incr{"INCR", "n"};
  const std::vector<policy::Argv> pipeline = pairs(busy, incr, 100);
  std::optional<UpstreamResult> out;
  RequestHandle h = up->executePipeline(
      pipeline, [&](UpstreamResult&& r) { out.emplace(std::move(r)); }, "a");
  ASSERT_TRUE(loop_.runUntil([&] { return out.has_value(); }, 3000ms));
  ASSERT_FALSE(out->has_value());
  EXPECT_EQ(out->error().kind, UpstreamErrorKind::Timeout);
  ASSERT_TRUE(loop_.runUntil([&] { return up->stats().in_flight == 0; }, 3000ms));
  loop_.runFor(200ms);  // anything still being written would run now
  auto n = run(loop_, *up, {{"GET", "n"}});
  ASSERT_TRUE(n && n->has_value()) << (n ? rawOf(*n) : "none");
  const int ran = std::stoi(rawOf(*n).substr(rawOf(*n).find('\n') + 1));
  EXPECT_LT(ran, 30) << "the pipeline went on being written after its timeout";
  EXPECT_GT(ran, 0);
}

// Attack round 14: with the pool at its size but its last connection still opening (here its
// AUTH is never answered), another tenant's request was pipelined behind the first tenant's
// unanswered ones; it now waits for a connection of its own.
TEST_F(RedisPoolTest, NoRequestGoesBehindAnotherTenantWhileAConnectionIsOpening) {
  ScriptedServer fake({"+OK\r\n", ""});  // the first connection's AUTH passes, the second hangs
  RedisPoolOptions opts;
  opts.connections = 2;
  opts.endpoint.password = "pw";
  auto up = makeUpstream(loop_.base(), fake.url(), opts);
  const Cmd get{"GET", "k"};
  const policy::Argv argv(get);
  std::vector<RequestHandle> hs;
  for (int i = 0; i < 2; ++i)
    hs.push_back(up->execute(
        {&argv, 1}, [](UpstreamResult&&) {}, "slow"));
  // Both go on the ready connection (a tenant alone keeps to half the pool) and stay unanswered.
  ASSERT_TRUE(loop_.runUntil([&] { return up->stats().in_flight == 2; }, 5000ms));
  ASSERT_TRUE(loop_.runUntil([&] { return fake.accepted() == 2; }, 5000ms));
  loop_.runFor(50ms);
  ASSERT_EQ(up->stats().connections, 2u);
  hs.push_back(up->execute(
      {&argv, 1}, [](UpstreamResult&&) {}, "other"));
  EXPECT_EQ(up->stats().in_flight, 2u) << "written behind the slow tenant's requests";
  EXPECT_EQ(up->stats().queued, 1u);
}

// Attack round 13: a client that sent its requests and closed its connections got its in-flight
// share back at once while its commands still ran, so "send, reset" in a loop filled the pool
// past clients[].limits.max_in_flight. `hold` (the share ticket) now stays with the request
// until its reply is read.
TEST_F(RedisPoolTest, ACancelledRequestKeepsItsHoldUntilItsReplyIsRead) {
  RedisServer redis;
  auto up = makeUpstream(loop_.base(), redis.url());
  const Cmd busy{"EVAL", kBusyScript, "0", "150"};
  const policy::Argv busy_argv(busy);
  auto ticket = std::make_shared<int>(0);
  std::weak_ptr<int> watch = ticket;
  bool ran = false;
  {
    RequestHandle h = up->execute(
        {&busy_argv, 1}, [&ran](UpstreamResult&&) { ran = true; }, "t", "", ticket);
    ticket.reset();
    // Written, then its client goes.
    ASSERT_TRUE(loop_.runUntil([&] { return up->stats().in_flight == 1; }, 5000ms));
  }
  EXPECT_FALSE(watch.expired()) << "the share went back while the command was still running";
  ASSERT_TRUE(loop_.runUntil([&] { return watch.expired(); }, 5000ms));
  EXPECT_FALSE(ran);
  // Never written: cancelled while queued, the hold goes at once.
  RedisPoolOptions one;
  one.connections = 1;
  one.max_pipeline_depth = 1;
  auto narrow = makeUpstream(loop_.base(), redis.url(), one);
  RequestHandle first = narrow->execute(
      {&busy_argv, 1}, [](UpstreamResult&&) {}, "t");
  ASSERT_TRUE(loop_.runUntil([&] { return narrow->stats().in_flight == 1; }, 5000ms));
  auto queued_ticket = std::make_shared<int>(0);
  std::weak_ptr<int> queued_watch = queued_ticket;
  RequestHandle second = narrow->execute(
      {&busy_argv, 1}, [](UpstreamResult&&) {}, "t", "", queued_ticket);
  queued_ticket.reset();
  EXPECT_FALSE(queued_watch.expired());
  second.cancel();
  EXPECT_TRUE(queued_watch.expired()) << "a request never sent kept its share";
}

// A written request that times out is answered 504 at once, but its client's in-flight share
// stays taken until Redis answers it (the connection drains), as for a cancelled one.
TEST_F(RedisPoolTest, ATimedOutRequestKeepsItsHoldUntilRedisAnswers) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.timeout = 100ms;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  const Cmd busy{"EVAL", kBusyScript, "0", "300"};
  const policy::Argv busy_argv(busy);
  auto ticket = std::make_shared<int>(0);
  std::weak_ptr<int> watch = ticket;
  std::optional<UpstreamResult> out;
  RequestHandle h = up->execute(
      {&busy_argv, 1}, [&out](UpstreamResult&& r) { out.emplace(std::move(r)); }, "t", "", ticket);
  ticket.reset();
  ASSERT_TRUE(loop_.runUntil([&] { return out.has_value(); }, 5000ms));
  ASSERT_FALSE(out->has_value());
  EXPECT_EQ(out->error().kind, UpstreamErrorKind::Timeout);
  EXPECT_FALSE(watch.expired()) << "the share went back while Redis still ran the command";
  ASSERT_TRUE(loop_.runUntil([&] { return watch.expired(); }, 5000ms));
  EXPECT_EQ(up->stats().in_flight, 0u);
}

// README, Quotas: a request that leaves the pool without being written gets its quota charge
// back (before its client hears), and only such a request.
struct CountingRefund final : UnsentRefund {
  explicit CountingRefund(int& n) : n_(n) {}
  void refund() override { ++n_; }
  int& n_;
};

TEST_F(RedisPoolTest, OnlyARequestNeverWrittenGetsItsChargeBack) {
  RedisServer redis;
  RedisPoolOptions one;
  one.connections = 1;
  one.max_pipeline_depth = 1;
  auto up = makeUpstream(loop_.base(), redis.url(), one);
  const Cmd busy{"EVAL", kBusyScript, "0", "300"};
  const policy::Argv busy_argv(busy);
  const Cmd get{"GET", "k"};
  const policy::Argv get_argv(get);
  int written = 0;
  int done = 0;
  // Written and answered: kept.
  RequestHandle a = up->execute(
      {&get_argv, 1}, [&](UpstreamResult&& r) { done += r.has_value() ? 1 : 0; }, "t", "", {},
      std::make_unique<CountingRefund>(written));
  ASSERT_TRUE(loop_.runUntil([&] { return done == 1; }, 5000ms));
  // Written, then cancelled while it runs: kept (it runs all the same).
  RequestHandle b = up->execute(
      {&busy_argv, 1}, [](UpstreamResult&&) {}, "t", "", {},
      std::make_unique<CountingRefund>(written));
  ASSERT_TRUE(loop_.runUntil([&] { return up->stats().in_flight == 1; }, 5000ms));
  b.cancel();
  // Queued behind it, then cancelled: given back at once.
  int cancelled = 0;
  RequestHandle c = up->execute(
      {&get_argv, 1}, [](UpstreamResult&&) {}, "t", "", {},
      std::make_unique<CountingRefund>(cancelled));
  EXPECT_EQ(up->stats().queued, 1u);
  c.cancel();
  EXPECT_EQ(cancelled, 1);
  ASSERT_TRUE(loop_.runUntil([&] { return up->stats().in_flight == 0; }, 5000ms));
  EXPECT_EQ(written, 0) << "a written request kept its charge";

  // A connection whose AUTH is never answered: the request waits until the timeout and is given
  // back before its callback runs; one more, over max_queue, is given back too.
  ScriptedServer fake({""});
  RedisPoolOptions hang;
  hang.connections = 1;
  hang.max_queue = 1;
  hang.timeout = 300ms;
  hang.endpoint.password = "pw";
  auto silent = makeUpstream(loop_.base(), fake.url(), hang);
  int timed_out = 0;
  int seen_at_callback = -1;
  std::optional<UpstreamError> timeout_error;
  RequestHandle d = silent->execute(
      {&get_argv, 1},
      [&](UpstreamResult&& r) {
        seen_at_callback = timed_out;
        if (!r) timeout_error = r.error();
      },
      "u", "", {}, std::make_unique<CountingRefund>(timed_out));
  int refused = 0;
  bool overloaded = false;
  RequestHandle f = silent->execute(
      {&get_argv, 1},
      [&](UpstreamResult&& r) {
        overloaded = !r && r.error().kind == UpstreamErrorKind::Overloaded;
      },
      "v", "", {}, std::make_unique<CountingRefund>(refused));
  ASSERT_TRUE(loop_.runUntil([&] { return overloaded; }, 5000ms));
  EXPECT_EQ(refused, 1);
  ASSERT_TRUE(loop_.runUntil([&] { return timeout_error.has_value(); }, 5000ms));
  EXPECT_EQ(timeout_error->kind, UpstreamErrorKind::Timeout);
  EXPECT_FALSE(timeout_error->maybe_executed);
  EXPECT_EQ(seen_at_callback, 1) << "given back before the client heard";

  // An upstream that cannot be reached: never written, given back.
  auto down =
      makeUpstream(loop_.base(), "redis://127.0.0.1:" + std::to_string(testing::freePort()));
  int unreachable = 0;
  bool failed = false;
  RequestHandle g = down->execute(
      {&get_argv, 1}, [&](UpstreamResult&& r) { failed = !r; }, "t", "", {},
      std::make_unique<CountingRefund>(unreachable));
  ASSERT_TRUE(loop_.runUntil([&] { return failed; }, 5000ms));
  EXPECT_EQ(unreachable, 1);
}

TEST_F(RedisPoolTest, NothingWaitsBehindALargeReplyInProgress) {
  RedisServer redis;
  RedisPoolOptions opts;
  opts.connections = 2;
  auto up = makeUpstream(loop_.base(), redis.url(), opts);
  const std::string big(48 << 20, 'b');
  ASSERT_EQ(rawOf(*run(loop_, *up, {{"SET", "big", big}}, false, 30000ms)), "+OK\r\n");
  for (const bool skipped : {false, true}) {
    RedisPoolOptions o = opts;
    if (skipped) o.max_reply_bytes = 2 << 20;  // the reply is refused and skipped
    auto pool = makeUpstream(loop_.base(), redis.url(), o);
    ASSERT_EQ(rawOf(*run(loop_, *pool, {{"PING"}})), "+PONG\r\n");  // one warm connection
    std::vector<std::string> order;
    // Skipping is fast (48 MiB in 30-60 ms under ASan, and opening a connection took up to
    // 27 ms): the skipped reply is eight times the value, so the ping's connection opens first.
    const Cmd get = skipped ? Cmd{"MGET", "big", "big", "big", "big", "big", "big", "big", "big"}
                            : Cmd{"GET", "big"};
    const Cmd ping{"PING"};
    const policy::Argv ga(get);
    const policy::Argv pa(ping);
    RequestHandle hg = pool->execute({&ga, 1}, [&](UpstreamResult&&) { order.push_back("get"); });
    // Wait until the big reply is arriving (held, or being skipped) on the warm connection.
    ASSERT_TRUE(loop_.runUntil([&] { return pool->stats().streaming == 1; }, 10000ms));
    if (!skipped) EXPECT_GT(pool->stats().reply_bytes, 1u << 20);
    ASSERT_TRUE(order.empty()) << "the 48 MiB reply finished too soon to test";
    RequestHandle hp = pool->execute({&pa, 1}, [&](UpstreamResult&&) { order.push_back("ping"); });
    ASSERT_TRUE(loop_.runUntil([&] { return order.size() == 2; }, 20000ms));
    EXPECT_EQ(order.front(), "ping") << (skipped ? "skipped" : "held");
    EXPECT_EQ(pool->stats().connections, 2u);
  }
}

}  // namespace
}  // namespace kw::proxy
