// Which tenants sent the Redis upstream requests lately, across the process's workers. Each
// worker's pool holds a tenant to one window of commands at the server while another tenant is
// active anywhere in the process: the server is shared, so a tenant alone on one worker's pool
// still delays a tenant whose requests land on the other worker.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace kw::proxy {

class TenantActivity {
 public:
  explicit TenantActivity(uint32_t workers)
      : count_(workers == 0 ? 1 : workers), slots_(std::make_unique<Slot[]>(count_)) {}
  // Worker `worker` saw the tenant (a hash of its name, never 0) submit at `now_ms`. Only that
  // worker's thread writes its slot.
  void note(uint32_t worker, uint64_t tenant, int64_t now_ms);
  // Did a tenant other than `tenant` submit on any worker at or after `since_ms`? Another
  // worker's slot may be read while it is written: an answer a moment stale, never unsafe.
  [[nodiscard]] bool othersSince(uint64_t tenant, int64_t since_ms) const;

 private:
  // The two tenants a worker saw last (distinct) and when: any tenant's most recent other
  // tenant on that worker is one of them.
  struct Slot {
    std::atomic<uint64_t> tenant[2] = {0, 0};
    std::atomic<int64_t> at[2] = {0, 0};
  };
  uint32_t count_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace kw::proxy
