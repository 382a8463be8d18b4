// Worker (README, Workers): one event loop on its own thread with its own listening socket
// (SO_REUSEPORT), upstream pool, router and timers. What it shares with the other workers lives
// in RouterShared (config, revocations, quotas, client shares) and ListenerLedger (listen.*
// bounds, TLS context); the control thread reaches it only through its mailbox.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "conf/config.h"
#include "policy/result.h"
#include "proxy/io/audit_log.h"
#include "proxy/io/event_loop.h"
#include "proxy/io/loop_mailbox.h"
#include "proxy/router/request_router.h"
#include "proxy/server/gateway_server.h"
#include "proxy/server/listener_ledger.h"
#include "proxy/upstream/redis/quota_store.h"
#include "proxy/upstream/redis/tenant_activity.h"
#include "proxy/upstream/rest/rest_upstream.h"

namespace kw::proxy {

// One worker's counters for /metrics, copied on its own thread.
struct WorkerSample {
  RequestRouter::Stats stats;
  RequestRouter::Latencies latencies;
  std::map<std::string, std::array<uint64_t, 4>> client_decisions;
  std::map<std::string, uint64_t> denials_by_reason;
  std::map<std::string, std::array<uint64_t, 2>> shadow_mismatches;
  uint64_t jwt_cache_hits = 0;
  uint64_t jwt_cache_entries = 0;
  uint64_t connections = 0;
  uint64_t accepted = 0;
  UpstreamStats upstream;
};

class Worker {
 public:
  // What every worker is built from; all of it outlives the workers.
  struct Common {
    const conf::Config* config = nullptr;
    RouterShared* router = nullptr;
    ListenerLedger* listener = nullptr;
    std::shared_ptr<RestUpstream::SyncTokens> sync_tokens;
    AuditLog* audit = nullptr;
    uint32_t count = 1;  // workers in the process
    // Who sent the Redis upstream requests lately, on every worker (redis_pool.h).
    std::shared_ptr<TenantActivity> tenant_activity;
  };
  // Binds `port` (worker 0: listen.address's; the others: worker 0's bound port).
  static Result<std::unique_ptr<Worker>> create(const Common& common, uint32_t index,
                                                uint16_t port);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // quota.store_url (one worker only, checked by the config): leases through a store connection
  // on this worker's loop. Before start().
  Status useQuotaStore(const conf::UpstreamConfig& store, Milliseconds timeout);
  [[nodiscard]] std::string describeQuotaStore() const;
  [[nodiscard]] std::string describeUpstream() const { return upstream_->describe(); }
  [[nodiscard]] const std::string& boundAddress() const { return server_->boundAddress(); }
  [[nodiscard]] uint16_t boundPort() const { return server_->boundPort(); }

  // Runs the loop on a new thread; `on_exit` runs on that thread once the loop has ended.
  void start(std::function<void()> on_exit);
  void join();

  // From the control thread, through the mailbox:
  // Take the shared config and revocation list now (open streams re-checked at once).
  void takeShared();
  // Stop accepting, let requests finish; the loop ends when the last connection is gone (store
  // leases handed back first).
  void drain();
  // End the loop now.
  void stop();
  // Counters (nullopt when the worker did not answer within `timeout`).
  [[nodiscard]] std::optional<WorkerSample> sample(Milliseconds timeout);
  // Its upstream answers (false also when the worker did not answer within `timeout`): /readyz,
  // without copying the counters sample() copies.
  [[nodiscard]] bool upstreamReady(Milliseconds timeout);

 private:
  explicit Worker(uint32_t index) : index_(index) {}

  uint32_t index_;
  EventBasePtr base_;
  std::unique_ptr<LoopMailbox> mailbox_;
  std::unique_ptr<Upstream> upstream_;
  std::unique_ptr<QuotaStore> quota_store_;
  std::unique_ptr<RequestRouter> router_;
  std::unique_ptr<GatewayServer> server_;
  std::unique_ptr<Timer> pinger_;
  std::unique_ptr<Timer> stream_expiry_;
  std::thread thread_;
};

}  // namespace kw::proxy
