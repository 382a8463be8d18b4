// RedisUpstream: the router's Upstream for redis:// and rediss://. A plan becomes one RESP
// pipeline (or MULTI/EXEC, or a subscription) on a RedisPool, and its replies become the Upstash
// JSON (or resp2) body; large bodies are encoded in slices, one per loop turn.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "policy/result.h"
#include "proxy/upstream/redis/redis_pool.h"
#include "proxy/upstream/upstream.h"

namespace kw::proxy {

class RedisUpstream final : public Upstream {
 public:
  static Result<std::unique_ptr<RedisUpstream>> create(event_base* base, RedisPoolOptions options);
  explicit RedisUpstream(std::unique_ptr<RedisPool> pool) : pool_(std::move(pool)) {}

  void dispatch(const RequestPlan& plan, const RouteContext& ctx, Exchange& ex) override;
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> passthroughHeaders(
      const codec::HttpRequestParser&, const codec::ResponseOptions&,
      std::string_view) const override {
    return {};
  }
  void probe() override;
  [[nodiscard]] bool ready() const override { return ready_; }
  [[nodiscard]] UpstreamStats stats() const override { return pool_->stats(); }
  [[nodiscard]] std::string describe() const override { return pool_->describe(); }

 private:
  std::unique_ptr<RedisPool> pool_;
  RequestHandle ping_;  // the readiness PING in flight (destroyed before the pool)
  bool ready_ = false;
};

}  // namespace kw::proxy
