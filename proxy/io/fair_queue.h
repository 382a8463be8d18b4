// FairQueue: a wait queue that serves tenants in turn (one item per tenant per round), FIFO
// within a tenant, so one tenant's backlog cannot push another's request behind all of it.
#pragma once

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
  void push(std::string_view tenant, T item) {
    auto it = recycler_.findOrAdd(lanes_, std::string(tenant));
    if (it->second.empty()) ring_.push_back(it->first);
    it->second.push_back(std::move(item));
    ++size_;
  }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  [[nodiscard]] size_t size() const { return size_; }
  // The next item to serve (not empty()).
  T& front() { return lanes_.find(ring_.front())->second.front(); }
  // Removes front(); its tenant goes to the back of the round when it has more waiting.
  T pop() {
    auto it = lanes_.find(ring_.front());
    T item = std::move(it->second.front());
    it->second.pop_front();
    --size_;
    std::string tenant = std::move(ring_.front());
    ring_.pop_front();
    if (it->second.empty()) {
      recycler_.erase(lanes_, it);
    } else {
      ring_.push_back(std::move(tenant));
    }
    return item;
  }
  // Tenants with items waiting.
  [[nodiscard]] size_t tenants() const { return ring_.size(); }
  // Passes over front()'s tenant for this round (its item stays first in its lane): the next
  // tenant's item becomes front().
  void skip() {
    ring_.push_back(std::move(ring_.front()));
    ring_.pop_front();
  }
  // Removes one item equal to `item` (cancel, timeout): false when it is not queued.
  bool erase(std::string_view tenant, const T& item) {
    auto it = lanes_.find(std::string(tenant));
    if (it == lanes_.end()) return false;
    auto& lane = it->second;
    for (auto li = lane.begin(); li != lane.end(); ++li) {
      if (*li != item) continue;
      lane.erase(li);
      --size_;
      if (lane.empty()) {
        recycler_.erase(lanes_, it);
        for (auto ri = ring_.begin(); ri != ring_.end(); ++ri) {
          if (*ri == tenant) {
            ring_.erase(ri);
            break;
          }
        }
      }
      return true;
    }
    return false;
  }
  // Takes everything out, in service order.
  std::deque<T> drain() {
    std::deque<T> out;
    while (!empty()) out.push_back(pop());
    return out;
  }

 private:
  using Lanes = std::unordered_map<std::string, std::deque<T>>;
  Lanes lanes_;
  NodeRecycler<Lanes> recycler_;  // a lane that empties is kept for the next tenant
  std::deque<std::string> ring_;  // tenants with waiting items, in service order
  size_t size_ = 0;
};

}  // namespace kw::proxy
