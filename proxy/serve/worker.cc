// One worker's loop and what runs on it; see worker.h.
#include "proxy/serve/worker.h"

#include <event2/event.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>

#include "proxy/io/access_log.h"
#include "proxy/serve/worker_count.h"
#include "proxy/upstream/redis/redis_upstream.h"

namespace kw::proxy {

namespace {

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::unique_ptr<Upstream>> makeUpstream(event_base* base, const Worker::Common& c,
                                               uint32_t index) {
  const conf::UpstreamConfig& u = c.config->upstream;
  if (u.kind == conf::UpstreamKind::RestHttps || u.kind == conf::UpstreamKind::RestHttp) {
    RestPoolOptions ro;
    ro.host = u.host;
    ro.port = u.port;
    ro.tls = u.kind == conf::UpstreamKind::RestHttps;
    ro.ca_file = u.ca_file;
    ro.timeout = u.timeout;
    ro.connections = connectionsPerWorker(u.connections, c.count);
    ro.max_streams = 100000;  // the router enforces listen.max_subscriptions (reloadable)
    // As a held reply with values to open is bounded (rest_upstream.cc): its JSON, base64 or
    // escaped, is larger than the values' RESP that max_reply_bytes bounds on a Redis upstream.
    ro.max_body_bytes = 2 * u.max_reply_bytes + 65536;
    auto r = RestUpstream::create(base, std::move(ro), c.sync_tokens);
    if (!r) return r.error();
    return std::unique_ptr<Upstream>(std::move(*r));
  }
  RedisPoolOptions uo;
  uo.endpoint = redisEndpoint(u);
  uo.ca_file = u.ca_file;
  uo.timeout = u.timeout;
  uo.connections = connectionsPerWorker(u.connections, c.count);
  uo.max_reply_bytes = u.max_reply_bytes;
  uo.max_reply_bytes_total = std::max(u.max_reply_bytes_total / c.count, 2 * u.max_reply_bytes);
  uo.max_reply_elements = u.max_reply_elements;
  uo.max_subscriptions = 100000;  // the router enforces listen.max_subscriptions (reloadable)
  uo.activity = c.tenant_activity;
  uo.worker = index;
  auto r = RedisUpstream::create(base, std::move(uo));
  if (!r) return r.error();
  return std::unique_ptr<Upstream>(std::move(*r));
}

}  // namespace

Result<std::unique_ptr<Worker>> Worker::create(const Common& common, uint32_t index,
                                               uint16_t port) {
  std::unique_ptr<Worker> w(new Worker(index));
  auto base = makeEventBase();
  if (!base) return base.error();
  w->base_ = std::move(*base);
  auto mailbox = LoopMailbox::create(w->base_.get());
  if (!mailbox) return mailbox.error();
  w->mailbox_ = std::move(*mailbox);
  auto upstream = makeUpstream(w->base_.get(), common, index);
  if (!upstream) {
    return Error{upstream.error().code,
                 "upstream " + common.config->upstream.display + ": " + upstream.error().message};
  }
  w->upstream_ = std::move(*upstream);
  w->router_ = std::make_unique<RequestRouter>(*common.router, *w->upstream_);
  w->router_->setAudit(common.audit);
  auto server = GatewayServer::create(w->base_.get(), common.config->listen, *w->router_,
                                      *common.listener, port, common.count > 1);
  if (!server) return server.error();
  w->server_ = std::move(*server);
  // Another worker over max_output_bytes because of this one's holders asks it to shed.
  LoopMailbox* box = w->mailbox_.get();
  GatewayServer* srv = w->server_.get();
  common.listener->onShedWanted([box, srv] { box->post([srv] { srv->checkOutput(); }); });
  // At max_connections, a connection another worker accepted comes here when this worker holds
  // the process's oldest unauthenticated connection (a post dropped at shutdown closes it).
  srv->setWorkerIndex(common.listener->addWorker(
      [box, srv](std::shared_ptr<HandedConnection> h) { box->post([srv, h] { srv->adopt(h); }); }));
  // Readiness: Upstream::probe every 2 s (Redis: a PING; REST: a verified warm connection, as
  // Upstash bills every command). A wrong REST token shows on the first request (502 and an
  // upstream_failed log line naming the cause).
  Upstream* up = w->upstream_.get();
  w->pinger_ = std::make_unique<Timer>(w->base_.get(), [up] { up->probe(); });
  // A stream whose token expires is closed within a quarter second of its exp (+ leeway); a
  // missed takeShared() is caught here too.
  RequestRouter* router = w->router_.get();
  w->stream_expiry_ = std::make_unique<Timer>(w->base_.get(), [router] {
    router->syncShared();
    router->recheckStreams(nowSeconds(), true);
  });
  return w;
}

Worker::~Worker() {
  join();
  if (server_) server_->closeAll();
  server_.reset();
  stream_expiry_.reset();
  pinger_.reset();
  router_.reset();
  quota_store_.reset();
  upstream_.reset();
  mailbox_.reset();
}

Status Worker::useQuotaStore(const conf::UpstreamConfig& store, Milliseconds timeout) {
  auto st = QuotaStore::create(base_.get(), store, timeout);
  if (!st) return st.error();
  quota_store_ = std::move(*st);
  router_->quota().useLeases(quota_store_.get());
  return Ok{};
}

std::string Worker::describeQuotaStore() const {
  return quota_store_ ? quota_store_->describe() : std::string();
}

void Worker::start(std::function<void()> on_exit) {
  thread_ = std::thread([this, on_exit = std::move(on_exit)] {
    // "keyward-w0", ...: what top -H and perf show for this thread.
    const std::string name = "keyward-w" + std::to_string(index_);
    pthread_setname_np(pthread_self(), name.c_str());
    upstream_->probe();
    pinger_->armPeriodic(Milliseconds(2000));
    stream_expiry_->armPeriodic(Milliseconds(250));
    event_base_dispatch(base_.get());
    mailbox_->close();
    on_exit();
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::takeShared() {
  mailbox_->post([this] { router_->syncShared(); });
}

void Worker::drain() {
  mailbox_->post([this] {
    pinger_->cancel();
    // Drained: unused store leases go back before exit (a lost lease is budget never spent).
    server_->beginDrain([this] {
      router_->quota().returnLeases([this] { event_base_loopexit(base_.get(), nullptr); });
    });
  });
}

void Worker::stop() {
  mailbox_->post([this] { event_base_loopexit(base_.get(), nullptr); });
}

std::optional<WorkerSample> Worker::sample(Milliseconds timeout) {
  auto out = std::make_shared<WorkerSample>();
  const bool answered = mailbox_->call(
      [this, out] {
        WorkerSample& s = *out;
        s.stats = router_->stats();
        s.latencies = router_->latencies();
        s.client_decisions = router_->clientDecisions();
        s.denials_by_reason = router_->denialsByReason();
        s.shadow_mismatches = router_->shadowMismatches();
        s.jwt_cache_hits = router_->verifiedTokens().hits();
        s.jwt_cache_entries = router_->verifiedTokens().size();
        s.connections = server_->connectionCount();
        s.accepted = server_->accepted();
        s.upstream = upstream_->stats();
      },
      timeout);
  if (!answered) return std::nullopt;
  return std::move(*out);
}

bool Worker::upstreamReady(Milliseconds timeout) {
  auto ready = std::make_shared<bool>(false);
  const bool answered = mailbox_->call([this, ready] { *ready = upstream_->ready(); }, timeout);
  return answered && *ready;
}

}  // namespace kw::proxy
