// RedisPool: pooled, pipelined Redis-protocol client (redis:// or rediss://) on one event loop.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "conf/config.h"
#include "policy/key_extract.h"
#include "policy/result.h"
#include "proxy/codec/resp_parser.h"
#include "proxy/io/event_loop.h"
#include "proxy/io/node_recycler.h"
#include "proxy/io/reply_buffer.h"
#include "proxy/upstream/redis/redis_connection.h"

namespace kw::proxy {

namespace detail {
struct PendingRequest;
struct ResponseBuilder;

// Replies held for requests, in total and per tenant (max_reply_bytes_total and each tenant's
// half of it): their bytes plus what their parsed values take (kHeldBytesPerValue each), from
// their first byte read until the response holding them is gone: encoded and sent, or dropped
// when its client left. A reply being sliced out to a slow reader keeps counting.
struct HeldReplyBytes {
  uint64_t total = 0;
  std::unordered_map<std::string, uint64_t> by_tenant;  // only tenants holding some
  // Per identity of a tenant (a JWT sub; key: tenant, '\n', sub), only those holding some: one
  // identity holds at most half of its tenant's half, so one browser user of a client cannot
  // take the share every other user of that client needs.
  std::unordered_map<std::string, uint64_t> by_identity;
  // Tenants whose last reply was refused for the total or their share, with the requests each
  // may still send: none until some bytes go back, then one (else they would keep the upstream
  // and the loop busy with replies dropped as fast as they can ask). A reply held again ends it.
  std::unordered_map<std::string, uint32_t> blocked;
  std::function<void()> on_release;  // bytes went back: blocked requests may go
  // An entry is added and erased for nearly every reply: the nodes are reused.
  NodeRecycler<std::unordered_map<std::string, uint64_t>> tenant_nodes, identity_nodes;
  // `identity`: the by_identity key, or empty (a client without identities: a static key).
  void add(const std::string& tenant, const std::string& identity, uint64_t n);
  // Accounting only (partial replies).
  void remove(const std::string& tenant, const std::string& identity, uint64_t n);
  // Gone for good: each blocked tenant may try one request.
  void release(const std::string& tenant, const std::string& identity, uint64_t n);
  [[nodiscard]] uint64_t of(const std::string& tenant) const;
  [[nodiscard]] uint64_t ofIdentity(const std::string& identity) const;
};

// A response's bytes in HeldReplyBytes, given back when the response is destroyed (the pool
// may be gone by then).
class HeldReplyShare {
 public:
  HeldReplyShare(std::weak_ptr<HeldReplyBytes> account, std::string tenant, std::string identity,
                 uint64_t bytes)
      : account_(std::move(account)),
        tenant_(std::move(tenant)),
        identity_(std::move(identity)),
        bytes_(bytes) {}
  ~HeldReplyShare();
  HeldReplyShare(const HeldReplyShare&) = delete;
  HeldReplyShare& operator=(const HeldReplyShare&) = delete;

 private:
  std::weak_ptr<HeldReplyBytes> account_;
  std::string tenant_;
  std::string identity_;
  uint64_t bytes_;
};
}  // namespace detail

// One reply: the parsed tree (views into `raw`) and its exact RESP bytes.
struct UpstreamReply {
  codec::RespValue value;
  std::string_view raw;
  // A pub/sub message's SSE event, encoded once for every stream of a client that gets it
  // (SubscriptionHub); null elsewhere.
  std::shared_ptr<const std::string> sse;
};

// The replies to one execute()/executeTransaction()/ping(), in command order. Owns the bytes
// that every value's views and every raw() point into; they stay valid while this object lives,
// moves included.
//   execute(): one reply per command (a Redis error is a reply, not a failure).
//   executeTransaction(): MULTI's reply, one reply per queued command (+QUEUED, or the error
//   that makes EXEC abort), then EXEC's reply = value(size() - 1): an array of the N results, or an
//   error (EXECABORT ...).
class UpstreamResponse {
 public:
  UpstreamResponse() = default;
  [[nodiscard]] size_t size() const { return values_.size(); }
  [[nodiscard]] std::span<const codec::RespValue> values() const { return values_; }
  [[nodiscard]] const codec::RespValue& value(size_t i) const { return values_[i]; }
  [[nodiscard]] std::string_view raw(size_t i) const { return raws_[i]; }
  // The raw size of every reply together (what the encoded body is bounded by).
  [[nodiscard]] uint64_t rawSize() const { return bytes_ ? bytes_->view().size() : 0; }
  [[nodiscard]] std::string_view execRaw() const { return raws_.back(); }
  // Reply i becomes the error `message` (static text: it is viewed, not copied), raw() included:
  // a pipeline slot whose reply keyward will not send is answered inline instead.
  void replaceWithError(size_t i, std::string_view message, std::string_view raw_message) {
    values_[i] = codec::RespValue::error(message);
    raws_[i] = raw_message;
  }
  // Value encryption (value_crypt.h) rewrites replies in place: their new bytes live in text(),
  // and setRaw gives reply i the raw form of its new value.
  [[nodiscard]] std::span<codec::RespValue> mutableValues() { return values_; }
  [[nodiscard]] std::list<std::string>& text() { return text_; }
  void setRaw(size_t i, std::string raw) { raws_[i] = text_.emplace_back(std::move(raw)); }

 private:
  friend struct detail::ResponseBuilder;
  std::unique_ptr<ReplyBuffer> bytes_;  // its data stays put: views survive moves
  std::vector<codec::RespValue> values_;
  std::vector<std::string_view> raws_;
  // Rewritten values. A list: its elements never move, and it allocates nothing while empty (a
  // deque allocates on construction and on every move, several times per request).
  std::list<std::string> text_;
  std::unique_ptr<detail::HeldReplyShare> held_;  // bytes_ counted until this is destroyed
};

// Either the response or the failure. has_value()/value()/error() like kw::Result.
class UpstreamResult {
 public:
  UpstreamResult(UpstreamResponse r) : v_(std::move(r)) {}  // NOLINT(google-explicit-constructor)
  UpstreamResult(UpstreamError e) : v_(std::move(e)) {}     // NOLINT(google-explicit-constructor)
  [[nodiscard]] bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  [[nodiscard]] UpstreamResponse& value() { return std::get<0>(v_); }
  [[nodiscard]] const UpstreamResponse& value() const { return std::get<0>(v_); }
  [[nodiscard]] const UpstreamError& error() const { return std::get<1>(v_); }

 private:
  std::variant<UpstreamResponse, UpstreamError> v_;
};

using ReplyCallback = std::function<void(UpstreamResult&&)>;

class RedisConnection;
class TenantActivity;

// Each push reply: the subscribe confirmation, then every message/pmessage array.
using SubscriptionEventCallback = std::function<void(const UpstreamReply&)>;
// The subscription ended by itself (connect/AUTH failure, upstream closed, protocol error).
using SubscriptionCloseCallback = std::function<void(const UpstreamError&)>;

struct RedisPoolOptions {
  RedisEndpoint endpoint;      // where, and keyward's credential (never logged)
  std::string ca_file;         // rediss:// trust anchors; empty = system CA store
  Milliseconds timeout{5000};  // per request (queue wait included), and per connect
  uint32_t connections = 8;    // pooled command connections (subscriptions not included)
  // Commands written and unanswered on one connection. A pipeline of more is written a window
  // at a time, so another tenant's commands wait for at most this many of it at the server.
  uint32_t max_pipeline_depth = 32;
  uint32_t max_queue = 10000;         // requests waiting for a connection; then Overloaded
  uint32_t max_subscriptions = 1024;  // subscription streams (on one connection per tenant)
  // Reply bounds (upstream.max_reply_*). Over one, that request fails alone with TooLarge
  // (502): the rest of its reply is framed and dropped, never held, so the connection and the
  // other requests pipelined on it are unaffected.
  uint64_t max_reply_bytes = uint64_t{64} << 20;         // raw RESP of one request's replies
  uint64_t max_reply_bytes_total = uint64_t{256} << 20;  // raw RESP held for all requests
  uint64_t max_reply_elements = uint64_t{1} << 20;       // values in one reply, all levels
  // Who sent requests lately on every worker of the process, and this pool's worker: while
  // another tenant is active a tenant keeps at most max_pipeline_depth commands unanswered in
  // the pool. Null: this pool alone.
  std::shared_ptr<TenantActivity> activity;
  uint32_t worker = 0;
};

// A redis:// or rediss:// URL as conf parsed it (conf::parseUpstreamUrl, the one URL parser):
// its token is the AUTH password (token_env / token_file, else the URL's).
[[nodiscard]] RedisEndpoint redisEndpoint(const conf::UpstreamConfig& u);

// Connects lazily (up to `connections`), sends AUTH (when a password is set) and SELECT (when the
// URL names a db other than 0) before any request. Nothing is ever retried once it may have
// been written. Callbacks always run from the event loop, never inside execute()/subscribe(),
// and must not destroy the RedisPool; destroying it drops pending callbacks unrun.
class RedisPool {
 public:
  static Result<std::unique_ptr<RedisPool>> create(event_base* base, RedisPoolOptions options);
  ~RedisPool();
  RedisPool(const RedisPool&) = delete;
  RedisPool& operator=(const RedisPool&) = delete;

  // Sends the commands as one RESP pipeline on one connection; the callback gets one reply per
  // command (Redis errors are replies, not failures). The argv bytes are copied before return.
  // `tenant` names whose request it is: waiting requests of different tenants are served in
  // turn when a connection frees (FIFO within a tenant).
  // `identity` (a JWT sub, or empty) names who within the tenant: see HeldReplyBytes.
  // `hold` (the client's in-flight share ticket) is kept until the request leaves the upstream:
  // its reply read (even after a cancel), its connection closed, or, never written, dropped. A
  // client that disconnects does not get its share back while its commands still run.
  // `refund` (the request's quota charge) is given back when the request leaves without being
  // written (UnsentRefund); once written it is kept.
  // A reply over upstream.max_reply_* fails a single command whole (UpstreamErrorKind::TooLarge);
  // several commands are a pipeline (below).
  RequestHandle execute(std::span<const policy::Argv> commands, ReplyCallback callback,
                        std::string_view tenant = {}, std::string_view identity = {},
                        std::shared_ptr<const void> hold = {}, UnsentRefundPtr refund = {});
  // A client's /pipeline: a reply over a limit becomes that slot's error reply ("the command
  // ran; its reply was dropped") and the others keep theirs, however many commands it has.
  RequestHandle executePipeline(std::span<const policy::Argv> commands, ReplyCallback callback,
                                std::string_view tenant = {}, std::string_view identity = {},
                                std::shared_ptr<const void> hold = {}, UnsentRefundPtr refund = {});
  // MULTI, the commands, EXEC, written at once on one connection (see UpstreamResponse).
  RequestHandle executeTransaction(std::span<const policy::Argv> commands, ReplyCallback callback,
                                   std::string_view tenant = {}, std::string_view identity = {},
                                   std::shared_ptr<const void> hold = {},
                                   UnsentRefundPtr refund = {});
  // PING on the pool, for /readyz.
  RequestHandle ping(ReplyCallback callback);

  // SUBSCRIBE (or PSUBSCRIBE when `pattern`) to one channel for one stream of `tenant`: a
  // tenant's streams share one pub/sub connection, each channel subscribed once on it
  // (subscription_hub.h).
  StreamSourcePtr subscribe(bool pattern, std::string_view channel,
                            SubscriptionEventCallback on_event, SubscriptionCloseCallback on_close,
                            std::string_view tenant = {});

  [[nodiscard]] UpstreamStats stats() const;
  // Bound on the body encoded from one request's replies (JSON escaping can grow a string 6x,
  // base64 4/3x): 2 x max_reply_bytes. A router answers TooLarge rather than build more.
  [[nodiscard]] uint64_t maxEncodedBytes() const;
  // The loop the upstream runs on (a router's deferred work, e.g. reply slices).
  [[nodiscard]] event_base* base() const;
  // "host:port" (and "tls"), for logs: never the password.
  [[nodiscard]] std::string describe() const;

  struct Impl;

 private:
  explicit RedisPool(std::unique_ptr<Impl> impl);
  RequestHandle send(std::span<const policy::Argv> commands, ReplyCallback callback,
                     std::string_view tenant, std::string_view identity, bool slots,
                     std::shared_ptr<const void> hold, UnsentRefundPtr refund);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kw::proxy
