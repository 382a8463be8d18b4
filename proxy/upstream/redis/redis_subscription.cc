// A dedicated pub/sub connection: AUTH, SUBSCRIBE/PSUBSCRIBE, push replies to a callback.
#include "proxy/upstream/redis/redis_subscription.h"

#include <string>
#include <utility>

#include "proxy/codec/resp_writer.h"

namespace kw::proxy {

namespace {

class RedisSubscription final : public StreamSource, public RedisConnection::Handler {
 public:
  RedisSubscription(const SubscriptionSetup& setup, bool pattern, std::string_view channel,
                    SubscriptionEventCallback on_event, SubscriptionCloseCallback on_close)
      : callbacks_(
            std::make_shared<Callbacks>(Callbacks{std::move(on_event), std::move(on_close)})),
        timeout_(setup.timeout),
        max_depth_(setup.limits.max_depth),
        live_count_(setup.live_count),
        confirm_timer_(setup.base,
                       [this] {
                         fail({UpstreamErrorKind::Timeout,
                               "upstream did not confirm the subscription in time"});
                       }),
        error_timer_(setup.base, [this] {
          if (pending_error_) {
            const UpstreamError e = std::move(*pending_error_);
            pending_error_.reset();
            fail(e);
          }
        }) {
    const std::string_view verb = pattern ? "PSUBSCRIBE" : "SUBSCRIBE";
    const std::string_view argv[] = {verb, channel};
    codec::appendCommand(command_, argv);
    conn_ = RedisConnection::create(setup.base, setup.endpoint, setup.tls_ctx, setup.timeout,
                                    setup.limits, this);
  }

  ~RedisSubscription() override { close(); }

  void start(std::optional<UpstreamError> error) {
    if (error) {
      pending_error_ = std::move(error);
      error_timer_.arm(Milliseconds(0));
      return;
    }
    ++*live_count_;
    counted_ = true;
    conn_->start();
  }

  void close() override {
    closed_ = true;
    confirm_timer_.cancel();
    error_timer_.cancel();
    if (conn_) {
      conn_->close();
      conn_.reset();
    }
    if (counted_) {
      --*live_count_;
      counted_ = false;
    }
  }

  void pause() override {
    if (conn_) {
      conn_->pauseReading();
    }
  }

  void resume() override {
    if (conn_) {
      conn_->resumeReading();
    }
  }

  void onReady(RedisConnection& conn) override {
    conn.write(command_);
    confirm_timer_.arm(timeout_);
  }

  void onReply(RedisConnection& /*conn*/, std::string_view raw,
               std::span<const codec::RespNode> nodes) override {
    if (!confirmed_) {
      if (raw.empty() || raw.front() != '*') {
        std::string detail(raw.substr(0, 200));
        while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) {
          detail.pop_back();
        }
        fail({UpstreamErrorKind::Protocol, "upstream refused the subscription: " + detail});
        return;
      }
      confirmed_ = true;
      confirm_timer_.cancel();
    }
    auto value = codec::buildReply(raw, nodes, max_depth_);
    if (!value) {
      fail({UpstreamErrorKind::Protocol, "bad upstream push reply: " + value.error().message});
      return;
    }
    UpstreamReply reply{std::move(*value), raw};
    const std::shared_ptr<Callbacks> cbs = callbacks_;  // survives close()/delete in the callback
    if (cbs->on_event) {
      cbs->on_event(reply);
    }
  }

  void onClosed(RedisConnection& /*conn*/, const UpstreamError& error) override { fail(error); }

 private:
  struct Callbacks {
    SubscriptionEventCallback on_event;
    SubscriptionCloseCallback on_close;
  };

  void fail(const UpstreamError& error) {
    if (closed_) {
      return;
    }
    const std::shared_ptr<Callbacks> cbs = callbacks_;
    close();
    if (cbs->on_close) {
      cbs->on_close(error);  // may destroy *this
    }
  }

  std::shared_ptr<Callbacks> callbacks_;
  Milliseconds timeout_;
  uint32_t max_depth_;  // the parser's: framing already refused deeper pushes
  std::shared_ptr<uint32_t> live_count_;
  std::string command_;
  std::shared_ptr<RedisConnection> conn_;
  Timer confirm_timer_;
  Timer error_timer_;
  std::optional<UpstreamError> pending_error_;
  bool confirmed_ = false;
  bool closed_ = false;
  bool counted_ = false;
};

}  // namespace

StreamSourcePtr makeRedisSubscription(const SubscriptionSetup& setup, bool pattern,
                                      std::string_view channel, SubscriptionEventCallback on_event,
                                      SubscriptionCloseCallback on_close,
                                      std::optional<UpstreamError> error) {
  auto sub = std::make_unique<RedisSubscription>(setup, pattern, channel, std::move(on_event),
                                                 std::move(on_close));
  sub->start(std::move(error));
  return sub;
}

}  // namespace kw::proxy
