// Factory for dedicated SUBSCRIBE/PSUBSCRIBE connections (used by RedisPool::subscribe).
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "proxy/upstream/redis/redis_pool.h"

namespace kw::proxy {

// What a subscription copies from its RedisPool (it may outlive the upstream).
struct SubscriptionSetup {
  event_base* base;
  const RedisEndpoint& endpoint;
  ssl_ctx_st* tls_ctx;
  const codec::RespLimits& limits;
  Milliseconds timeout;                  // connect + AUTH + subscribe confirmation
  std::shared_ptr<uint32_t> live_count;  // the upstream's subscription gauge
};

// Starts connecting at once; `error` (e.g. Overloaded) is delivered to on_close from the loop.
StreamSourcePtr makeRedisSubscription(const SubscriptionSetup& setup, bool pattern,
                                      std::string_view channel, SubscriptionEventCallback on_event,
                                      SubscriptionCloseCallback on_close,
                                      std::optional<UpstreamError> error);

}  // namespace kw::proxy
