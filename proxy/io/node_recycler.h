// Map entries that come and go once per request (a tenant's wait queue, its held reply bytes):
// an erased entry's node is kept for the next new key instead of freed, so steady traffic stops
// allocating for them.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace kw::proxy {

// For a node-based map (std::unordered_map). Callers erase an entry only when its value is back
// to its empty state (a count of 0, an empty queue): a reused node keeps that value and gets
// the new key. At most kSpares nodes are kept.
template <class Map, size_t kSpares = 4>
class NodeRecycler {
 public:
  NodeRecycler() { spares_.reserve(kSpares); }

  typename Map::iterator findOrAdd(Map& map, const typename Map::key_type& key) {
    if (auto it = map.find(key); it != map.end()) return it;
    if (spares_.empty()) return map.try_emplace(key).first;
    typename Map::node_type node = std::move(spares_.back());
    spares_.pop_back();
    node.key() = key;  // an assignment: the old key's buffer is reused when it fits
    return map.insert(std::move(node)).position;
  }

  void erase(Map& map, typename Map::iterator it) {
    if (spares_.size() < kSpares) {
      spares_.push_back(map.extract(it));
    } else {
      map.erase(it);
    }
  }

 private:
  std::vector<typename Map::node_type> spares_;
};

}  // namespace kw::proxy
