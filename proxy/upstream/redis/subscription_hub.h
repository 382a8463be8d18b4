// One client's SSE subscriptions in one worker, carried by a single pub/sub connection to Redis.
//
// Redis copies every published message into the output buffer of each subscribed connection.
// With a connection per stream, one client's 200 streams on a channel made one 8 MB PUBLISH
// cost Redis 1.7 GB, and streams whose readers stalled kept it there for up to a minute (attack
// round 21). Here a channel (or pattern) is subscribed once per client and worker, however many
// of the client's streams follow it, and messages fan out in keyward. The connection is never
// paused for a slow stream: a stream whose client stops reading keeps what arrives for it up to
// kPausedBytes (kHubPausedBytes for all of its client's), then ends. A client's hub is its own, so
// a client that makes Redis drop its connection (past Redis's pub/sub output limit) ends only its
// own streams.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/upstream/redis/redis_connection.h"
#include "proxy/upstream/redis/redis_pool.h"

namespace kw::proxy {

// What a hub copies from its RedisPool (it may outlive the upstream).
struct HubSetup {
  event_base* base;
  RedisEndpoint endpoint;
  ssl_ctx_st* tls_ctx;
  codec::RespLimits limits;
  Milliseconds timeout;                  // connect + AUTH + each subscribe confirmation
  std::shared_ptr<uint32_t> live_count;  // the upstream's subscription gauge (streams)
};

// Messages waiting for streams whose clients stopped reading (beyond their 1 MiB of unsent
// output), each counted as its bytes plus kWaitingOverhead: at most kPausedBytes for one stream
// (Redis's own soft limit for a subscriber) and kHubPausedBytes for all of a client's streams in
// a worker (its hard limit), where a message several streams keep is one copy, counted once;
// past either, the stream being handed a message ends. What waits is outside
// listen.max_output_bytes (attack round 22: with only a per-stream bound, 20 stalled streams
// held 160 MiB). A message is encoded once (UpstreamReply::sse) and streams queue references to
// it in their output (Exchange::streamWriteShared).
constexpr uint64_t kPausedBytes = uint64_t{8} << 20;
constexpr uint64_t kHubPausedBytes = uint64_t{32} << 20;
constexpr uint64_t kWaitingOverhead = 64;  // a queue slot and its share of the kept copy
// A client's messages in a worker that its streams are still sending, each counted once (its
// streams' outputs refer to one copy, outside listen.max_output_bytes): past this a stream
// takes a new message into its queue instead, and sends it once older ones are out.
constexpr uint64_t kHubSendingBytes = uint64_t{64} << 20;
// Messages handed to streams (one per stream a message reaches) after which the hub stops
// reading for a loop turn: fan-out is loop time no quota counts, and a flood published
// straight to Redis must not hold the worker (attack round 22). While it waits, Redis buffers
// for this client's connection alone, and drops it past its pub/sub output limit.
constexpr size_t kDeliveriesPerTurn = 4096;
// ... or after this many bytes of messages handed to streams (each stream that reads gets its
// own TLS encryption of them; attack round 24: 64 KiB messages to 1,000 streams).
constexpr uint64_t kDeliveryBytesPerTurn = uint64_t{16} << 20;

class SubscriptionHub final : public RedisConnection::Handler,
                              public std::enable_shared_from_this<SubscriptionHub> {
 public:
  explicit SubscriptionHub(HubSetup setup);
  ~SubscriptionHub() override;
  // Runs when the hub has no stream left or failed: its owner forgets it then (this may
  // destroy the hub).
  void setOnEmpty(std::function<void()> on_empty) { on_empty_ = std::move(on_empty); }

  // A new stream on `channel`: its confirmation (["subscribe", channel, 1]) and then every
  // message reach on_event, from the loop.
  StreamSourcePtr join(bool pattern, std::string_view channel, SubscriptionEventCallback on_event,
                       SubscriptionCloseCallback on_close);
  // A stream refused before any hub (e.g. Overloaded): `error` reaches on_close from the loop.
  static StreamSourcePtr refuse(event_base* base, std::shared_ptr<uint32_t> live_count,
                                SubscriptionCloseCallback on_close, UpstreamError error);

  class Member;
  using Key = std::pair<bool, std::string>;  // pattern?, channel or pattern

  // One of the hub's messages has been sent by all of its streams: queues may move (deferred).
  void wakeSoon();

  // RedisConnection::Handler
  void onReady(RedisConnection& conn) override;
  void onReply(RedisConnection& conn, std::string_view raw,
               std::span<const codec::RespNode> nodes) override;
  void onClosed(RedisConnection& conn, const UpstreamError& error) override;

 private:
  struct Channel {
    std::vector<Member*> members;
    bool subscribed = false;  // the last command sent for it was SUBSCRIBE
    bool confirmed = false;   // ... and Redis confirmed it: messages are delivered
    uint32_t unanswered = 0;  // its commands Redis has not confirmed yet
  };

  friend class Member;
  void leave(Member* m);
  void send(const Key& key, bool subscribe);
  void confirm(const Key& key);
  void deliver(const Key& key, const codec::RespValue& push, std::string_view raw);
  void fail(const UpstreamError& error);
  void onConfirmTimeout();
  // `m` is still one of `key`'s streams, `seen` being removals_ before a callback loop began.
  bool stillIn(const Key& key, Member* m, uint64_t seen) const;

  // Timeouts in a row with commands unanswered after which the connection counts as gone.
  static constexpr uint32_t kSilentTimeouts = 4;

  HubSetup setup_;
  std::function<void()> on_empty_;
  std::shared_ptr<RedisConnection> conn_;
  std::map<Key, Channel> channels_;
  std::deque<std::pair<Key, bool>> unanswered_;  // (key, subscribe?) in the order sent
  std::string outbox_;                           // written once the connection is ready
  std::shared_ptr<uint64_t> waiting_ = std::make_shared<uint64_t>(0);  // its streams' queues
  std::shared_ptr<uint64_t> sending_ = std::make_shared<uint64_t>(0);  // its messages alive
  Timer confirm_timer_;
  Timer wake_timer_;              // wakeSoon()
  Timer yield_timer_;             // reading again after a pause for kDeliveriesPerTurn
  size_t deliveries_ = 0;         // since the last pause
  uint64_t delivered_bytes_ = 0;  // since the last pause
  uint64_t removals_ = 0;  // streams or channels removed: a callback loop re-checks after one
  uint32_t silent_timeouts_ = 0;
  bool dead_ = false;
};

}  // namespace kw::proxy
