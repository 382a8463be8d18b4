// FairQueue: a wait queue that serves tenants in turn (one item per tenant per round) and, within
// a tenant, its lanes in turn (its JWT identities: one item per lane per turn of the tenant),
// FIFO within a lane. So one tenant's backlog cannot push another's request behind all of it,
// and one user of a client cannot push another user of the same client behind all of its own
// (attack round 19: twenty data-sized requests of one `sub` kept another `sub`'s 4.9 s waiting).
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "proxy/io/node_recycler.h"

namespace kw::proxy {

template <class T>
class FairQueue {
 public:
  // `lane`: a key unique across tenants (an identity's "tenant\nsub"); empty: the tenant's own.
  void push(std::string_view tenant, std::string_view lane, T item) {
    const std::string key(lane.empty() ? tenant : lane);
    auto it = lane_nodes_.findOrAdd(lanes_, key);
    if (it->second.empty()) {
      auto t = tenant_nodes_.findOrAdd(tenants_, std::string(tenant));
      if (t->second.ring.empty()) ring_.push_back(t->first);
      t->second.ring.push_back(key);
      ++lane_count_;
    }
    it->second.push_back(std::move(item));
    ++size_;
  }
  void push(std::string_view tenant, T item) { push(tenant, {}, std::move(item)); }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  [[nodiscard]] size_t size() const { return size_; }
  // The next item to serve (not empty()).
  T& front() { return lanes_.find(frontTenant().ring.front())->second.front(); }
  // Removes front(); its lane goes to the back of its tenant's turn, and its tenant to the back
  // of the round, when they have more waiting.
  T pop() {
    auto t = tenants_.find(ring_.front());
    Tenant& tenant = t->second;
    auto it = lanes_.find(tenant.ring.front());
    T item = std::move(it->second.front());
    it->second.pop_front();
    --size_;
    std::string lane = std::move(tenant.ring.front());
    tenant.ring.pop_front();
    tenant.skipped = 0;
    if (it->second.empty()) {
      lane_nodes_.erase(lanes_, it);
      --lane_count_;
    } else {
      tenant.ring.push_back(std::move(lane));
    }
    std::string name = std::move(ring_.front());
    ring_.pop_front();
    if (tenant.ring.empty()) {
      tenant_nodes_.erase(tenants_, t);
    } else {
      ring_.push_back(std::move(name));
    }
    return item;
  }
  // Tenants with items waiting.
  [[nodiscard]] size_t tenants() const { return ring_.size(); }
  // Lanes with items waiting.
  [[nodiscard]] size_t lanes() const { return lane_count_; }
  // A tenant's lanes tried in one turn before the next tenant's: a caller that passes over
  // tenants() tenants in a row has done at most kLaneTries x tenants() tries, however many
  // identities a client has (one per queued request would make it O(queue) per call).
  static constexpr size_t kLaneTries = 16;
  // Passes over front()'s lane (its item stays first in it): the tenant's next lane becomes
  // front(), and once each of the tenant's lanes (at most kLaneTries) was passed over in this
  // turn, the next tenant's. True when the tenant was passed.
  bool skip() {
    Tenant& tenant = frontTenant();
    tenant.ring.push_back(std::move(tenant.ring.front()));
    tenant.ring.pop_front();
    if (++tenant.skipped < std::min(tenant.ring.size(), kLaneTries)) return false;
    skipTenant();
    return true;
  }
  // Passes over front()'s tenant for this round (what holds it back holds all its lanes).
  void skipTenant() {
    frontTenant().skipped = 0;
    ring_.push_back(std::move(ring_.front()));
    ring_.pop_front();
  }
  // Removes one item equal to `item` (cancel, timeout): false when it is not queued.
  bool erase(std::string_view tenant, std::string_view lane, const T& item) {
    const std::string key(lane.empty() ? tenant : lane);
    auto it = lanes_.find(key);
    if (it == lanes_.end()) return false;
    auto& queue = it->second;
    for (auto qi = queue.begin(); qi != queue.end(); ++qi) {
      if (*qi != item) continue;
      queue.erase(qi);
      --size_;
      if (queue.empty()) {
        lane_nodes_.erase(lanes_, it);
        --lane_count_;
        auto t = tenants_.find(std::string(tenant));
        auto& ring = t->second.ring;
        for (auto ri = ring.begin(); ri != ring.end(); ++ri) {
          if (*ri == key) {
            ring.erase(ri);
            break;
          }
        }
        t->second.skipped = 0;
        if (ring.empty()) {
          tenant_nodes_.erase(tenants_, t);
          for (auto ri = ring_.begin(); ri != ring_.end(); ++ri) {
            if (*ri == tenant) {
              ring_.erase(ri);
              break;
            }
          }
        }
      }
      return true;
    }
    return false;
  }
  bool erase(std::string_view tenant, const T& item) { return erase(tenant, {}, item); }
  // Takes everything out, in service order.
  std::deque<T> drain() {
    std::deque<T> out;
    while (!empty()) out.push_back(pop());
    return out;
  }

 private:
  struct Tenant {
    std::deque<std::string> ring;  // its lanes with waiting items, in turn order
    size_t skipped = 0;            // lanes passed over since its last pop (skip())
  };
  Tenant& frontTenant() { return tenants_.find(ring_.front())->second; }

  using Lanes = std::unordered_map<std::string, std::deque<T>>;
  using Tenants = std::unordered_map<std::string, Tenant>;
  Lanes lanes_;
  NodeRecycler<Lanes> lane_nodes_;  // a lane that empties is kept for the next one
  Tenants tenants_;
  NodeRecycler<Tenants> tenant_nodes_;
  std::deque<std::string> ring_;  // tenants with waiting items, in service order
  size_t size_ = 0;
  size_t lane_count_ = 0;
};

}  // namespace kw::proxy
