// QuotaStore: the shared budget store of several replicas (README, Configuration quota.store_url, a
// Redis of the operator's own). Leases are granted and returned by atomic Lua scripts, so the
// sum of every replica's leases never exceeds a budget; each replica spends only what it holds.
#pragma once

#include <memory>
#include <string>

#include "proxy/quota/quota_ledger.h"
#include "proxy/upstream/redis/redis_pool.h"

namespace kw::proxy {

class QuotaStore final : public QuotaLeaseSource {
 public:
  // Connects lazily (like the upstream) to quota.store (conf's parse of quota.store_url);
  // `timeout` bounds every store call.
  static Result<std::unique_ptr<QuotaStore>> create(event_base* base,
                                                    const conf::UpstreamConfig& store,
                                                    Milliseconds timeout);
  void lease(const std::vector<Want>& wants, Granted done) override;
  void giveBack(const std::vector<Return>& returns, std::function<void()> done) override;
  // "host:port" for logs: never the password.
  [[nodiscard]] std::string describe() const { return redis_->describe(); }

 private:
  explicit QuotaStore(std::unique_ptr<RedisPool> redis) : redis_(std::move(redis)) {}
  std::unique_ptr<RedisPool> redis_;
  RequestHandle lease_call_;
  RequestHandle return_call_;
};

}  // namespace kw::proxy
