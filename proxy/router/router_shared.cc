// The state all workers' routers share; see router_shared.h.
#include "proxy/router/router_shared.h"

#include <openssl/rand.h>

#include "conf/loader.h"
#include "proxy/io/access_log.h"

namespace kw::proxy {

RouterShared::RouterShared(conf::SnapshotConstSharedPtr snapshot)
    : quota_(snapshot->config().budget) {
  setSnapshot(std::move(snapshot));
}

RouterShared::View RouterShared::view() const {
  std::lock_guard<std::mutex> lock(mu_);
  return View{snapshot_, revoked_, revocations_known_, generation_.load(std::memory_order_relaxed)};
}

conf::SnapshotConstSharedPtr RouterShared::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

void RouterShared::setSnapshot(conf::SnapshotConstSharedPtr snapshot) {
  quota_.setBudget(snapshot->config().budget);
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(snapshot);
  loadRevocationsLocked();
}

void RouterShared::reloadRevocations() {
  std::lock_guard<std::mutex> lock(mu_);
  loadRevocationsLocked();
}

void RouterShared::loadRevocationsLocked() {
  const std::string& file = snapshot_->config().signing.revoked_file;
  revocations_known_ = true;
  if (file.empty()) {
    revoked_.reset();
  } else if (auto list = conf::loadRevokedFile(file)) {
    revoked_ = std::make_shared<const RevokedSet>(std::move(*list));
  } else {
    // Fail closed: without the list a revoked token would pass, so every JWT is refused until
    // a reload reads it again (static API keys keep working).
    revocations_known_ = false;
    logEvent("revoked_file_unreadable", {{"error", list.error().message}});
  }
  // Published last: a router that sees the new generation reads all of the above.
  generation_.fetch_add(1, std::memory_order_release);
}

std::string RouterShared::nextSyncToken(std::string_view client) {
  if (client.empty()) return "0";
  std::lock_guard<std::mutex> lock(sync_mu_);
  // Bounded: names come from configs; past the bound every counter restarts from a new random
  // start.
  if (sync_counters_.size() >= 2 * conf::kMaxClients &&
      sync_counters_.find(std::string(client)) == sync_counters_.end()) {
    sync_counters_.clear();
  }
  auto [it, inserted] = sync_counters_.try_emplace(std::string(client));
  if (inserted) {
    uint32_t start = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&start), sizeof start) != 1) start = 0;
    it->second = start;
  }
  return std::to_string(++it->second);
}

}  // namespace kw::proxy
