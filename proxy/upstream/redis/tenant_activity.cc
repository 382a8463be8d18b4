// Recent tenants per worker, read by every worker's Redis pool (tenant_activity.h).
#include "proxy/upstream/redis/tenant_activity.h"

namespace kw::proxy {

void TenantActivity::note(uint32_t worker, uint64_t tenant, int64_t now_ms) {
  Slot& s = slots_[worker < count_ ? worker : 0];
  if (s.tenant[0].load(std::memory_order_relaxed) != tenant) {
    s.tenant[1].store(s.tenant[0].load(std::memory_order_relaxed), std::memory_order_relaxed);
    s.at[1].store(s.at[0].load(std::memory_order_relaxed), std::memory_order_relaxed);
    s.tenant[0].store(tenant, std::memory_order_relaxed);
  }
  s.at[0].store(now_ms, std::memory_order_relaxed);
}

bool TenantActivity::othersSince(uint64_t tenant, int64_t since_ms) const {
  for (uint32_t w = 0; w < count_; ++w) {
    const Slot& s = slots_[w];
    for (int i = 0; i < 2; ++i) {
      const uint64_t who = s.tenant[i].load(std::memory_order_relaxed);
      if (who != 0 && who != tenant && s.at[i].load(std::memory_order_relaxed) >= since_ms) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace kw::proxy
