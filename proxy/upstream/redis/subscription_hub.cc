// SubscriptionHub: see the header.
#include "proxy/upstream/redis/subscription_hub.h"

#include <algorithm>

#include "policy/ascii.h"
#include "proxy/codec/resp_writer.h"
#include "proxy/codec/sse.h"

namespace kw::proxy {

namespace {

// A push kept for paused streams: its bytes copied once, the value's views moved onto them,
// with its SSE event. Counted once in its hub's waiting bytes however many streams keep it.
struct OwnedPush {
  std::string raw;
  codec::RespValue value;
  std::shared_ptr<const std::string> sse;
  uint32_t kept_by = 0;  // streams whose queue holds it
};

void rebase(codec::RespValue& v, const char* from, const char* to) {
  if (!v.str.empty()) v.str = std::string_view(to + (v.str.data() - from), v.str.size());
  for (codec::RespValue& e : v.elements) rebase(e, from, to);
}

std::shared_ptr<OwnedPush> own(const codec::RespValue& value, std::string_view raw,
                               std::shared_ptr<const std::string> sse) {
  auto p = std::make_shared<OwnedPush>();
  p->raw.assign(raw);
  p->value = value;
  rebase(p->value, raw.data(), p->raw.data());
  p->sse = std::move(sse);
  return p;
}

// What every stream sees first, whoever subscribed the channel: Redis's count would tell how
// many channels the client's other streams follow.
codec::RespValue confirmation(const SubscriptionHub::Key& key) {
  return codec::RespValue::array({codec::RespValue::bulk(key.first ? "psubscribe" : "subscribe"),
                                  codec::RespValue::bulk(key.second),
                                  codec::RespValue::integerValue(1)});
}

}  // namespace

class SubscriptionHub::Member final : public StreamSource {
 public:
  Member(std::weak_ptr<SubscriptionHub> hub, Key key, event_base* base,
         std::shared_ptr<uint32_t> live_count, std::shared_ptr<uint64_t> hub_waiting,
         std::shared_ptr<uint64_t> hub_sending, SubscriptionEventCallback on_event,
         SubscriptionCloseCallback on_close)
      : hub_(std::move(hub)),
        key_(std::move(key)),
        live_count_(std::move(live_count)),
        hub_waiting_(std::move(hub_waiting)),
        hub_sending_(std::move(hub_sending)),
        callbacks_(
            std::make_shared<Callbacks>(Callbacks{std::move(on_event), std::move(on_close)})),
        later_(base, [this] { runLater(); }) {
    ++*live_count_;
  }

  ~Member() override { close(); }

  void close() override {
    if (closed_) return;
    closed_ = true;
    later_.cancel();
    while (!waiting_.empty()) unkeep();
    --*live_count_;
    // What the callbacks hold (the client's subscription share among it) goes with the stream,
    // not with its connection: a stalled reader's connection lingers up to idle_timeout and
    // held the slot all along (attack round 31b). fail() and emit() keep their own reference.
    callbacks_.reset();
    if (auto hub = hub_.lock()) hub->leave(this);
  }

  void pause() override { paused_ = true; }

  void resume() override {
    paused_ = false;
    if (!waiting_.empty()) later_.arm(Milliseconds(0));
  }

  const Key& key() const { return key_; }
  bool started() const { return started_; }

  // Confirmed now (Redis answered its hub's SUBSCRIBE).
  void start() {
    if (started_ || closed_) return;
    started_ = true;
    const codec::RespValue c = confirmation(key_);
    std::string raw;
    codec::appendReply(raw, c);
    emit(c, raw, nullptr);
  }

  // Joined a channel Redis confirmed already: started from the loop, never inside join().
  void startLater() { later_.arm(Milliseconds(0)); }

  void failLater(UpstreamError error) {
    pending_error_ = std::move(error);
    later_.arm(Milliseconds(0));
  }

  // `sse`: the message's event, encoded once for all of the hub's streams (null if it has none).
  void message(const codec::RespValue& push, std::string_view raw,
               const std::shared_ptr<const std::string>& sse, std::shared_ptr<OwnedPush>& owned) {
    if (!started_ || closed_) return;
    if (!paused_ && waiting_.empty() && roomFor(sse)) {
      emit(push, raw, sse);
      return;
    }
    // Its client is not reading: kept up to a bound, then the stream ends (the connection, which
    // every stream of the client shares, is never paused for one). A message several streams
    // keep is one copy, counted once for the client.
    const uint64_t cost = raw.size() + kWaitingOverhead;
    const bool new_copy = !owned || owned->kept_by == 0;
    if ((!waiting_.empty() && waiting_bytes_ + cost > kPausedBytes) ||
        (new_copy && *hub_waiting_ != 0 && *hub_waiting_ + cost > kHubPausedBytes)) {
      fail({UpstreamErrorKind::TooLarge,
            "ERR this stream's reader fell behind by more than " +
                std::to_string(kPausedBytes >> 20) + " MiB of messages (" +
                std::to_string(kHubPausedBytes >> 20) + " MiB for all of its client's streams)"});
      return;
    }
    if (!owned) owned = own(push, raw, sse);
    if (owned->kept_by++ == 0) *hub_waiting_ += cost;
    waiting_.push_back(owned);
    waiting_bytes_ += cost;
  }

  void fail(const UpstreamError& error) {
    if (closed_) return;
    const std::shared_ptr<Callbacks> cbs = callbacks_;
    close();
    if (cbs && cbs->on_close) cbs->on_close(error);  // may destroy *this
  }

  // The hub is gone: no leave() to tell it.
  void orphan() { hub_.reset(); }

  // Some of the hub's messages were sent by every stream that had them: what waited here for
  // room may go.
  void wake() {
    if (!closed_ && !paused_ && !waiting_.empty()) later_.arm(Milliseconds(0));
  }

 private:
  struct Callbacks {
    SubscriptionEventCallback on_event;
    SubscriptionCloseCallback on_close;
  };

  void emit(const codec::RespValue& value, std::string_view raw,
            const std::shared_ptr<const std::string>& sse) {
    const std::shared_ptr<Callbacks> cbs = callbacks_;  // survives close()/delete in the callback
    if (cbs && cbs->on_event) cbs->on_event(UpstreamReply{value, raw, sse});
  }

  // Whether a message may go to this stream's output now: the client's other messages still
  // being sent by its streams leave room for it (kHubSendingBytes).
  bool roomFor(const std::shared_ptr<const std::string>& sse) const {
    return !sse || *hub_sending_ - sse->size() <= kHubSendingBytes;
  }

  // The front of the queue leaves it (sent, or the stream closed).
  std::shared_ptr<OwnedPush> unkeep() {
    std::shared_ptr<OwnedPush> p = std::move(waiting_.front());
    waiting_.pop_front();
    const uint64_t cost = p->raw.size() + kWaitingOverhead;
    waiting_bytes_ -= cost;
    if (--p->kept_by == 0) *hub_waiting_ -= cost;
    return p;
  }

  void runLater() {
    if (pending_error_) {
      const UpstreamError e = std::move(*pending_error_);
      pending_error_.reset();
      fail(e);
      return;
    }
    if (!started_) {
      start();
      return;
    }
    // Resumed: what waited goes out until the client is slow again.
    while (!closed_ && !paused_ && !waiting_.empty() && roomFor(waiting_.front()->sse)) {
      const std::shared_ptr<const OwnedPush> p = unkeep();
      const std::shared_ptr<Callbacks> cbs = callbacks_;
      if (cbs && cbs->on_event) cbs->on_event(UpstreamReply{p->value, p->raw, p->sse});
    }
  }

  std::weak_ptr<SubscriptionHub> hub_;
  Key key_;
  std::shared_ptr<uint32_t> live_count_;
  std::shared_ptr<uint64_t> hub_waiting_;  // what all of its hub's streams have waiting
  std::shared_ptr<uint64_t> hub_sending_;  // the hub's messages alive (kHubSendingBytes)
  std::shared_ptr<Callbacks> callbacks_;
  Timer later_;
  std::optional<UpstreamError> pending_error_;
  std::deque<std::shared_ptr<OwnedPush>> waiting_;
  uint64_t waiting_bytes_ = 0;
  bool started_ = false;
  bool paused_ = false;
  bool closed_ = false;
};

SubscriptionHub::SubscriptionHub(HubSetup setup)
    : setup_(std::move(setup)),
      confirm_timer_(setup_.base, [this] { onConfirmTimeout(); }),
      wake_timer_(setup_.base,
                  [this] {
                    for (auto& [key, ch] : channels_) {
                      for (Member* m : ch.members) m->wake();
                    }
                  }),
      yield_timer_(setup_.base, [this] {
        deliveries_ = 0;
        delivered_bytes_ = 0;
        if (conn_ && !dead_) conn_->resumeReading();
      }) {}

void SubscriptionHub::onConfirmTimeout() {
  const std::shared_ptr<SubscriptionHub> self = shared_from_this();
  const UpstreamError late{UpstreamErrorKind::Timeout,
                           "upstream did not confirm the subscription in time"};
  std::vector<Member*> waiting;
  bool any_started = false;
  for (const auto& [key, ch] : channels_) {
    for (Member* m : ch.members) {
      if (m->started()) {
        any_started = true;
      } else {
        waiting.push_back(m);
      }
    }
  }
  // A connection that answers nothing at all is gone; one slow to confirm a new channel (Redis
  // busy) fails only the streams waiting for it, never those already running on it.
  if (!any_started || ++silent_timeouts_ >= kSilentTimeouts) {
    fail(late);
    return;
  }
  const uint64_t seen = removals_;
  for (Member* m : waiting) {
    if (stillIn(m->key(), m, seen)) m->fail(late);  // leaves the hub (may unsubscribe or drop it)
  }
  if (!dead_ && !unanswered_.empty()) confirm_timer_.arm(setup_.timeout);
}

SubscriptionHub::~SubscriptionHub() {
  dead_ = true;
  if (conn_) conn_->close();
  for (auto& [key, ch] : channels_) {
    for (Member* m : ch.members) m->orphan();
  }
}

StreamSourcePtr SubscriptionHub::refuse(event_base* base, std::shared_ptr<uint32_t> live_count,
                                        SubscriptionCloseCallback on_close, UpstreamError error) {
  auto m = std::make_unique<Member>(std::weak_ptr<SubscriptionHub>(), Key{}, base,
                                    std::move(live_count), std::make_shared<uint64_t>(0),
                                    std::make_shared<uint64_t>(0), nullptr, std::move(on_close));
  m->failLater(std::move(error));
  return m;
}

StreamSourcePtr SubscriptionHub::join(bool pattern, std::string_view channel,
                                      SubscriptionEventCallback on_event,
                                      SubscriptionCloseCallback on_close) {
  Key key{pattern, std::string(channel)};
  auto m = std::make_unique<Member>(weak_from_this(), key, setup_.base, setup_.live_count, waiting_,
                                    sending_, std::move(on_event), std::move(on_close));
  Channel& ch = channels_[key];
  ch.members.push_back(m.get());
  if (!ch.subscribed) {
    send(key, true);
  } else if (ch.confirmed) {
    m->startLater();
  }
  if (!conn_) {
    conn_ = RedisConnection::create(setup_.base, setup_.endpoint, setup_.tls_ctx, setup_.timeout,
                                    setup_.limits, this);
    conn_->start();
  }
  return m;
}

void SubscriptionHub::send(const Key& key, bool subscribe) {
  Channel& ch = channels_[key];
  ch.subscribed = subscribe;
  ch.confirmed = false;
  ++ch.unanswered;
  const std::string_view verb = key.first ? (subscribe ? "PSUBSCRIBE" : "PUNSUBSCRIBE")
                                          : (subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE");
  const std::string_view argv[] = {verb, key.second};
  std::string cmd;
  codec::appendCommand(cmd, argv);
  if (conn_ && conn_->state() == RedisConnection::State::Ready) {
    conn_->write(cmd);
  } else {
    outbox_ += cmd;
  }
  unanswered_.emplace_back(key, subscribe);
  if (!confirm_timer_.armed()) confirm_timer_.arm(setup_.timeout);
}

void SubscriptionHub::leave(Member* m) {
  if (dead_) return;
  auto it = channels_.find(m->key());
  if (it == channels_.end()) return;
  Channel& ch = it->second;
  std::erase(ch.members, m);
  ++removals_;
  if (!ch.members.empty()) return;
  bool any = false;
  for (const auto& [k, c] : channels_) any = any || !c.members.empty();
  if (!any) {
    // The client's last stream: the connection goes (nothing to unsubscribe one by one).
    dead_ = true;
    confirm_timer_.cancel();
    if (conn_) conn_->close();
    const std::function<void()> on_empty = on_empty_;
    if (on_empty) on_empty();  // may destroy *this
    return;
  }
  if (ch.subscribed) send(it->first, false);
}

void SubscriptionHub::onReady(RedisConnection& conn) {
  if (!outbox_.empty()) conn.write(outbox_);
  std::string().swap(outbox_);
}

void SubscriptionHub::onReply(RedisConnection& /*conn*/, std::string_view raw,
                              std::span<const codec::RespNode> nodes) {
  // A stream's callback may end the last stream, and its owner then drops the hub.
  const std::shared_ptr<SubscriptionHub> self = shared_from_this();
  auto value = codec::buildReply(raw, nodes, setup_.limits.max_depth);
  if (!value) {
    fail({UpstreamErrorKind::Protocol, "bad upstream push reply: " + value.error().message});
    return;
  }
  const codec::RespValue& v = *value;
  if (v.isError()) {
    // Redis answers in order: the refusal is of the oldest command not yet answered.
    if (unanswered_.empty() || !unanswered_.front().second) {
      fail({UpstreamErrorKind::Protocol, "upstream error in subscriber mode"});
      return;
    }
    const Key key = unanswered_.front().first;
    unanswered_.pop_front();
    silent_timeouts_ = 0;
    std::string detail(v.str.substr(0, 200));
    auto it = channels_.find(key);
    if (it != channels_.end()) {
      std::vector<Member*> members = std::move(it->second.members);
      channels_.erase(it);
      ++removals_;
      for (Member* m : members) {
        m->orphan();
        m->failLater({UpstreamErrorKind::Protocol, "upstream refused the subscription: " + detail});
      }
    }
    return;
  }
  const bool shape =
      v.isArray() && v.elements.size() >= 3 && v.elements[0].isString() && v.elements[1].isString();
  if (!shape) {
    fail({UpstreamErrorKind::Protocol, "bad upstream push reply"});
    return;
  }
  const std::string_view kind = v.elements[0].str;
  const std::string_view name = v.elements[1].str;
  if (ascii::equalsIgnoreCase(kind, "message") && v.elements.size() == 3) {
    deliver(Key{false, std::string(name)}, v, raw);
    return;
  }
  if (ascii::equalsIgnoreCase(kind, "pmessage") && v.elements.size() == 4) {
    deliver(Key{true, std::string(name)}, v, raw);
    return;
  }
  const bool pattern =
      ascii::equalsIgnoreCase(kind, "psubscribe") || ascii::equalsIgnoreCase(kind, "punsubscribe");
  const bool subscribe =
      ascii::equalsIgnoreCase(kind, "subscribe") || ascii::equalsIgnoreCase(kind, "psubscribe");
  const bool unsubscribe =
      ascii::equalsIgnoreCase(kind, "unsubscribe") || ascii::equalsIgnoreCase(kind, "punsubscribe");
  if (!(subscribe || unsubscribe) || unanswered_.empty() ||
      unanswered_.front() != std::make_pair(Key{pattern, std::string(name)}, subscribe)) {
    fail({UpstreamErrorKind::Protocol, "unexpected upstream push reply"});
    return;
  }
  const Key key = std::move(unanswered_.front().first);
  unanswered_.pop_front();
  silent_timeouts_ = 0;
  if (unanswered_.empty()) {
    confirm_timer_.cancel();
  } else {
    confirm_timer_.arm(setup_.timeout);
  }
  confirm(key);
}

void SubscriptionHub::confirm(const Key& key) {
  auto it = channels_.find(key);
  if (it == channels_.end()) return;
  Channel& ch = it->second;
  if (--ch.unanswered != 0) return;  // a later command for it is still on its way
  if (!ch.subscribed) {
    if (ch.members.empty()) {
      channels_.erase(it);
      ++removals_;
    }
    return;
  }
  ch.confirmed = true;
  const std::vector<Member*> members = ch.members;  // a member's callback may make others leave
  const uint64_t seen = removals_;
  for (Member* m : members) {
    if (stillIn(key, m, seen)) m->start();
  }
}

bool SubscriptionHub::stillIn(const Key& key, Member* m, uint64_t seen) const {
  if (dead_) return false;
  if (removals_ == seen) return true;  // nothing left since: no search per stream and message
  auto it = channels_.find(key);
  return it != channels_.end() && std::find(it->second.members.begin(), it->second.members.end(),
                                            m) != it->second.members.end();
}

void SubscriptionHub::deliver(const Key& key, const codec::RespValue& push, std::string_view raw) {
  auto it = channels_.find(key);
  if (it == channels_.end() || !it->second.confirmed) return;
  std::shared_ptr<OwnedPush> owned;  // made once, if any stream must keep it
  const std::vector<Member*> members = it->second.members;
  // Encoded once, and handed to every stream as one shared buffer: streams queue it by
  // reference, never by copy (attack round 24: a 7 MB message copied into 400 streams held
  // 1.2 GB, and each copy was encoded again).
  // It counts in sending_ until the last stream has sent it (or let go of it), so that a
  // client's messages still in its streams' outputs are bounded (kHubSendingBytes), shared or
  // not (attack round 24 review: 2,048 streams each sent a different message).
  std::shared_ptr<const std::string> sse;
  auto encoded = std::make_unique<std::string>();
  if (codec::appendSseEvent(*encoded, push)) {
    const uint64_t size = encoded->size();
    *sending_ += size;
    sse = std::shared_ptr<const std::string>(
        encoded.release(),
        [sending = sending_, hub = weak_from_this(), size](const std::string* p) {
          *sending -= size;
          delete p;
          if (auto h = hub.lock()) h->wakeSoon();
        });
  }
  deliveries_ += members.size();
  delivered_bytes_ += members.size() * raw.size();
  if ((deliveries_ >= kDeliveriesPerTurn || delivered_bytes_ >= kDeliveryBytesPerTurn) &&
      !yield_timer_.armed() && conn_) {
    conn_->pauseReading();  // after this message: the worker's other events go first
    yield_timer_.arm(Milliseconds(0));
  }
  const uint64_t seen = removals_;
  for (Member* m : members) {
    if (stillIn(key, m, seen)) m->message(push, raw, sse, owned);
  }
}

void SubscriptionHub::wakeSoon() {
  // Only a stream with a queue can be waiting for room.
  if (!dead_ && *waiting_ != 0 && !wake_timer_.armed()) wake_timer_.arm(Milliseconds(0));
}

void SubscriptionHub::onClosed(RedisConnection& /*conn*/, const UpstreamError& error) {
  fail(error);
}

void SubscriptionHub::fail(const UpstreamError& error) {
  if (dead_) return;
  const std::shared_ptr<SubscriptionHub> self = shared_from_this();  // on_empty drops the owner's
  dead_ = true;
  confirm_timer_.cancel();
  if (conn_) conn_->close();
  std::vector<Member*> members;
  for (auto& [key, ch] : channels_) {
    for (Member* m : ch.members) members.push_back(m);
  }
  channels_.clear();
  for (Member* m : members) {
    m->orphan();
    m->failLater(error);  // from the loop: the hub's owner forgets it first
  }
  const std::function<void()> on_empty = on_empty_;
  if (on_empty) on_empty();  // may destroy *this
}

}  // namespace kw::proxy
