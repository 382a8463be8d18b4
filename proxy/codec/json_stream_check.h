// A single command's REST reply that is too large to hold (over 256 KiB) checked while it is
// relayed: one JSON object, structurally whole (strings closed, escapes and UTF-8 well formed
// as RFC 3629 has it, brackets balanced, at most `max_depth` deep), nothing but whitespace after
// it. The relay stops at the first byte that cannot belong to such a body and keeps the last
// byte back until the end proves it whole, so a truncated, padded or garbled reply never reaches
// a client complete (attack round 16). Scalars are not read (a number's digits, literals): only the
// frame is.
#pragma once

#include <cstdint>
#include <string_view>

namespace kw::proxy::codec {

class JsonStreamCheck {
 public:
  explicit JsonStreamCheck(uint32_t max_depth = 512)
      : max_depth_(max_depth < kMaxDepth ? max_depth : kMaxDepth) {}
  // False at the first byte that cannot belong to one whole object (and on every call after).
  [[nodiscard]] bool feed(std::string_view in);
  // The object has closed (and nothing but whitespace followed).
  [[nodiscard]] bool complete() const { return phase_ == Phase::After; }

 private:
  static constexpr uint32_t kMaxDepth = 512;
  enum class Phase : uint8_t { Before, Inside, After, Failed };
  bool open(bool object);
  bool close(bool object);
  Phase phase_ = Phase::Before;
  uint32_t depth_ = 0;
  uint32_t max_depth_;
  bool in_string_ = false;
  uint8_t escape_ = 0;        // 1: after '\'; 2..5: hex digits of \u still expected + 1
  uint8_t continuation_ = 0;  // UTF-8 continuation bytes still expected
  uint8_t first_lo_ = 0x80;   // the range the next continuation byte must fall in
  uint8_t first_hi_ = 0xBF;
  uint64_t objects_[kMaxDepth / 64] = {};  // per open bracket: 1 '{', 0 '['
};

}  // namespace kw::proxy::codec
