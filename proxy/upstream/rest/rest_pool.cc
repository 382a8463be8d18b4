// RestPool: see the header. All state lives on the event loop's thread; connections that
// die inside their own callbacks are parked and freed from a zero-delay timer.
#include "proxy/upstream/rest/rest_pool.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <queue>
#include <unordered_map>

#include "policy/ascii.h"
#include "proxy/io/fair_queue.h"
#include "proxy/io/idle_socket.h"
#include "proxy/io/tls_client.h"
#include "proxy/io/tls_read_ahead.h"
#include "proxy/io/write_through.h"

namespace kw::proxy {

struct RestConn;

namespace detail {
struct RestPending {
  RestPool::Impl* owner = nullptr;
  RestCallSpec spec;
  RestCallbacks cb;
  std::unique_ptr<Timer> timer;
  RestConn* conn = nullptr;
  std::chrono::steady_clock::time_point written{};  // assign()
  bool done = false;
  bool head_seen = false;
  bool paused = false;
  bool in_callback = false;  // on_head / on_body running: cancel() must not destroy them
  // Its quota charge once written: kept until the response head says whether it ran. The
  // upstream's 429 (its rate or plan limit) and 413 say nothing ran: the charge goes back
  // (attack round 27: ten 429s spent ten of the client's day). Anything else keeps it.
  UnsentRefundPtr written_refund;
};
}  // namespace detail

using detail::RestPending;

struct RestConn {
  enum class State : uint8_t { Connecting, Idle, Busy, Dead };
  RestPool::Impl* impl = nullptr;
  BufferEventPtr bev;
  State state = State::Connecting;
  bool dedicated = false;  // a stream call's own connection, or a relay detached from the pool
  codec::HttpResponseParser parser;
  std::shared_ptr<RestPending> req;
  std::string body;       // decoded body bytes not yet handed out
  std::string tenant;     // a detached relay's tenant (its detached_by_tenant count)
  bool detached = false;  // counted in detached_by_tenant
};

namespace {
// Unread response bytes, in the bufferevent or still inside OpenSSL (read-ahead).
bool hasInput(const RestConn* c) {
  return c->bev && (evbuffer_get_length(bufferevent_get_input(c->bev.get())) != 0 ||
                    tlsBuffered(c->bev.get()));
}

// An idle connection may carry the next request: nothing arrived on it since its last response
// (read or not yet read) and the upstream has not closed it.
bool stillClean(const RestConn* c) {
  return c->bev && !hasInput(c) && connectionQuiet(c->bev.get());
}
}  // namespace

struct RestPool::Impl {
  event_base* base;
  RestPoolOptions o;
  SslCtxPtr tls;
  std::vector<std::unique_ptr<RestConn>> pool;
  std::vector<std::unique_ptr<RestConn>> streams;
  std::vector<std::unique_ptr<RestConn>> detached;  // relays (long or paused) off the pool
  std::unordered_map<std::string, uint32_t> detached_by_tenant;
  std::vector<std::unique_ptr<RestConn>> graveyard;
  FairQueue<std::shared_ptr<RestPending>> queue;
  Timer pump_timer;
  Timer reaper;
  // Share tickets of calls cancelled after they were written, each until its deadline,
  // earliest on top (a client's own max_in_flight bounds how many it can leave here).
  using Lingering = std::pair<std::chrono::steady_clock::time_point, std::shared_ptr<const void>>;
  std::priority_queue<Lingering, std::vector<Lingering>, std::greater<>> lingering;
  Timer linger_timer;
  bool destroying = false;

  Impl(event_base* b, RestPoolOptions opts)
      : base(b),
        o(std::move(opts)),
        pump_timer(b, [this] { pump(); }),
        reaper(b, [this] { graveyard.clear(); }),
        linger_timer(b, [this] { releaseLingering(); }) {}

  // Keeps `hold` until `until`; releaseLingering() lets go of those whose time has come and
  // arms the timer for the next.
  void keepUntil(std::chrono::steady_clock::time_point until, std::shared_ptr<const void> hold);
  void releaseLingering();

  RestConn* open(bool dedicated);
  void pump();
  // A client past half of the pooled connections takes one more only while another stays free
  // after it (idle or not yet opened), so another client always finds one (attack round 17:
  // eight slow requests of one client held all four, and another client's requests waited up to
  // the 5 s timeout, one 504), and a client alone still uses all but one.
  [[nodiscard]] bool mayTakeOneMore(const std::string& tenant) const;
  void assign(RestConn* c, const std::shared_ptr<RestPending>& p);
  void kill(RestConn* c);
  // Takes a busy pooled connection out of the pool (it closes when its response ends). At the
  // max_detached bound: a paused call (`cut_at_bound`) fails, a running one stays pooled.
  void detach(RestConn* c, bool cut_at_bound);
  void rejoinPool(RestConn* c);  // a detached connection whose response ended, kept alive
  void fail(const std::shared_ptr<RestPending>& p, UpstreamError e);
  void complete(RestConn* c);
  void processInput(RestConn* c);
  RestConn* takeIdle();
  void onEvent(RestConn* c, short what);
  void onTimeout(const std::shared_ptr<RestPending>& p);
  void cancel(const std::shared_ptr<RestPending>& p);
  [[nodiscard]] std::string connectError(bufferevent* bev) const;

  static void onReadCb(bufferevent* /*bev*/, void* arg) {
    auto* c = static_cast<RestConn*>(arg);
    c->impl->processInput(c);
  }
  static void onEventCb(bufferevent* /*bev*/, short what, void* arg) {
    auto* c = static_cast<RestConn*>(arg);
    c->impl->onEvent(c, what);
  }
};

void RestCall::close() {
  if (p_ && p_->owner != nullptr) p_->owner->cancel(p_);
  p_.reset();
}

void RestCall::pause() {
  if (!p_ || p_->done || p_->paused) return;
  p_->paused = true;
  if (p_->conn != nullptr && p_->conn->bev) {
    bufferevent_disable(p_->conn->bev.get(), EV_READ);
    if (!p_->conn->dedicated && p_->owner != nullptr) p_->owner->detach(p_->conn, true);
  }
}

void RestCall::leavePool() {
  if (p_ && !p_->done && p_->conn != nullptr && !p_->conn->dedicated && p_->owner != nullptr) {
    p_->owner->detach(p_->conn, false);
  }
}

void RestCall::resume() {
  if (!p_ || p_->done || !p_->paused) return;
  p_->paused = false;
  RestConn* c = p_->conn;
  if (c != nullptr && c->bev) {
    bufferevent_enable(c->bev.get(), EV_READ);
    // Bytes already buffered (here or in OpenSSL) get processed: the read callback, deferred.
    bufferevent_trigger(c->bev.get(), EV_READ,
                        BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
  }
}

Result<std::unique_ptr<RestPool>> RestPool::create(event_base* base, RestPoolOptions o) {
  if (o.connections == 0) o.connections = 1;
  auto impl = std::make_unique<Impl>(base, std::move(o));
  if (impl->o.tls) {
    auto ctx = makeClientTlsContext(impl->o.ca_file);
    if (!ctx) return ctx.error();
    impl->tls = std::move(*ctx);
  }
  return std::unique_ptr<RestPool>(new RestPool(std::move(impl)));
}

RestPool::RestPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RestPool::~RestPool() {
  impl_->destroying = true;
  for (auto& p : impl_->queue.drain()) p->owner = nullptr;
  for (auto* list : {&impl_->pool, &impl_->streams, &impl_->detached}) {
    for (auto& c : *list) {
      if (c->req) c->req->owner = nullptr;
      c->bev.reset();
    }
  }
}

std::string RestPool::describe() const {
  return ascii::hostPort(impl_->o.host, impl_->o.port) + (impl_->o.tls ? " (tls)" : "");
}

UpstreamStats RestPool::stats() const {
  UpstreamStats s;
  for (const auto& c : impl_->pool) {
    if (c->state == RestConn::State::Busy) ++s.in_flight;
  }
  s.connections = static_cast<uint32_t>(impl_->pool.size());
  s.queued = static_cast<uint32_t>(impl_->queue.size());
  s.subscriptions = static_cast<uint32_t>(impl_->streams.size());
  s.detached = static_cast<uint32_t>(impl_->detached.size());
  return s;
}

bool RestPool::connected() const {
  for (const auto& c : impl_->pool) {
    if (c->state == RestConn::State::Idle || c->state == RestConn::State::Busy) return true;
  }
  return false;
}

void RestPool::warm() {
  while (impl_->pool.size() < impl_->o.connections) {
    if (impl_->open(false) == nullptr) break;
  }
}

RestCallPtr RestPool::call(RestCallSpec spec, RestCallbacks callbacks) {
  auto p = std::make_shared<RestPending>();
  p->owner = impl_.get();
  p->spec = std::move(spec);
  p->cb = std::move(callbacks);
  std::weak_ptr<RestPending> weak = p;
  Impl* impl = impl_.get();
  p->timer = std::make_unique<Timer>(impl->base, [impl, weak] {
    if (auto sp = weak.lock()) impl->onTimeout(sp);
  });
  p->timer->arm(impl->o.timeout);
  // Refusals are reported from the loop (the pending call's timer), never inside call().
  auto failSoon = [&](UpstreamError e) {
    p->timer = std::make_unique<Timer>(impl->base, [impl, weak, e] {
      if (auto sp = weak.lock()) impl->fail(sp, e);
    });
    p->timer->arm(Milliseconds(0));
    return std::make_unique<RestCall>(p);
  };
  if (p->spec.stream) {
    if (impl->streams.size() >= impl->o.max_streams) {
      return failSoon({UpstreamErrorKind::Overloaded, "too many upstream streams"});
    }
    RestConn* c = impl->open(true);
    if (c == nullptr) {
      return failSoon({UpstreamErrorKind::Unreachable, "cannot open an upstream connection"});
    }
    c->req = p;
    p->conn = c;
    return std::make_unique<RestCall>(p);
  }
  if (impl->queue.size() >= impl->o.max_queue) {
    return failSoon({UpstreamErrorKind::Overloaded, "upstream request queue is full"});
  }
  if (impl->queue.empty() && impl->mayTakeOneMore(p->spec.tenant)) {
    // An idle connection takes the request now (writing it runs no callback).
    if (RestConn* idle = impl->takeIdle()) {
      impl->assign(idle, p);
      return std::make_unique<RestCall>(p);
    }
  }
  impl->queue.push(p->spec.tenant, p->spec.lane, p);
  impl->pump_timer.arm(Milliseconds(0));
  return std::make_unique<RestCall>(p);
}

bool RestPool::Impl::mayTakeOneMore(const std::string& tenant) const {
  if (tenant.empty()) return true;
  const size_t half = std::max<size_t>(1, o.connections / 2);
  size_t mine = 0;
  size_t busy = 0;
  for (const auto& c : pool) {
    if (c->state != RestConn::State::Busy) continue;
    ++busy;
    mine += c->req && c->req->spec.tenant == tenant ? 1 : 0;
  }
  return mine < half || busy + 2 <= o.connections;
}

RestConn* RestPool::Impl::open(bool dedicated) {
  auto c = std::make_unique<RestConn>();
  c->impl = this;
  c->dedicated = dedicated;
  codec::HttpResponseLimits limits;
  // A subscription stream lasts as long as its client listens: its lines are bounded one by
  // one (SseStreamCheck), not in total.
  limits.max_body_bytes = dedicated ? UINT64_MAX : o.max_body_bytes;
  c->parser = codec::HttpResponseParser(limits);
  RestConn* raw = c.get();
  auto bev = newClientBufferevent(base, o.tls ? tls.get() : nullptr, o.host,
                                  /*read_ahead=*/true);  // processInput() pulls what OpenSSL holds
  if (!bev) return nullptr;
  c->bev = std::move(*bev);
  bufferevent_setcb(c->bev.get(), &Impl::onReadCb, nullptr, &Impl::onEventCb, raw);
  bufferevent_enable(c->bev.get(), EV_READ | EV_WRITE);
  (dedicated ? streams : pool).push_back(std::move(c));
  // A failure to connect is reported through the event callback (deferred), never from inside
  // call().
  std::string why;
  (void)connectClient(raw->bev.get(), o.host, o.port, why);
  return raw;
}

RestConn* RestPool::Impl::takeIdle() {
  for (size_t i = 0; i < pool.size();) {
    RestConn* c = pool[i].get();
    if (c->state != RestConn::State::Idle) {
      ++i;
      continue;
    }
    if (stillClean(c)) return c;
    // Unasked bytes (or the upstream's close) since its last response: out of step, never
    // reused. kill() takes it out of `pool`.
    kill(c);
  }
  return nullptr;
}

void RestPool::Impl::pump() {
  if (destroying) return;
  size_t passed = 0;  // tenants in a row whose next request may not go now
  while (!queue.empty() && passed < queue.tenants()) {
    RestConn* idle = takeIdle();
    if (idle == nullptr) break;
    const std::string& tenant = queue.front()->spec.tenant;
    if (!mayTakeOneMore(tenant)) {
      queue.skipTenant();  // a tenant-wide bound: none of its identities may go either
      ++passed;
      continue;
    }
    passed = 0;
    assign(idle, queue.pop());
  }
  if (queue.empty()) return;
  size_t connecting = 0;
  for (auto& c : pool) connecting += c->state == RestConn::State::Connecting ? 1 : 0;
  while (pool.size() < o.connections && connecting < queue.size()) {
    if (open(false) == nullptr) {
      // No connection can be made (TLS setup failed): nothing queued can ever be sent.
      for (auto& p : queue.drain()) {
        fail(p, {UpstreamErrorKind::Unreachable, "cannot open an upstream connection"});
      }
      return;
    }
    ++connecting;
  }
}

void RestPool::Impl::assign(RestConn* c, const std::shared_ptr<RestPending>& p) {
  c->state = RestConn::State::Busy;
  c->req = p;
  c->parser.reset();
  c->body.clear();
  p->conn = c;
  p->written = std::chrono::steady_clock::now();
  p->written_refund = std::move(p->spec.refund);  // written: it may run (see written_refund)
  writeThrough(c->bev.get(), p->spec.bytes);
  // Written: the bytes (with keyward's upstream token) are wiped, not just released.
  OPENSSL_cleanse(p->spec.bytes.data(), p->spec.bytes.size());
  std::string().swap(p->spec.bytes);
  if (p->paused) {
    bufferevent_disable(c->bev.get(), EV_READ);
  } else {
    bufferevent_enable(c->bev.get(), EV_READ);
  }
}

void RestPool::Impl::kill(RestConn* c) {
  if (c->state == RestConn::State::Dead) return;
  c->state = RestConn::State::Dead;
  if (c->req) c->req->conn = nullptr;
  c->req.reset();
  if (c->bev) {
    bufferevent_setcb(c->bev.get(), nullptr, nullptr, nullptr, nullptr);
    bufferevent_disable(c->bev.get(), EV_READ | EV_WRITE);
    c->bev.reset();
  }
  if (c->detached) {
    auto t = detached_by_tenant.find(c->tenant);
    if (t != detached_by_tenant.end() && --t->second == 0) detached_by_tenant.erase(t);
  }
  for (auto* list : {&pool, &streams, &detached}) {
    auto it = std::find_if(list->begin(), list->end(), [c](auto& u) { return u.get() == c; });
    if (it != list->end()) {
      graveyard.push_back(std::move(*it));
      list->erase(it);
      reaper.arm(Milliseconds(0));
    }
  }
}

void RestPool::Impl::detach(RestConn* c, bool cut_at_bound) {
  if (c->state != RestConn::State::Busy || !c->req) return;
  const std::string& tenant = c->req->spec.tenant;
  auto it = std::find_if(pool.begin(), pool.end(), [c](auto& u) { return u.get() == c; });
  if (it == pool.end()) return;
  uint32_t& mine = detached_by_tenant[tenant];
  if (detached.size() >= o.max_detached || mine >= std::max<uint32_t>(o.max_detached / 2, 1)) {
    if (mine == 0) detached_by_tenant.erase(tenant);
    if (!cut_at_bound) return;
    // Deferred: pause() runs inside the client's write path.
    auto p = c->req;
    std::weak_ptr<RestPending> weak = p;
    p->timer = std::make_unique<Timer>(base, [this, weak] {
      if (auto sp = weak.lock()) {
        fail(sp, {UpstreamErrorKind::Overloaded,
                  "too many relays whose clients do not read (upstream max_detached)"});
      }
    });
    p->timer->arm(Milliseconds(0));
    return;
  }
  ++mine;
  c->dedicated = true;
  c->detached = true;
  c->tenant = tenant;
  detached.push_back(std::move(*it));
  pool.erase(it);
  pump_timer.arm(Milliseconds(0));  // a replacement for the queue, if anything waits
}

void RestPool::Impl::rejoinPool(RestConn* c) {
  auto it = std::find_if(detached.begin(), detached.end(), [c](auto& u) { return u.get() == c; });
  if (it == detached.end()) return;
  auto t = detached_by_tenant.find(c->tenant);
  if (t != detached_by_tenant.end() && --t->second == 0) detached_by_tenant.erase(t);
  c->detached = false;
  c->dedicated = false;
  c->tenant.clear();
  pool.push_back(std::move(*it));
  detached.erase(it);
}

void RestPool::Impl::fail(const std::shared_ptr<RestPending>& p, UpstreamError e) {
  if (p->done) return;
  p->done = true;
  refundUnsent(p->spec.refund);  // before the client hears, so its next request finds it
  // Written: the upstream may have run it whatever went wrong after (a timeout, a connection
  // closed mid-response, a malformed response), so the client is never told it did not.
  if (p->written != std::chrono::steady_clock::time_point{}) e.maybe_executed = true;
  if (p->timer) p->timer->cancel();
  if (p->conn != nullptr) kill(p->conn);
  auto cb = std::move(p->cb.on_error);
  p->cb = {};
  if (cb) cb(e);
}

void RestPool::Impl::onTimeout(const std::shared_ptr<RestPending>& p) {
  if (p->done) return;
  queue.erase(p->spec.tenant, p->spec.lane, p);
  fail(p, {UpstreamErrorKind::Timeout, "no upstream response within upstream.timeout"});
}

void RestPool::Impl::cancel(const std::shared_ptr<RestPending>& p) {
  p->owner = nullptr;
  if (p->done) return;
  p->done = true;
  refundUnsent(p->spec.refund);
  if (!p->in_callback) p->cb = {};  // else processInput() clears them once they return
  if (p->timer) p->timer->cancel();
  queue.erase(p->spec.tenant, p->spec.lane, p);
  // Written: the upstream runs it whatever happens here, so its client's share stays taken
  // (attack round 13: "send, reset" in a loop ran past max_in_flight). A stream's share is its
  // open subscription, which ends now.
  if (p->conn != nullptr && !p->spec.stream && p->spec.hold) {
    keepUntil(p->written + o.timeout, std::move(p->spec.hold));
  }
  p->spec.hold.reset();
  // A response in progress cannot be resynchronised: the connection goes.
  if (p->conn != nullptr) kill(p->conn);
}

void RestPool::Impl::keepUntil(std::chrono::steady_clock::time_point until,
                               std::shared_ptr<const void> hold) {
  lingering.emplace(until, std::move(hold));
  if (lingering.top().first == until) releaseLingering();  // the earliest now: re-arm
}

void RestPool::Impl::releaseLingering() {
  const auto now = std::chrono::steady_clock::now();
  while (!lingering.empty() && lingering.top().first <= now) lingering.pop();
  if (lingering.empty()) return;
  linger_timer.arm(std::chrono::duration_cast<Milliseconds>(lingering.top().first - now) +
                   Milliseconds(1));
}

void RestPool::Impl::complete(RestConn* c) {
  std::shared_ptr<RestPending> p = c->req;
  // A detached relay's connection rejoins the pool when the pool has room (no replacement was
  // needed meanwhile): a large reply costs no new upstream connection then.
  const bool rejoin = c->detached && pool.size() < o.connections;
  if ((c->dedicated && !rejoin) || !c->parser.keepAlive() || hasInput(c)) {
    kill(c);
  } else {
    if (rejoin) rejoinPool(c);
    c->state = RestConn::State::Idle;
    c->req.reset();
    p->conn = nullptr;
    if (!queue.empty()) pump_timer.arm(Milliseconds(0));
  }
  p->done = true;
  if (p->timer) p->timer->cancel();
  auto cb = std::move(p->cb.on_done);
  p->cb = {};
  if (cb) cb();
}

void RestPool::Impl::processInput(RestConn* c) {
  if (c->state != RestConn::State::Busy || !c->bev) {
    // Bytes on an idle keep-alive connection are a protocol violation: drop it. (A read
    // callback scheduled by resume() may run after the reply completed: nothing is there then.)
    if (c->state == RestConn::State::Idle && hasInput(c)) kill(c);
    return;
  }
  std::shared_ptr<RestPending> p = c->req;
  evbuffer* in = bufferevent_get_input(c->bev.get());
  size_t pull_budget = kTlsPullPerTurn;
  while (c->state == RestConn::State::Busy && !p->paused &&
         (evbuffer_get_length(in) != 0 || pullTlsBuffered(c->bev.get(), &pull_budget) != 0)) {
    evbuffer_iovec vec;
    if (evbuffer_peek(in, -1, nullptr, &vec, 1) < 1) break;
    size_t used = 0;
    auto st = c->parser.feed(static_cast<const char*>(vec.iov_base), vec.iov_len, &used, c->body);
    evbuffer_drain(in, used);
    if (st == codec::HttpResponseParser::Status::Error) {
      if (c->parser.overLimit()) {
        return fail(p, {UpstreamErrorKind::TooLarge,
                        "ERR reply exceeds upstream.max_reply_bytes (the command ran; its reply "
                        "was dropped)",
                        true});
      }
      return fail(p, {UpstreamErrorKind::Protocol,
                      "upstream sent a malformed HTTP response: " + c->parser.error()});
    }
    if (!p->head_seen && c->parser.headComplete()) {
      p->head_seen = true;
      const int status = c->parser.status();
      if (status == 429 || status == 413) {
        refundUnsent(p->written_refund);  // before the client hears, so its retry finds it
      } else {
        p->written_refund.reset();
      }
      if (p->spec.stream && p->timer) p->timer->cancel();
      if (p->cb.on_head) {
        p->in_callback = true;
        p->cb.on_head(c->parser);
        p->in_callback = false;
      }
      if (p->done) p->cb = {};
      if (p->done || c->state != RestConn::State::Busy) return;
    }
    if (!c->body.empty()) {
      std::string chunk;
      chunk.swap(c->body);
      if (p->cb.on_body) {
        p->in_callback = true;
        p->cb.on_body(chunk);
        p->in_callback = false;
      }
      if (p->done) p->cb = {};
      if (p->done || c->state != RestConn::State::Busy) return;
    }
    if (st == codec::HttpResponseParser::Status::Complete) return complete(c);
  }
}

std::string RestPool::Impl::connectError(bufferevent* bev) const {
  std::string why = o.tls ? describeTlsFailure(bev) : std::string();
  if (why.empty()) {
    const int dns = bufferevent_socket_get_dns_error(bev);
    if (dns != 0) {
      why = std::string("DNS: ") + evutil_gai_strerror(dns);
    } else {
      const int e = EVUTIL_SOCKET_ERROR();
      why = e != 0 ? evutil_socket_error_to_string(e) : "connection closed";
    }
  }
  return "upstream " + o.host + ":" + std::to_string(o.port) + ": " + why;
}

void RestPool::Impl::onEvent(RestConn* c, short what) {
  if ((what & BEV_EVENT_CONNECTED) != 0) {
    setNoDelay(c->bev.get());
    if (c->dedicated) {
      if (c->req) {
        auto p = c->req;
        c->req.reset();
        assign(c, p);
      } else {
        kill(c);
      }
      return;
    }
    c->state = RestConn::State::Idle;
    pump();
    return;
  }
  if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) == 0) return;
  if (c->state == RestConn::State::Busy) {
    processInput(c);  // whatever arrived before the close
    if (c->state != RestConn::State::Busy) return;
    auto p = c->req;
    if ((what & BEV_EVENT_EOF) != 0 && !p->paused &&
        c->parser.finishAtEof() == codec::HttpResponseParser::Status::Complete) {
      return complete(c);
    }
    return fail(p, {UpstreamErrorKind::Closed,
                    "upstream closed the connection before the response was complete"});
  }
  if (c->state == RestConn::State::Connecting) {
    UpstreamError e{UpstreamErrorKind::Unreachable, connectError(c->bev.get())};
    auto p = c->req;  // a dedicated connection's call
    kill(c);
    if (p) return fail(p, e);
    // Without any working connection nothing queued can be sent: fail it now, not at timeout.
    bool healthy = false;
    for (auto& other : pool) healthy = healthy || other->state != RestConn::State::Connecting;
    if (!healthy) {
      for (auto& q : queue.drain()) fail(q, e);
    } else {
      pump();
    }
    return;
  }
  kill(c);  // an idle keep-alive connection the upstream closed: reopened on demand
}

}  // namespace kw::proxy
