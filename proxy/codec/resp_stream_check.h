// A resp2 REST reply that is too large to hold (over 256 KiB) checked while it is relayed:
// exactly `count` whole RESP2 replies (one per command sent; a transaction's EXEC array is one),
// each as strict as RespParser reads a Redis reply, and nothing after them. The relay stops at
// the first byte that cannot belong to such a body and keeps the last byte back until the end
// proves it whole, so a truncated, padded or miscounted resp2 body never reaches a client
// complete. Only framing is checked: the bytes pass through, at most one header line is held.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "proxy/codec/resp_parser.h"

namespace kw::proxy::codec {

class RespStreamCheck {
 public:
  explicit RespStreamCheck(size_t count) : want_(count), parser_(&limits_) {}
  RespStreamCheck(const RespStreamCheck&) = delete;
  RespStreamCheck& operator=(const RespStreamCheck&) = delete;
  // False at the first byte that cannot belong to `count` whole replies (and on every call
  // after).
  [[nodiscard]] bool feed(std::string_view in);
  // Exactly `count` replies have ended, and nothing followed them.
  [[nodiscard]] bool complete() const { return !failed_ && seen_ == want_ && open_.empty(); }

 private:
  size_t want_;
  size_t seen_ = 0;
  RespLimits limits_;
  RespParser parser_;
  std::string open_;  // bytes of the current reply the parser has not accepted yet
  bool failed_ = false;
};

}  // namespace kw::proxy::codec
