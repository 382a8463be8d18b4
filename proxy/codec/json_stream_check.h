// A REST reply that is too large to hold (over 256 KiB) checked while it is relayed: one
// Upstash envelope ({"result": any value} or {"error": "a string"}, exactly one member) or an
// array of them, structurally whole (strings closed, escapes and UTF-8 well formed as RFC 3629
// has it, brackets balanced, at most `max_depth` deep), nothing but whitespace after it: the
// shape checkUpstashBody asks of a held reply (upstash_reply.h), so a reply's size does not
// change what passes (attack round 23: streamed pipeline slots with extra members, bare values
// or both members reached clients). The relay stops at the first byte that cannot belong to such
// a body and keeps the last byte back until the end proves it whole, so a truncated, padded or
// garbled reply never reaches a client complete (attack round 16). Scalars are not read (a
// number's digits, literals): only the frame is, commas and colons included. An envelope's key
// must be written plainly (Upstash never escapes it).
#pragma once

#include <cstdint>
#include <string_view>

namespace kw::proxy::codec {

// Envelope: one envelope (a single command's reply, or any refusal); EnvelopeArray: an array
// of envelopes (a pipeline's or transaction's 200 reply; the count is the splicer's to check).
enum class JsonShape : uint8_t { Envelope, EnvelopeArray };

class JsonStreamCheck {
 public:
  explicit JsonStreamCheck(JsonShape shape = JsonShape::Envelope, uint32_t max_depth = 512)
      : max_depth_(max_depth < kMaxDepth ? max_depth : kMaxDepth),
        envelope_depth_(shape == JsonShape::EnvelopeArray ? 2 : 1) {}
  // False at the first byte that cannot belong to one whole object (and on every call after).
  [[nodiscard]] bool feed(std::string_view in);
  // The object has closed (and nothing but whitespace followed).
  [[nodiscard]] bool complete() const { return phase_ == Phase::After; }

 private:
  static constexpr uint32_t kMaxDepth = 512;
  enum class Phase : uint8_t { Before, Inside, After, Failed };
  // Where the current envelope is, between its braces and outside nested values.
  enum class Member : uint8_t { Key, Colon, Value, Scalar, AfterValue };
  // Between the envelopes of an array: expecting the first envelope or ']', one after a comma,
  // or a comma or ']'.
  enum class Slot : uint8_t { First, Next, AfterEnvelope };
  bool open(bool object);
  bool close(bool object);
  bool structural(char c);  // a byte outside strings
  bool nestedByte(char c);  // ... inside an envelope's value
  bool endKey();
  // Inside an envelope's value, per open bracket: what may come next (commas and colons are
  // checked there too: attack round 25 had `["x",]` and `{"a" "x"}` pass past 256 KiB).
  enum class Next : uint8_t { First, Value, Key, Colon, After };
  Phase phase_ = Phase::Before;
  uint32_t depth_ = 0;
  uint32_t max_depth_;
  uint32_t envelope_depth_;
  Member member_ = Member::Key;
  Slot slot_ = Slot::First;
  bool in_key_ = false;
  bool in_scalar_ = false;   // a number or literal inside a value is running
  bool nested_key_ = false;  // the open string is an object key inside a value
  Next next_[kMaxDepth + 1] = {};
  bool error_key_ = false;  // the envelope's member is "error": its value must be a string
  uint8_t key_len_ = 0;
  char key_[6] = {};
  bool in_string_ = false;
  uint8_t escape_ = 0;        // 1: after '\'; 2..5: hex digits of \u still expected + 1
  uint8_t continuation_ = 0;  // UTF-8 continuation bytes still expected
  uint8_t first_lo_ = 0x80;   // the range the next continuation byte must fall in
  uint8_t first_hi_ = 0xBF;
  uint64_t objects_[kMaxDepth / 64] = {};  // per open bracket: 1 '{', 0 '['
};

}  // namespace kw::proxy::codec
