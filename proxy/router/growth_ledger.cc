// GrowthLedger: see the header.
#include "proxy/router/growth_ledger.h"

namespace kw::proxy {

std::optional<int64_t> GrowthLedger::take(std::string_view client, uint64_t bytes,
                                          uint64_t per_second, int64_t now_ms) {
  if (bytes == 0) return std::nullopt;
  const policy::Rate rate{per_second, 1000};
  std::lock_guard<std::mutex> lock(mu_);
  auto it = buckets_.find(std::string(client));
  if (it == buckets_.end()) {
    if (buckets_.size() >= kMaxNames) buckets_.clear();
    it = buckets_.emplace(std::string(client), policy::TokenBucket(rate, per_second, now_ms)).first;
  } else if (it->second.rate().count != per_second) {
    it->second.reshape(rate, per_second, now_ms);  // a reload changed max_body_bytes
  }
  if (it->second.tryTake(bytes, now_ms)) return std::nullopt;
  const int64_t ms = it->second.msUntil(bytes, now_ms);
  return ms < 0 ? int64_t{1} : (ms + 999) / 1000;
}

}  // namespace kw::proxy
