// Value growth by offsets, per client and across workers (attack round 29a: 60 SETRANGEs at a
// 10 MB offset, 2,390 bytes of requests, each within listen.max_body_bytes, took redis-server
// from 52 MB to 652 MB). A request's growth is bounded by policy::countGrowth; this bounds how
// fast a client may grow values that way: listen.max_body_bytes a second, what it could write by
// sending whole values at that rate, instead of whatever its request rate allows.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "policy/quota.h"

namespace kw::proxy {

class GrowthLedger {
 public:
  // Takes `bytes` of growth for `client` at `per_second` (a one-second burst). nullopt when
  // taken; otherwise the whole seconds until they would be (nothing is taken).
  std::optional<int64_t> take(std::string_view client, uint64_t bytes, uint64_t per_second,
                              int64_t now_ms);

 private:
  // Client names come from configs; past this many the book starts over (a fresh burst each).
  static constexpr size_t kMaxNames = 20000;
  std::mutex mu_;
  std::unordered_map<std::string, policy::TokenBucket> buckets_;
};

}  // namespace kw::proxy
