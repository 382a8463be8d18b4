// Pooled, pipelined Redis upstream: a wait queue fair between tenants, per-request deadlines,
// cancellation, no retries.
#include "proxy/upstream/redis/redis_pool.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

#include "policy/ascii.h"
#include "policy/command_table.h"
#include "proxy/codec/resp_writer.h"
#include "proxy/io/fair_queue.h"
#include "proxy/io/tls_client.h"
#include "proxy/upstream/redis/subscription_hub.h"
#include "proxy/upstream/redis/tenant_activity.h"

namespace kw::proxy {

namespace detail {

// Ascending reply indices of a request's commands of one kind. One is kept inline: most requests
// are one command, and a GET's (value_read) must not cost an allocation.
class ReplyIndices {
 public:
  void add(uint32_t i) {  // ascending
    if (n_ == 0) {
      one_ = i;
    } else {
      if (n_ == 1) many_.push_back(one_);
      many_.push_back(i);
    }
    ++n_;
  }
  bool empty() const { return n_ == 0; }
  bool has(uint32_t i) const {
    return n_ == 1 ? one_ == i : std::binary_search(many_.begin(), many_.end(), i);
  }
  // How many lie in [from, to).
  uint32_t countIn(uint32_t from, uint32_t to) const {
    if (n_ <= 1) return n_ == 1 && one_ >= from && one_ < to ? 1 : 0;
    return static_cast<uint32_t>(std::lower_bound(many_.begin(), many_.end(), to) -
                                 std::lower_bound(many_.begin(), many_.end(), from));
  }

 private:
  uint32_t n_ = 0;
  uint32_t one_ = 0;
  std::vector<uint32_t> many_;  // all of them once there are two or more
};

struct PendingRequest : std::enable_shared_from_this<PendingRequest> {
  enum class Stage : uint8_t { Queued, InFlight, Done };
  RedisPool::Impl* owner = nullptr;  // null once the upstream is gone
  Stage stage = Stage::Queued;
  std::string wire;  // RESP bytes; freed once all are written
  // A pipeline's command boundaries in `wire` (the end of each command), when it may be written
  // a window at a time (see PooledConn::writing); empty for a single command or a transaction,
  // which are written whole.
  std::vector<size_t> ends;
  // Reply indices of its data-sized commands (policy::kDataSized), ascending; a transaction's
  // are all run at EXEC, so it lists EXEC's once. Impl::sized_out holds one per tenant at a time.
  ReplyIndices sized;
  // Reply indices of its whole-collection reads (policy::PoolCost::collection_read), the same
  // way: Impl::reads_out holds a few per tenant, one once its replies came back large.
  ReplyIndices reads;
  // And of its other reads of stored data (value_read: GET, HGET, ...): free until the tenant's
  // replies come back large, then one at a time; `values_out` of them are counted in
  // Impl::values_out (only those written while the tenant's replies were large: the hot path of
  // small GETs touches no per-tenant count).
  ReplyIndices values;
  uint32_t values_out = 0;
  uint32_t written = 0;              // commands written so far
  std::string tenant;                // whose request: the wait queue serves tenants in turn
  std::string identity;              // HeldReplyBytes::by_identity key ("tenant\nsub"), or empty
  std::shared_ptr<const void> hold;  // RedisPool::execute's `hold`: until it leaves the upstream
  UnsentRefundPtr refund;            // its quota charge, given back if it leaves unwritten
  uint32_t expected = 0;
  uint32_t received = 0;
  bool transaction = false;  // MULTI + commands + EXEC: EXEC's array must have expected-2 entries
  uint64_t raw_held = 0;     // reply bytes stored in `bytes` (upstream.max_reply_bytes)
  uint64_t held = 0;   // what they take in memory, parsed values included (counted in Impl::held)
  bool slots = false;  // a pipeline (executePipeline): a reply over a limit is its slot's error
  // A reply went over a limit. A pipeline answers that slot alone with slot_error; a single
  // command or a transaction fails whole with reply_error.
  std::optional<UpstreamError> reply_error;
  const char* slot_error = nullptr;
  ReplyCallback callback;
  std::optional<Timer> deadline;
  std::optional<UpstreamError> deferred_error;  // delivered from the loop, not from execute()
  std::unique_ptr<ReplyBuffer> bytes;
  struct Span {
    size_t offset = 0;  // in bytes
    size_t length = 0;
    size_t first_node = 0;  // in nodes
    size_t node_count = 0;
  };
  std::vector<Span> spans;
  codec::ReplyNodes nodes;  // each reply's values, recorded while framing: no bytes are re-read
  void* conn = nullptr;     // the PooledConn carrying it while InFlight

  bool sizedAt(uint32_t i) const { return sized.has(i); }
  uint32_t sizedIn(uint32_t from, uint32_t to) const { return sized.countIn(from, to); }
  bool readAt(uint32_t i) const { return reads.has(i); }
  uint32_t readsIn(uint32_t from, uint32_t to) const { return reads.countIn(from, to); }
  bool valueAt(uint32_t i) const { return values.has(i); }
  uint32_t valuesIn(uint32_t from, uint32_t to) const { return values.countIn(from, to); }
};

namespace {
using Counts = std::unordered_map<std::string, uint64_t>;
void addTo(Counts& m, NodeRecycler<Counts>& nodes, const std::string& key, uint64_t n) {
  nodes.findOrAdd(m, key)->second += n;
}
void takeFrom(Counts& m, NodeRecycler<Counts>& nodes, const std::string& key, uint64_t n) {
  auto it = m.find(key);
  if (it == m.end()) return;
  it->second -= std::min(n, it->second);
  if (it->second == 0) nodes.erase(m, it);
}
uint64_t amountOf(const Counts& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}
}  // namespace

void HeldReplyBytes::add(const std::string& tenant, const std::string& identity, uint64_t n) {
  if (n == 0) return;
  total += n;
  addTo(by_tenant, tenant_nodes, tenant, n);
  if (!identity.empty()) addTo(by_identity, identity_nodes, identity, n);
}

void HeldReplyBytes::remove(const std::string& tenant, const std::string& identity, uint64_t n) {
  if (n == 0) return;
  total -= std::min(n, total);
  takeFrom(by_tenant, tenant_nodes, tenant, n);
  if (!identity.empty()) takeFrom(by_identity, identity_nodes, identity, n);
}

void HeldReplyBytes::release(const std::string& tenant, const std::string& identity, uint64_t n) {
  if (n == 0) return;
  remove(tenant, identity, n);
  for (auto& [who, allowed] : blocked) allowed = 1;
  if (on_release) on_release();
}

uint64_t HeldReplyBytes::of(const std::string& tenant) const { return amountOf(by_tenant, tenant); }

uint64_t HeldReplyBytes::ofIdentity(const std::string& identity) const {
  return identity.empty() ? 0 : amountOf(by_identity, identity);
}

HeldReplyShare::~HeldReplyShare() {
  if (auto account = account_.lock()) account->release(tenant_, identity_, bytes_);
}

struct ResponseBuilder {
  // A reply with arrays nested deeper becomes keyward's error in its own slot (framing allows
  // more, staying in step): failing the whole request told a /pipeline whose every command had
  // run that the outcome was unknown (attack round 32b: a script returning a 65-level table).
  static constexpr uint32_t kMaxDepth = 64;
  static constexpr std::string_view kTooDeep =
      "ERR reply nested deeper than 64 levels (the command ran; its reply was dropped)";
  static constexpr std::string_view kTooDeepRaw =
      "-ERR reply nested deeper than 64 levels (the command ran; its reply was dropped)\r\n";
  static_assert(kMaxDepth == 64 && kTooDeepRaw.substr(1, kTooDeep.size()) == kTooDeep &&
                kTooDeepRaw.size() == kTooDeep.size() + 3);

  // Builds each reply's tree from its recorded nodes. The request's held bytes move into the
  // response's share.
  static void build(PendingRequest& req, const std::shared_ptr<HeldReplyBytes>& held,
                    UpstreamResponse& out) {
    if (req.held != 0) {
      out.held_ = std::make_unique<HeldReplyShare>(held, req.tenant, req.identity, req.held);
      req.held = 0;
    }
    out.bytes_ = req.bytes ? std::move(req.bytes) : std::make_unique<ReplyBuffer>();
    out.values_.reserve(req.spans.size());
    out.raws_.reserve(req.spans.size());
    const std::string_view all = out.bytes_->view();
    for (auto& span : req.spans) {
      const std::string_view raw = all.substr(span.offset, span.length);
      const std::span<const codec::RespNode> nodes(req.nodes.data() + span.first_node,
                                                   span.node_count);
      auto value = codec::buildReply(raw, nodes, kMaxDepth);
      if (!value) {
        out.raws_.push_back(kTooDeepRaw);
        out.values_.push_back(codec::RespValue::error(kTooDeep));
        continue;
      }
      out.raws_.push_back(raw);
      out.values_.push_back(std::move(*value));
    }
    codec::ReplyNodes().swap(req.nodes);
  }
};

}  // namespace detail

using detail::PendingRequest;
using Stage = PendingRequest::Stage;
// How a RequestHandle cancels a PendingRequest (defined once Impl is complete).
extern const RequestHandle::Ops kPendingOps;

// A request holding at most this much is never refused for the total: a tenant that fills
// max_reply_bytes_total cannot starve everyone's small replies. What such requests hold is
// bounded apart: connections x max_pipeline_depth x 256 KiB (64 MiB by default).
constexpr uint64_t kSmallRequestBytes = uint64_t{256} << 10;
// What a held reply takes in memory: its bytes, and per value the node framing recorded and the
// tree node built from it. A reply of many small values (LRANGE of a million one-byte items is
// 7 bytes of RESP each) takes ten times its bytes parsed; counting only the bytes let twenty
// such requests hold over 400 MiB against a 256 MiB upstream.max_reply_bytes_total.
constexpr uint64_t kHeldBytesPerValue = sizeof(codec::RespNode) + sizeof(codec::RespValue);
static_assert(kHeldBytesPerValue == 72, "README, threat model and the metric help say 72");
constexpr uint64_t heldCost(uint64_t bytes, uint64_t values) {
  return bytes + values * kHeldBytesPerValue;
}
// A reply past this size marks its connection heavy (see PooledConn::heavy).
constexpr uint64_t kHeavyReplyBytes = uint64_t{1} << 20;
// Whole-collection reads (HGETALL, LRANGE, SMEMBERS, ...) cost Redis time as large as their
// replies, all of it before keyward reads a byte: a window of 32 HGETALL of a 200,000-field hash
// held Redis 3.8 s. A tenant has at most kReadsAtOnce of them at the server per pool. For
// kLargeReadsFor after one of its replies came back past kLargeReadBytes or kLargeReadValues
// (about 5 ms of Redis time here), it has one read at a time, of any kind (a window of 32 GETs
// of one 9 MiB value: 288 MB for Redis to copy, attack round 27).
constexpr uint32_t kReadsAtOnce = 4;
constexpr uint64_t kLargeReadBytes = uint64_t{1} << 20;
constexpr uint64_t kLargeReadValues = 16384;
constexpr auto kLargeReadsFor = std::chrono::seconds(10);

namespace {

// Commands whose replies or side effects would desynchronise a shared, pipelined connection.
bool unsafeOnPool(policy::Argv argv) {
  static constexpr std::string_view kUnsafe[] = {
      "subscribe",    "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe",
      "sunsubscribe", "monitor",    "sync",       "psync",       "replconf",
      "multi",        "exec",       "discard",    "watch",       "unwatch",
      "select",       "auth",       "hello",      "reset",       "quit"};
  for (const std::string_view name : kUnsafe) {
    if (ascii::equalsIgnoreCase(argv[0], name)) {
      return true;
    }
  }
  return argv.size() >= 2 && ascii::equalsIgnoreCase(argv[0], "client") &&
         ascii::equalsIgnoreCase(argv[1], "reply");
}

}  // namespace

// ---- the pool ------------------------------------------------------------------------------

struct RedisPool::Impl {
  struct PooledConn final : RedisConnection::Handler {
    Impl* owner = nullptr;
    std::shared_ptr<RedisConnection> conn;
    std::deque<std::shared_ptr<PendingRequest>> inflight;
    bool ready = false;
    // Commands written and not yet answered. Redis runs every command it has read from a
    // connection before it turns to the next one, so this bounds how long one connection's
    // commands can keep every other client of the server waiting: a request of more commands
    // than max_pipeline_depth is written a window at a time, topped up as replies come back,
    // and between windows Redis serves the other connections (attack round 15: one /pipeline of
    // 1,500 LREM written at once froze Redis for 5-7 s).
    uint32_t outstanding = 0;
    // A request not yet written whole: nothing is placed behind it, so the replies stay in
    // request order.
    PendingRequest* writing = nullptr;
    // `writing` waits for its tenant's room (Impl::tenantRoom), not for this connection's.
    bool held_back = false;
    ~PooledConn() override {
      if (conn) {
        conn->close();
      }
    }
    void onReady(RedisConnection& /*c*/) override { owner->onReady(this); }
    void onReply(RedisConnection& /*c*/, std::string_view raw,
                 std::span<const codec::RespNode> nodes) override {
      owner->onReply(this, raw, nodes, nullptr);
    }
    void onReplyOwned(RedisConnection& /*c*/, ReplyBuffer&& raw,
                      std::span<const codec::RespNode> nodes) override {
      owner->onReply(this, raw.view(), nodes, &raw);
    }
    bool admitReply(RedisConnection& /*c*/, uint64_t bytes, uint64_t values) override {
      return owner->admitReply(this, bytes, values);
    }
    void onReplySkipped(RedisConnection& /*c*/) override { owner->onReplySkipped(this); }
    uint64_t partial = 0;          // bytes of the reply arriving now (counted in Impl::held)
    std::string partial_tenant;    // whose they are
    std::string partial_identity;  // and which identity of that tenant (or empty)
    // A large reply is streaming in (held or skipped): nothing new is pipelined behind it,
    // where it would wait for every byte of it.
    bool heavy = false;
    // The reply arriving now is past kLargeReadBytes or kLargeReadValues, or was refused as
    // too large (see Impl::large_reads).
    bool large = false;
    // A request on it timed out: its client has had its answer, but Redis may still be running
    // it, so the connection takes nothing new until its replies are back (read and dropped), and
    // what it carries keeps its tenant's window and data-sized slot. Closed if Redis has not
    // caught up within kDrainTimeouts x upstream.timeout (drain_limit): a connection lost
    // without a word would otherwise keep its place in the pool.
    bool draining = false;
    std::optional<Timer> drain_limit;
    void onClosed(RedisConnection& /*c*/, const UpstreamError& e) override {
      owner->onConnClosed(this, e);  // destroys *this: nothing may follow
    }
  };

  event_base* base = nullptr;
  RedisPoolOptions options;
  RedisEndpoint endpoint;
  codec::RespLimits limits;      // pooled connections (limits enforced by skipping, see create())
  codec::RespLimits sub_limits;  // subscriptions: a message over a limit ends the subscription
  SslCtxPtr tls_ctx;
  std::vector<std::unique_ptr<PooledConn>> conns;
  FairQueue<std::shared_ptr<PendingRequest>> queue;       // timed-out entries stay until reached
  std::vector<std::shared_ptr<PendingRequest>> deferred;  // errors to deliver from the loop
  uint32_t queued_live = 0;
  std::chrono::steady_clock::time_point grow_after{};  // place() opens no connection before
  std::optional<Timer> redispatch;  // dispatch() from the loop once held reply bytes went back
  std::chrono::steady_clock::time_point silent_at{};  // a connection last closed for a timeout
  // Reply bytes held across all requests, connections and undelivered responses.
  std::shared_ptr<detail::HeldReplyBytes> held = std::make_shared<detail::HeldReplyBytes>();
  std::shared_ptr<uint32_t> live_subscriptions = std::make_shared<uint32_t>(0);
  // Each tenant's pub/sub connection and the channels on it (subscription_hub.h).
  std::unordered_map<std::string, std::shared_ptr<SubscriptionHub>> hubs;
  // Commands written and unanswered per tenant (only tenants with some), across connections.
  // While another tenant is active a tenant keeps at most max_pipeline_depth of them at the
  // server: Redis runs what every connection sent before it turns to the next command, so a
  // tenant's many concurrent slow commands (half the pool's connections, each with its window)
  // made another tenant's command wait for all of them (redis_time suite: 256 concurrent LREM
  // requests kept redis-server from answering another client for 184 ms, the probe tenant for
  // up to 478 ms). Alone, a tenant may use its half of the pool in full.
  std::unordered_map<std::string, uint32_t> outstanding;
  std::unordered_map<std::string, uint32_t> sized_out;   // data-sized commands at the server
  std::unordered_map<std::string, uint32_t> reads_out;   // whole-collection reads at the server
  std::unordered_map<std::string, uint32_t> values_out;  // other reads, while large_reads
  // Tenants one of whose replies came back large, until when they get one read at a time
  // (kLargeReadsFor after the last); one entry per configured client at most.
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> large_reads;
  // Who submitted lately, on every worker (options.activity, or this pool's own).
  std::shared_ptr<TenantActivity> activity;
  static constexpr int64_t kActiveForMs = 1000;
  uint32_t held_back_conns = 0;  // connections whose pipeline waits for its tenant's room

  void setHeldBack(PooledConn* pc, bool on) {
    if (pc->held_back == on) return;
    pc->held_back = on;
    if (on) {
      ++held_back_conns;
    } else {
      --held_back_conns;
    }
  }

  ~Impl() {
    for (auto& r : deferred) {
      r->owner = nullptr;
      r->deadline.reset();
    }
    for (auto& r : queue.drain()) {
      r->owner = nullptr;
      r->deadline.reset();
    }
    for (auto& c : conns) {
      for (auto& r : c->inflight) {
        r->owner = nullptr;
        r->deadline.reset();
      }
    }
  }

  RequestHandle submit(std::string wire, uint32_t expected, ReplyCallback cb,
                       std::optional<UpstreamError> error, std::string_view tenant = {},
                       std::string_view identity = {}, bool transaction = false, bool slots = false,
                       std::shared_ptr<const void> hold = {}, UnsentRefundPtr refund = {},
                       std::vector<size_t> ends = {}, detail::ReplyIndices sized = {},
                       detail::ReplyIndices reads = {}, detail::ReplyIndices values = {}) {
    auto req = std::make_shared<PendingRequest>();
    req->ends = std::move(ends);
    req->sized = std::move(sized);
    req->reads = std::move(reads);
    req->values = std::move(values);
    req->hold = std::move(hold);
    req->refund = std::move(refund);
    req->transaction = transaction;
    req->slots = slots;
    req->owner = this;
    req->tenant = tenant;
    if (!identity.empty()) {
      req->identity.reserve(tenant.size() + 1 + identity.size());
      req->identity.append(tenant).append(1, '\n').append(identity);
    }
    req->wire = std::move(wire);
    req->expected = expected;
    req->callback = std::move(cb);
    PendingRequest* raw = req.get();
    req->deadline.emplace(base, [raw] {
      if (raw->owner != nullptr) {
        raw->owner->onDeadline(raw);
      }
    });
    if (!error && queued_live >= options.max_queue) {
      error = UpstreamError{UpstreamErrorKind::Overloaded, "upstream request queue is full"};
    }
    if (!error && shareUsedUp(req->tenant)) {
      // Refused at once, nothing sent: waiting would only time out (its clients are not taking
      // the replies they have), and a flood of such waits would time out together.
      error = UpstreamError{UpstreamErrorKind::Share,
                            "ERR replies in flight of this client exceed its share, half of "
                            "upstream.max_reply_bytes_total; retry later"};
    }
    if (!error && identityShareUsedUp(req->identity)) {
      error = UpstreamError{UpstreamErrorKind::Share,
                            "ERR replies in flight of this identity exceed its share, a quarter "
                            "of upstream.max_reply_bytes_total; retry later"};
    }
    if (error) {
      req->stage = Stage::Done;
      req->deferred_error = std::move(error);
      req->deadline->arm(Milliseconds(0));
      deferred.push_back(req);  // kept alive until the timer delivers the error
      return RequestHandle(req, &kPendingOps);
    }
    noteActive(req->tenant);
    req->deadline->arm(options.timeout);
    queue.push(req->tenant, req->identity, req);
    ++queued_live;
    dispatch();
    return RequestHandle(req, &kPendingOps);
  }

  void finish(const std::shared_ptr<PendingRequest>& req, UpstreamResult&& result) {
    // Never written (a written request no longer holds it): given back before the client hears,
    // so the client's next request finds it.
    refundUnsent(req->refund);
    req->stage = Stage::Done;
    req->deadline.reset();
    req->conn = nullptr;
    ReplyCallback cb = std::move(req->callback);
    req->callback = nullptr;
    if (cb) {
      cb(std::move(result));
    }
    held->release(req->tenant, req->identity, req->held);  // what did not move into a response
    req->held = 0;
    req->bytes.reset();
    req->hold.reset();  // the request has left the upstream
  }

  void setPartial(PooledConn* pc, uint64_t bytes) {
    held->remove(pc->partial_tenant, pc->partial_identity, pc->partial);
    pc->partial = bytes;
    if (bytes != 0) {
      const std::string& tenant = pc->inflight.front()->tenant;
      if (pc->partial_tenant != tenant) pc->partial_tenant = tenant;  // called per read
      const std::string& identity = pc->inflight.front()->identity;
      if (pc->partial_identity != identity) pc->partial_identity = identity;
      held->add(pc->partial_tenant, pc->partial_identity, bytes);
    }
  }

  void onDeadline(PendingRequest* raw) {
    std::shared_ptr<PendingRequest> req = raw->shared_from_this();
    switch (req->stage) {
      case Stage::Done: {
        auto it = std::find(deferred.begin(), deferred.end(), req);
        if (it != deferred.end()) {
          deferred.erase(it);
        }
        if (req->deferred_error) {
          UpstreamError e = std::move(*req->deferred_error);
          req->deferred_error.reset();
          finish(req, std::move(e));
        }
        return;
      }
      case Stage::Queued: {
        --queued_live;  // dispatch() drops the Done entry from the queue
        // A connection that is ready, or whose TCP (and TLS) connect succeeded but whose
        // AUTH/SELECT got no answer, means the upstream is there but silent: a timeout (504).
        // So does a connection closed for silence within this request's wait (the one it
        // waited for, replaced by one still connecting).
        const bool any_ready =
            std::chrono::steady_clock::now() - silent_at < options.timeout ||
            std::any_of(conns.begin(), conns.end(), [](auto& c) {
              return c->ready ||
                     (c->conn && c->conn->state() == RedisConnection::State::Handshaking);
            });
        finish(req, any_ready ? UpstreamError{UpstreamErrorKind::Timeout,
                                              "no upstream connection became free in time"}
                              : UpstreamError{UpstreamErrorKind::Unreachable,
                                              "could not connect to the upstream in time"});
        return;
      }
      case Stage::InFlight: {
        // Written, so possibly running: its client hears "outcome unknown" now. Redis does not
        // stop a command whose connection closes, so closing it here (as keyward did) freed the
        // tenant's window and data-sized slot while Redis still ran the command, and the next
        // queued one went out at once: attack round 20 had 4,900 queued SINTERCARDs cost Redis
        // 223 runs (29 s) for 39 answers, and another tenant's GETs 504 for 20 s. The connection
        // drains instead: what it carries counts until Redis answers it.
        auto* pc = static_cast<PooledConn*>(req->conn);
        // Its client's in-flight share too stays taken until Redis answers (README: a request
        // counts until the upstream answered it); finish() would let it go.
        std::shared_ptr<const void> hold = std::move(req->hold);
        finish(req, UpstreamError{UpstreamErrorKind::Timeout,
                                  "upstream did not answer within the timeout", true});
        req->hold = std::move(hold);
        if (pc->writing == req.get()) {
          // A pipeline still being written a window at a time: nothing more of it goes (its
          // client has its answer), and it waits only for the replies of what was written.
          pc->writing = nullptr;
          setHeldBack(pc, false);
          req->expected = req->written;
          std::string().swap(req->wire);
          std::vector<size_t>().swap(req->ends);
          if (req->received == req->expected) {  // nothing of it left at the server
            req->hold.reset();
            pc->inflight.erase(std::find(pc->inflight.begin(), pc->inflight.end(), req));
            if (pc->inflight.empty()) {
              dispatch();
              return;
            }
          }
        }
        startDraining(pc);
        return;
      }
    }
  }

  static constexpr int kDrainTimeouts = 4;

  void startDraining(PooledConn* pc) {
    if (pc->draining) return;
    pc->draining = true;
    silent_at = std::chrono::steady_clock::now();
    pc->drain_limit.emplace(base, [this, pc] {
      closeConn(pc,
                {UpstreamErrorKind::Timeout,
                 "upstream did not catch up within the timeout after a request timed out", true});
    });
    pc->drain_limit->arm(kDrainTimeouts * options.timeout);
  }

  void openConnection() {
    auto pc = std::make_unique<PooledConn>();
    pc->owner = this;
    pc->conn =
        RedisConnection::create(base, endpoint, tls_ctx.get(), options.timeout, limits, pc.get());
    pc->conn->start();
    conns.push_back(std::move(pc));
  }

  // The tenant holds its half of max_reply_bytes_total, or its last reply was refused for it
  // (or the total) and nothing has gone back since.
  bool shareUsedUp(const std::string& tenant) const {
    const auto blocked = held->blocked.find(tenant);
    return (blocked != held->blocked.end() && blocked->second == 0) ||
           held->of(tenant) >= options.max_reply_bytes_total / 2;
  }

  // The identity (a JWT sub) holds half of its tenant's half.
  bool identityShareUsedUp(const std::string& identity) const {
    return !identity.empty() && held->ofIdentity(identity) >= options.max_reply_bytes_total / 4;
  }

  static int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  static uint64_t tenantHash(const std::string& tenant) {
    const uint64_t h = std::hash<std::string>{}(tenant);
    return h == 0 ? 1 : h;  // 0 marks an empty slot
  }

  void noteActive(const std::string& tenant) {
    if (!tenant.empty()) activity->note(options.worker, tenantHash(tenant), nowMs());
  }

  // Another tenant submitted within kActiveForMs, on any worker.
  bool othersActive(const std::string& tenant) const {
    return activity->othersSince(tenantHash(tenant), nowMs() - kActiveForMs);
  }

  // How many more commands `tenant` may have written and unanswered now.
  uint32_t tenantRoom(const std::string& tenant) const {
    if (tenant.empty() || !othersActive(tenant)) return UINT32_MAX;
    const auto it = outstanding.find(tenant);
    const uint32_t mine = it == outstanding.end() ? 0 : it->second;
    return options.max_pipeline_depth - std::min(options.max_pipeline_depth, mine);
  }

  void addOutstanding(const std::string& tenant, uint32_t n) {
    if (!tenant.empty() && n != 0) outstanding[tenant] += n;
  }

  void takeOutstanding(const std::string& tenant, uint32_t n) {
    auto it = outstanding.find(tenant);
    if (it == outstanding.end()) return;
    it->second -= std::min(n, it->second);
    if (it->second == 0) outstanding.erase(it);
  }

  // Pipelines of `tenant` held back for its room go on as its replies come back.
  void resumeWriters(const std::string& tenant) {
    for (auto& c : conns) {
      if (tenantRoom(tenant) == 0) return;
      if (c->held_back && c->writing->tenant == tenant) writeSome(c.get(), *c->writing);
    }
  }

  // Per-tenant counts (sized_out, reads_out) hold only tenants with some.
  static uint32_t countOf(const std::unordered_map<std::string, uint32_t>& m,
                          const std::string& tenant) {
    const auto it = m.find(tenant);
    return it == m.end() ? 0 : it->second;
  }
  static void addCount(std::unordered_map<std::string, uint32_t>& m, const std::string& tenant,
                       uint32_t n) {
    if (n != 0) m[tenant] += n;
  }
  static void takeCount(std::unordered_map<std::string, uint32_t>& m, const std::string& tenant,
                        uint32_t n) {
    if (n == 0) return;
    auto it = m.find(tenant);
    if (it == m.end()) return;
    it->second -= std::min(n, it->second);
    if (it->second == 0) m.erase(it);
  }
  // Data-sized commands (policy::kDataSized: LCS, SINTER, BITOP, LREM, ...) cost Redis time
  // that grows with the tenant's own data, not with the request or its reply: one LCS of two
  // 11,000-byte strings holds Redis about a second, and a window of 32 of them in one pipeline
  // (attack round 17: 8 held it 9.3 s) made every other tenant wait for all of them. A tenant
  // has at most one at the server per pool, alone or not; the rest of its pipeline waits behind
  // it, and its next request that starts with one waits in the queue.
  // Its replies came back large lately (see kReadsAtOnce).
  bool largeReads(const std::string& tenant) {
    auto it = large_reads.find(tenant);
    if (it == large_reads.end()) return false;
    if (std::chrono::steady_clock::now() < it->second) return true;
    large_reads.erase(it);
    return false;
  }
  // How many of the next `n` commands of `req` may be written now: up to (not including) a
  // data-sized command past the tenant's one at the server, or a read past its room: at most
  // kReadsAtOnce whole-collection reads, other reads free; with largeReads(), one read of any
  // kind. A single command or a transaction is one unit at its first write.
  uint32_t costlyFits(const PendingRequest& req, uint32_t n) {
    const uint32_t from = req.written;
    const uint32_t to = req.ends.empty() ? req.expected : from + n;
    const bool large = largeReads(req.tenant);
    if (req.sizedIn(from, to) == 0 && req.readsIn(from, to) == 0 &&
        (!large || req.valuesIn(from, to) == 0)) {
      return n;
    }
    uint32_t sized_room = countOf(sized_out, req.tenant) == 0 ? 1 : 0;
    const uint32_t limit = large ? 1 : kReadsAtOnce;
    const uint32_t out = countOf(reads_out, req.tenant) + countOf(values_out, req.tenant);
    uint32_t read_room = limit - std::min(limit, large ? out : countOf(reads_out, req.tenant));
    if (req.ends.empty()) {  // one unit: no walk over a transaction's commands
      const bool sized = !req.sized.empty();
      const bool read = !req.reads.empty() || (large && !req.values.empty());
      return (sized && sized_room == 0) || (read && read_room == 0) ? 0 : n;
    }
    for (uint32_t i = from; i < to; ++i) {  // at most a window of a pipeline
      const bool sized = req.sizedAt(i);
      const bool read = req.readAt(i) || (large && req.valueAt(i));
      if ((sized && sized_room == 0) || (read && read_room == 0)) return i - from;
      sized_room -= sized ? 1 : 0;
      read_room -= read ? 1 : 0;
    }
    return n;
  }

  std::vector<std::pair<bool, bool>> place_mix;  // place()'s per-connection scratch, reused

  // Where the next request of `tenant` goes (null: it waits). Replies come back in order, so a
  // request pipelined behind another tenant's waits for that tenant's reply, however large or
  // slow. So: a connection that is idle or carries only this tenant's requests first; behind
  // other tenants only when the pool cannot grow; and a tenant already on half the pool's
  // connections pipelines behind its own requests only, so it never holds more than half of
  // them. Alone too: a tenant that filled every connection while no one else was there made the
  // next tenant's request wait behind a full pipeline of its commands (attack round 13: 1.4 s,
  // and 504s with 115 ms commands). Redis runs one command at a time, so fewer connections cost
  // a lone tenant little; more of them pipelined behind its own requests.
  // `grow` is set when a new connection should be opened.
  PooledConn* place(const PendingRequest& req, bool& grow, bool& lane_only) {
    const std::string& tenant = req.tenant;
    // A tenant holding its half of max_reply_bytes_total (replies its clients have not taken
    // yet), or whose last reply was refused for it, sends nothing more until some goes.
    if (shareUsedUp(tenant)) return nullptr;
    if (tenantRoom(tenant) == 0) return nullptr;  // its commands at the server are enough
    if (costlyFits(req, 1) == 0) {  // its data-sized or whole-collection commands wait
      lane_only = true;
      return nullptr;
    }
    const size_t half = std::max<size_t>(1, options.connections / 2);
    uint32_t opening = 0;
    size_t tenant_conns = 0;
    // Whose requests each ready connection carries, read once: {any of this tenant's, only
    // this tenant's} (an idle connection is "only").
    std::vector<std::pair<bool, bool>>& mix = place_mix;
    mix.assign(conns.size(), {false, false});
    for (size_t i = 0; i < conns.size(); ++i) {
      const PooledConn& c = *conns[i];
      if (!c.ready) {
        ++opening;
        continue;
      }
      bool any = false;
      bool only = true;
      for (const auto& r : c.inflight) {
        if (r->tenant == tenant) {
          any = true;
        } else {
          only = false;
        }
      }
      mix[i] = {any, only};
      // A connection taking a large reply carries nothing more (heavy): it does not count, so
      // a tenant's next request does not wait behind that reply.
      if (any && !c.heavy) ++tenant_conns;
    }
    const bool confined = tenant_conns >= half;
    PooledConn* clean = nullptr;   // idle, or only this tenant's requests
    PooledConn* shared = nullptr;  // behind other tenants' requests too
    for (size_t i = 0; i < conns.size(); ++i) {
      PooledConn* c = conns[i].get();
      if (!c->ready || c->heavy || c->draining || c->writing != nullptr ||
          c->outstanding >= options.max_pipeline_depth) {
        continue;
      }
      if (confined && !mix[i].first) continue;
      PooledConn*& slot = mix[i].second ? clean : shared;
      if (slot == nullptr || c->inflight.size() < slot->inflight.size()) slot = c;
    }
    const bool can_grow = conns.size() < options.connections && !confined &&
                          std::chrono::steady_clock::now() >= grow_after;
    grow = (clean == nullptr || !clean->inflight.empty()) && can_grow && opening < queued_live;
    if (clean != nullptr) return clean;
    // A connection of its own is coming, or one is still opening: wait for it rather than
    // pipeline behind another tenant's requests, however slow they are (attack round 14: a
    // request written behind another client's backlog while the pool's last connection was
    // still opening timed out).
    if (can_grow || opening > 0) return nullptr;
    return shared;
  }

  void dispatch() {
    size_t passed = 0;  // tenants in a row whose next requests found no connection
    while (!queue.empty() && passed < queue.tenants()) {
      const std::shared_ptr<PendingRequest>& front = queue.front();
      if (front->stage != Stage::Queued) {
        queue.pop();  // cancelled or timed out while waiting
        continue;
      }
      bool grow = false;
      bool lane_only = false;
      PooledConn* best = place(*front, grow, lane_only);
      if (grow) openConnection();
      if (best == nullptr) {
        // The tenant's next identity may still go where this request may not (it waits for the
        // tenant's data-sized command); anything else holds the whole tenant back.
        if (lane_only ? queue.skip() : (queue.skipTenant(), true)) ++passed;
        continue;
      }
      passed = 0;
      if (auto b = held->blocked.find(front->tenant); b != held->blocked.end()) --b->second;
      std::shared_ptr<PendingRequest> req = queue.pop();
      --queued_live;
      req->stage = Stage::InFlight;
      req->conn = best;
      req->refund.reset();  // written (some of it at least): it may run, so its charge stays
      PendingRequest& placed = *req;
      best->inflight.push_back(std::move(req));
      writeSome(best, placed);
    }
  }

  // Writes what of `req` the connection's window takes: a single command or a transaction
  // whole, a pipeline's commands up to max_pipeline_depth unanswered on the connection.
  void writeSome(PooledConn* pc, PendingRequest& req) {
    uint32_t n = req.expected - req.written;
    size_t from = 0;
    size_t to = req.wire.size();
    if (!req.ends.empty()) {
      const uint32_t room = std::min(
          options.max_pipeline_depth - std::min(options.max_pipeline_depth, pc->outstanding),
          tenantRoom(req.tenant));
      n = costlyFits(req, std::min(n, room));
      setHeldBack(pc, n == 0);
      if (n == 0) {  // resumeWriters goes on when the tenant's replies come back
        pc->writing = &req;
        return;
      }
      from = req.written == 0 ? 0 : req.ends[req.written - 1];
      to = req.ends[req.written + n - 1];
    }
    pc->conn->write(std::string_view(req.wire).substr(from, to - from));
    pc->outstanding += n;
    addOutstanding(req.tenant, n);
    addCount(sized_out, req.tenant, req.sizedIn(req.written, req.written + n));
    addCount(reads_out, req.tenant, req.readsIn(req.written, req.written + n));
    if (largeReads(req.tenant)) {
      const uint32_t v = req.valuesIn(req.written, req.written + n);
      addCount(values_out, req.tenant, v);
      req.values_out += v;
    }
    req.written += n;
    if (req.written == req.expected) {
      setHeldBack(pc, false);
      pc->writing = nullptr;
      std::string().swap(req.wire);
      std::vector<size_t>().swap(req.ends);
    } else {
      pc->writing = &req;
    }
  }

  void onReady(PooledConn* pc) {
    pc->ready = true;
    dispatch();
  }

  // Decides whether the reply arriving for the request at the head of pc's queue may be held.
  bool admitReply(PooledConn* pc, uint64_t bytes, uint64_t values) {
    if (pc->inflight.empty()) {
      return true;  // onReply closes the connection: a reply nobody asked for
    }
    PendingRequest& req = *pc->inflight.front();
    pc->heavy = pc->heavy || bytes > kHeavyReplyBytes;
    pc->large = pc->large || bytes > kLargeReadBytes || values > kLargeReadValues;
    if (!req.callback || req.reply_error || req.slot_error != nullptr) {
      setPartial(pc, 0);  // cancelled, or already over a limit: read and drop
      pc->heavy = true;   // a skip lasts as long as the upstream sends
      return false;
    }
    const char* over = nullptr;
    bool identity_over = false;
    if (values > options.max_reply_elements) {
      over =
          "ERR reply exceeds upstream.max_reply_elements (the command ran; its reply was dropped)";
    } else if (req.raw_held + bytes > options.max_reply_bytes) {
      over = "ERR reply exceeds upstream.max_reply_bytes (the command ran; its reply was dropped)";
    } else if (req.held + heldCost(bytes, values) > kSmallRequestBytes) {
      const uint64_t cost = heldCost(bytes, values);
      const uint64_t others = held->total - pc->partial;
      const uint64_t mine =
          held->of(req.tenant) - (pc->partial_tenant == req.tenant ? pc->partial : 0);
      if (others + cost > options.max_reply_bytes_total) {
        over =
            "ERR replies in flight exceed upstream.max_reply_bytes_total (the command ran; its "
            "reply was dropped)";
      } else if (mine + cost > options.max_reply_bytes_total / 2) {
        over =
            "ERR replies in flight of this client exceed its share, half of "
            "upstream.max_reply_bytes_total (the command ran; its reply was dropped)";
      } else if (!req.identity.empty() &&
                 held->ofIdentity(req.identity) -
                         (pc->partial_identity == req.identity ? pc->partial : 0) + cost >
                     options.max_reply_bytes_total / 4) {
        over =
            "ERR replies in flight of this identity exceed its share, a quarter of "
            "upstream.max_reply_bytes_total (the command ran; its reply was dropped)";
        identity_over = true;
      }
      // Over the client's share or the total: the client waits for bytes to go back. Over its
      // identity's share: only that identity (identityShareUsedUp), never the client's others.
      if (over != nullptr && !identity_over) held->blocked[req.tenant] = 0;
    }
    if (over != nullptr) {
      setPartial(pc, 0);
      pc->heavy = true;
      pc->large = true;
      if (req.slots) {
        req.slot_error = over;  // the slots before and after it keep their replies
        return false;
      }
      req.reply_error = UpstreamError{UpstreamErrorKind::TooLarge, over, true};
      req.bytes.reset();  // what the request held so far goes too
      req.spans.clear();
      codec::ReplyNodes().swap(req.nodes);
      held->release(req.tenant, req.identity, req.held);
      req.held = 0;
      req.raw_held = 0;
      return false;
    }
    setPartial(pc, heldCost(bytes, values));
    return true;
  }

  void onReplySkipped(PooledConn* pc) {
    setPartial(pc, 0);
    pc->heavy = false;
    if (pc->inflight.empty()) {
      closeConn(pc, {UpstreamErrorKind::Protocol, "upstream sent a reply nobody asked for"});
      return;
    }
    PendingRequest& req = *pc->inflight.front();
    if (req.slot_error != nullptr && req.callback) {
      // The slot's reply becomes an error reply of keyward's, in the request's own bytes.
      std::string synth = "-";
      synth += req.slot_error;
      synth += "\r\n";
      const codec::RespNode error{1, static_cast<uint64_t>(codec::RespType::Error),
                                  static_cast<int64_t>(synth.size() - 3)};
      storeReply(req, synth, {&error, 1});
    }
    req.slot_error = nullptr;
    completeOne(pc, pc->inflight.front());
  }

  // `owned` (optional) holds exactly `raw`: when nothing is stored yet it becomes the request's
  // buffer instead of being copied.
  void storeReply(PendingRequest& req, std::string_view raw, std::span<const codec::RespNode> nodes,
                  ReplyBuffer* owned = nullptr) {
    held->blocked.erase(req.tenant);  // a reply fits again
    if (!req.bytes && owned != nullptr) {
      req.bytes = std::make_unique<ReplyBuffer>(std::move(*owned));
      req.spans.push_back({0, req.bytes->size(), req.nodes.size(), nodes.size()});
      req.nodes.insert(req.nodes.end(), nodes.begin(), nodes.end());
      hold(req, req.bytes->size(), nodes.size());
      return;
    }
    if (!req.bytes) {
      req.bytes = std::make_unique<ReplyBuffer>();
    }
    req.spans.push_back({req.bytes->size(), raw.size(), req.nodes.size(), nodes.size()});
    req.nodes.insert(req.nodes.end(), nodes.begin(), nodes.end());
    if (!req.bytes->append(raw)) {  // no memory for it: the request fails, never half-answered
      req.reply_error = UpstreamError{
          UpstreamErrorKind::TooLarge,
          "ERR no memory for the reply (the command ran; its reply was dropped)", true};
      held->release(req.tenant, req.identity, req.held);
      req.held = 0;
      req.raw_held = 0;
      req.bytes.reset();
      req.spans.clear();
      codec::ReplyNodes().swap(req.nodes);
      return;
    }
    hold(req, raw.size(), nodes.size());
  }

  void hold(PendingRequest& req, uint64_t bytes, uint64_t values) {
    const uint64_t cost = heldCost(bytes, values);
    req.raw_held += bytes;
    req.held += cost;
    held->add(req.tenant, req.identity, cost);
  }

  void onReply(PooledConn* pc, std::string_view raw, std::span<const codec::RespNode> nodes,
               ReplyBuffer* owned) {
    setPartial(pc, 0);
    pc->heavy = false;
    if (pc->inflight.empty()) {
      closeConn(pc, {UpstreamErrorKind::Protocol, "upstream sent a reply nobody asked for"});
      return;
    }
    std::shared_ptr<PendingRequest> req = pc->inflight.front();
    if (req->transaction && req->received + 1 == req->expected && !execCountMatches(*req, nodes)) {
      closeConn(pc, {UpstreamErrorKind::Protocol,
                     "upstream EXEC reply does not match the commands sent", true});
      return;
    }
    if (req->callback && !req->reply_error) {  // a cancelled request's replies are dropped
      storeReply(*req, raw, nodes, owned);
    }
    completeOne(pc, req);
  }

  // EXEC answers with an array of one reply per queued command, or with a non-array (an
  // error, or nil): any other count means the connection's replies are out of step.
  static bool execCountMatches(const PendingRequest& req, std::span<const codec::RespNode> nodes) {
    if (nodes.empty() || nodes.front().type() != codec::RespType::Array) {
      return !nodes.empty();
    }
    return static_cast<uint64_t>(nodes.front().n) + 2 == req.expected;
  }

  void completeOne(PooledConn* pc, std::shared_ptr<PendingRequest> req) {
    if (pc->outstanding != 0) --pc->outstanding;
    takeOutstanding(req->tenant, 1);
    if (req->sizedAt(req->received)) takeCount(sized_out, req->tenant, 1);
    if (req->readAt(req->received)) takeCount(reads_out, req->tenant, 1);
    if (req->values_out != 0 && req->valueAt(req->received)) {
      takeCount(values_out, req->tenant, 1);
      --req->values_out;
    }
    if (pc->large && !req->tenant.empty()) {
      large_reads[req->tenant] = std::chrono::steady_clock::now() + kLargeReadsFor;
    }
    pc->large = false;
    if (pc->writing != nullptr && pc->outstanding < options.max_pipeline_depth) {
      writeSome(pc, *pc->writing);  // the next of its window
    }
    if (held_back_conns != 0) resumeWriters(req->tenant);
    if (++req->received < req->expected) {
      if (!queue.empty()) dispatch();  // the connection may have stopped being heavy
      return;
    }
    pc->inflight.pop_front();
    if (pc->draining && pc->inflight.empty()) {  // Redis caught up: the connection serves again
      pc->draining = false;
      pc->drain_limit.reset();
    }
    if (!req->callback) {
      finish(req, UpstreamError{});
    } else if (req->reply_error) {
      UpstreamError e = std::move(*req->reply_error);
      req->reply_error.reset();
      finish(req, std::move(e));
    } else {
      UpstreamResponse response;
      detail::ResponseBuilder::build(*req, held, response);
      finish(req, std::move(response));
    }
    dispatch();
  }

  // Closes a connection and fails what it carried (the caller's UpstreamError kind).
  void closeConn(PooledConn* pc, const UpstreamError& error) { onConnClosed(pc, error); }

  // Every request written on the connection may have run: each is answered "outcome unknown"
  // (maybe_executed), never "not executed". Requests still queued were never written.
  void onConnClosed(PooledConn* pc, const UpstreamError& error) {
    const bool was_ready = pc->ready;
    if (error.kind == UpstreamErrorKind::Timeout) silent_at = std::chrono::steady_clock::now();
    setPartial(pc, 0);
    std::deque<std::shared_ptr<PendingRequest>> failed = std::move(pc->inflight);
    for (const auto& r : failed) {
      takeOutstanding(r->tenant, r->written - r->received);
      takeCount(sized_out, r->tenant, r->sizedIn(r->received, r->written));
      takeCount(reads_out, r->tenant, r->readsIn(r->received, r->written));
      takeCount(values_out, r->tenant, r->values_out);
    }
    setHeldBack(pc, false);
    auto it = std::find_if(conns.begin(), conns.end(), [pc](auto& c) { return c.get() == pc; });
    std::unique_ptr<PooledConn> dying;
    if (it != conns.end()) {
      dying = std::move(*it);
      conns.erase(it);
    }
    dying.reset();  // closes the socket; its RedisConnection lives until its callback returns
    for (auto& r : failed) {
      UpstreamError e = error;
      e.maybe_executed = true;
      finish(r, std::move(e));
    }
    const bool any_ready =
        std::any_of(conns.begin(), conns.end(), [](auto& c) { return c->ready; });
    if (!was_ready && any_ready) {
      // A new connection failed while others work (the server's maxclients, a flaky path): use
      // the ones there are for a while rather than keep requests waiting for another.
      grow_after = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    if (!was_ready && !any_ready) {
      // The upstream cannot be reached now: fail the waiting requests fast (never written).
      std::deque<std::shared_ptr<PendingRequest>> waiting = queue.drain();
      for (auto& r : waiting) {
        if (r->stage == Stage::Queued) {
          --queued_live;
          finish(r, UpstreamError(error));
        }
      }
    }
    dispatch();
  }
};

namespace {

// What cancelling a pooled request means (RequestHandle::Ops).
void cancelPending(void* p) {
  auto* req = static_cast<PendingRequest*>(p);
  req->callback = nullptr;  // releases the captures now
  if (req->stage == Stage::Queued) {
    req->stage = Stage::Done;  // never written
    req->hold.reset();
    refundUnsent(req->refund);
    req->deadline.reset();
    std::string().swap(req->wire);
    std::vector<size_t>().swap(req->ends);
    if (req->owner != nullptr) {
      --req->owner->queued_live;
      // Out of the queue now: left for dispatch to reach, a client sending and cancelling
      // behind its own waiting request grew the queue without bound, at no quota cost since
      // such requests are refunded.
      (void)req->owner->queue.erase(req->tenant, req->identity, req->shared_from_this());
    }
  } else if (req->stage == Stage::Done) {
    req->deferred_error.reset();
    req->hold.reset();
    refundUnsent(req->refund);  // refused at submit, never written
  }
  // InFlight: keep the slot, its deadline and `hold` (the client's share: the commands still
  // run) so the replies are read and dropped in order. A pipeline being written a window at a
  // time is written to its end, as it would have been whole.
}

bool pendingCallback(const void* p) {
  return static_cast<const PendingRequest*>(p)->callback != nullptr;
}

}  // namespace

const RequestHandle::Ops kPendingOps{cancelPending, pendingCallback};

RedisEndpoint redisEndpoint(const conf::UpstreamConfig& u) {
  RedisEndpoint ep;
  ep.host = u.host;
  ep.port = u.port;
  ep.tls = u.kind == conf::UpstreamKind::Rediss;
  ep.user = u.username;
  ep.password = u.token;
  ep.db = u.db;
  return ep;
}

// ---- RedisPool -------------------------------------------------------------------------

RedisPool::RedisPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RedisPool::~RedisPool() = default;

Result<std::unique_ptr<RedisPool>> RedisPool::create(event_base* base, RedisPoolOptions options) {
  if (options.endpoint.host.empty() || options.endpoint.port == 0) {
    return makeError(ErrorCode::Config, "upstream: no host and port to connect to");
  }
  auto impl = std::make_unique<Impl>();
  impl->base = base;
  Impl* raw = impl.get();
  impl->redispatch.emplace(base, [raw] { raw->dispatch(); });
  impl->held->on_release = [raw] {
    if (raw->queued_live != 0 && !raw->redispatch->armed()) raw->redispatch->arm(Milliseconds(0));
  };
  options.connections = std::clamp<uint32_t>(options.connections, 1, 1024);
  options.max_pipeline_depth = std::max<uint32_t>(options.max_pipeline_depth, 1);
  if (options.timeout.count() <= 0) {
    options.timeout = Milliseconds(5000);
  }
  options.max_reply_bytes = std::max<uint64_t>(options.max_reply_bytes, 1024);
  options.max_reply_bytes_total =
      std::max<uint64_t>(options.max_reply_bytes_total, options.max_reply_bytes);
  options.max_reply_elements = std::max<uint64_t>(options.max_reply_elements, 1);
  // The parser's own bounds only catch a broken stream (Invalid closes the connection); the
  // per-request limits above skip a reply instead. Sizes and counts are unbounded there (a
  // skipped reply costs no memory), nesting by its stack of open arrays.
  impl->limits.max_reply_bytes = uint64_t{1} << 62;
  impl->limits.max_values = uint64_t{1} << 62;
  impl->limits.max_depth = 1024;
  impl->sub_limits.max_reply_bytes = options.max_reply_bytes;
  impl->sub_limits.max_bulk_bytes =
      std::min(impl->sub_limits.max_bulk_bytes, options.max_reply_bytes);
  impl->sub_limits.max_values = options.max_reply_elements;
  if (options.endpoint.tls) {
    auto ctx = makeClientTlsContext(options.ca_file);
    if (!ctx) {
      return ctx.error();
    }
    impl->tls_ctx = std::move(*ctx);
  }
  impl->endpoint = options.endpoint;  // copied: the options' password is wiped, not moved out
  OPENSSL_cleanse(options.endpoint.password.data(), options.endpoint.password.size());
  options.endpoint = {};
  impl->activity = options.activity ? options.activity : std::make_shared<TenantActivity>(1);
  if (!options.activity) options.worker = 0;
  impl->options = std::move(options);
  return std::unique_ptr<RedisPool>(new RedisPool(std::move(impl)));
}

RequestHandle RedisPool::execute(std::span<const policy::Argv> commands, ReplyCallback callback,
                                 std::string_view tenant, std::string_view identity,
                                 std::shared_ptr<const void> hold, UnsentRefundPtr refund) {
  return send(commands, std::move(callback), tenant, identity, commands.size() > 1, std::move(hold),
              std::move(refund));
}

RequestHandle RedisPool::executePipeline(std::span<const policy::Argv> commands,
                                         ReplyCallback callback, std::string_view tenant,
                                         std::string_view identity,
                                         std::shared_ptr<const void> hold, UnsentRefundPtr refund) {
  return send(commands, std::move(callback), tenant, identity, true, std::move(hold),
              std::move(refund));
}

RequestHandle RedisPool::send(std::span<const policy::Argv> commands, ReplyCallback callback,
                              std::string_view tenant, std::string_view identity, bool slots,
                              std::shared_ptr<const void> hold, UnsentRefundPtr refund) {
  std::string wire;
  std::vector<size_t> ends;
  detail::ReplyIndices sized;
  detail::ReplyIndices reads;
  detail::ReplyIndices values;
  uint32_t index = 0;
  std::optional<UpstreamError> error;
  for (const policy::Argv argv : commands) {
    if (argv.empty() || unsafeOnPool(argv)) {
      error = UpstreamError{UpstreamErrorKind::Rejected,
                            argv.empty() ? std::string("empty command")
                                         : "command not allowed on a pooled connection: " +
                                               std::string(argv[0].substr(0, 64))};
      break;
    }
    const policy::PoolCost cost = policy::poolCost(argv);
    if (cost.data_sized) sized.add(index);
    if (cost.collection_read) reads.add(index);
    if (cost.value_read) values.add(index);
    ++index;
    codec::appendCommand(wire, argv);
    if (commands.size() > 1) ends.push_back(wire.size());
  }
  if (commands.empty()) {
    error = UpstreamError{UpstreamErrorKind::Rejected, "no command"};
  }
  return impl_->submit(std::move(wire), static_cast<uint32_t>(commands.size()), std::move(callback),
                       std::move(error), tenant, identity, false, slots, std::move(hold),
                       std::move(refund), std::move(ends), std::move(sized), std::move(reads),
                       std::move(values));
}

RequestHandle RedisPool::executeTransaction(std::span<const policy::Argv> commands,
                                            ReplyCallback callback, std::string_view tenant,
                                            std::string_view identity,
                                            std::shared_ptr<const void> hold,
                                            UnsentRefundPtr refund) {
  std::string wire = "*1\r\n$5\r\nMULTI\r\n";
  std::optional<UpstreamError> error;
  bool any_sized = false;
  bool any_read = false;
  bool any_value = false;
  for (const policy::Argv argv : commands) {
    if (argv.empty() || unsafeOnPool(argv)) {
      error = UpstreamError{UpstreamErrorKind::Rejected,
                            argv.empty() ? std::string("empty command")
                                         : "command not allowed in a transaction: " +
                                               std::string(argv[0].substr(0, 64))};
      break;
    }
    const policy::PoolCost cost = policy::poolCost(argv);
    any_sized = any_sized || cost.data_sized;
    any_read = any_read || cost.collection_read;
    any_value = any_value || cost.value_read;
    codec::appendCommand(wire, argv);
  }
  wire += "*1\r\n$4\r\nEXEC\r\n";
  const auto expected = static_cast<uint32_t>(commands.size() + 2);
  detail::ReplyIndices sized;  // all of them run at EXEC
  if (any_sized) sized.add(expected - 1);
  detail::ReplyIndices reads;
  if (any_read) reads.add(expected - 1);
  detail::ReplyIndices values;
  if (any_value) values.add(expected - 1);
  return impl_->submit(std::move(wire), expected, std::move(callback), std::move(error), tenant,
                       identity, true, /*slots=*/false, std::move(hold), std::move(refund), {},
                       std::move(sized), std::move(reads), std::move(values));
}

RequestHandle RedisPool::ping(ReplyCallback callback) {
  return impl_->submit("*1\r\n$4\r\nPING\r\n", 1, std::move(callback), std::nullopt);
}

StreamSourcePtr RedisPool::subscribe(bool pattern, std::string_view channel,
                                     SubscriptionEventCallback on_event,
                                     SubscriptionCloseCallback on_close, std::string_view tenant) {
  if (*impl_->live_subscriptions >= impl_->options.max_subscriptions) {
    return SubscriptionHub::refuse(
        impl_->base, impl_->live_subscriptions, std::move(on_close),
        UpstreamError{UpstreamErrorKind::Overloaded, "too many upstream subscriptions"});
  }
  std::shared_ptr<SubscriptionHub>& hub = impl_->hubs[std::string(tenant)];
  if (!hub) {
    HubSetup setup{impl_->base,       impl_->endpoint,        impl_->tls_ctx.get(),
                   impl_->sub_limits, impl_->options.timeout, impl_->live_subscriptions};
    Impl* raw = impl_.get();
    auto made = std::make_shared<SubscriptionHub>(std::move(setup));
    // Forgotten when it has no stream left or failed (a new stream then starts another).
    made->setOnEmpty([raw, key = std::string(tenant), which = made.get()] {
      auto it = raw->hubs.find(key);
      if (it != raw->hubs.end() && it->second.get() == which) raw->hubs.erase(it);
    });
    hub = std::move(made);
  }
  return hub->join(pattern, channel, std::move(on_event), std::move(on_close));
}

event_base* RedisPool::base() const { return impl_->base; }

uint64_t RedisPool::maxEncodedBytes() const { return 2 * impl_->options.max_reply_bytes; }

UpstreamStats RedisPool::stats() const {
  UpstreamStats s;
  s.reply_bytes = impl_->held->total;
  s.connections = static_cast<uint32_t>(impl_->conns.size());
  for (auto& c : impl_->conns) {
    s.in_flight += static_cast<uint32_t>(c->inflight.size());
    s.streaming += c->heavy ? 1 : 0;
  }
  s.queued = impl_->queued_live;
  s.subscriptions = *impl_->live_subscriptions;
  return s;
}

std::string RedisPool::describe() const {
  const RedisEndpoint& ep = impl_->endpoint;
  return std::string(ep.tls ? "rediss://" : "redis://") + ascii::hostPort(ep.host, ep.port) + "/" +
         std::to_string(ep.db);
}

}  // namespace kw::proxy
