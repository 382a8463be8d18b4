// See json_stream_check.h.
#include "proxy/codec/json_stream_check.h"

#include <string_view>

namespace kw::proxy::codec {

namespace {

bool isWs(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool isHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Continuation bytes a UTF-8 lead byte announces (-1: a byte that cannot lead) and the range
// its first continuation byte must fall in: narrower after E0, ED, F0 and F4, which would
// otherwise admit overlong forms, surrogates, or code points past U+10FFFF (RFC 3629).
struct Utf8Lead {
  int tail = -1;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
};

Utf8Lead utf8Lead(unsigned char b) {
  if (b < 0x80) return {0};
  if (b >= 0xC2 && b <= 0xDF) return {1};
  if (b == 0xE0) return {2, 0xA0, 0xBF};
  if (b == 0xED) return {2, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {2};
  if (b == 0xF0) return {3, 0x90, 0xBF};
  if (b == 0xF4) return {3, 0x80, 0x8F};
  if (b >= 0xF1 && b <= 0xF3) return {3};
  return {};
}

}  // namespace

bool JsonStreamCheck::open(bool object) {
  if (depth_ >= max_depth_) return false;
  const uint64_t bit = uint64_t{1} << (depth_ % 64);
  if (object) {
    objects_[depth_ / 64] |= bit;
  } else {
    objects_[depth_ / 64] &= ~bit;
  }
  ++depth_;
  return true;
}

bool JsonStreamCheck::close(bool object) {
  if (depth_ == 0) return false;
  --depth_;
  return ((objects_[depth_ / 64] >> (depth_ % 64)) & 1) == (object ? 1u : 0u);
}

bool JsonStreamCheck::endKey() {
  in_key_ = false;
  const std::string_view key(key_, key_len_);
  if (key != "result" && key != "error") return false;
  error_key_ = key == "error";
  member_ = Member::Colon;
  return true;
}

bool JsonStreamCheck::structural(char c) {
  const auto b = static_cast<unsigned char>(c);
  const bool ws = isWs(c);
  if (depth_ == envelope_depth_) {  // inside an envelope, outside its value's brackets
    switch (member_) {
      case Member::Key:
        if (ws) return true;
        if (c != '"') return false;  // '}' too: an envelope has exactly one member
        in_string_ = in_key_ = true;
        key_len_ = 0;
        return true;
      case Member::Colon:
        if (ws) return true;
        member_ = Member::Value;
        return c == ':';
      case Member::Value:
        if (ws) return true;
        if (c == '"') {
          member_ = Member::AfterValue;
          in_string_ = true;
          return true;
        }
        if (error_key_) return false;  // "error" holds a string
        if (c == '{' || c == '[') {
          member_ = Member::AfterValue;  // once the value's brackets close
          if (!open(c == '{')) return false;
          next_[depth_] = Next::First;
          return true;
        }
        member_ = Member::Scalar;
        return b >= 0x20 && b < 0x80 && c != ',' && c != '}' && c != ']' && c != ':';
      case Member::Scalar:
      case Member::AfterValue:
        if (ws) {
          member_ = Member::AfterValue;
          return true;
        }
        if (c == '}') break;  // the envelope closes
        if (member_ == Member::AfterValue) return false;
        return b >= 0x20 && b < 0x80 && c != ',' && c != '"' && c != '{' && c != '[' && c != ']' &&
               c != ':';
    }
    if (!close(true)) return false;
    if (depth_ == 0) {
      phase_ = Phase::After;
    } else {
      slot_ = Slot::AfterEnvelope;
    }
    return true;
  }
  if (depth_ + 1 == envelope_depth_) {  // an array's, between its envelopes
    if (ws) return true;
    if (c == '{' && slot_ != Slot::AfterEnvelope) {
      member_ = Member::Key;
      return open(true);
    }
    if (c == ',' && slot_ == Slot::AfterEnvelope) {
      slot_ = Slot::Next;
      return true;
    }
    if (c != ']' || slot_ == Slot::Next || !close(false)) return false;
    phase_ = Phase::After;
    return true;
  }
  return nestedByte(c);
}

bool JsonStreamCheck::nestedByte(char c) {
  const auto b = static_cast<unsigned char>(c);
  const bool ws = isWs(c);
  const bool object = ((objects_[(depth_ - 1) / 64] >> ((depth_ - 1) % 64)) & 1) != 0;
  Next& next = next_[depth_];
  if (in_scalar_) {
    if (!ws && c != ',' && c != ']' && c != '}') {
      // A number's or literal's bytes (not read further; the client's parser is the judge).
      return b > 0x20 && b < 0x80 && c != '"' && c != '{' && c != '[' && c != ':';
    }
    in_scalar_ = false;
  }
  if (ws) return true;
  switch (next) {
    case Next::First:
      if (c == (object ? '}' : ']')) return close(object);
      if (object) {
        if (c != '"') return false;
        in_string_ = nested_key_ = true;
        return true;
      }
      [[fallthrough]];
    case Next::Value:
      next = Next::After;
      if (c == '"') {
        in_string_ = true;
        return true;
      }
      if (c == '{' || c == '[') {
        if (!open(c == '{')) return false;
        next_[depth_] = Next::First;
        return true;
      }
      in_scalar_ = true;
      return b > 0x20 && b < 0x80 && c != ',' && c != ']' && c != '}' && c != ':';
    case Next::Key:
      if (c != '"') return false;
      in_string_ = nested_key_ = true;
      return true;
    case Next::Colon:
      next = Next::Value;
      return c == ':';
    case Next::After:
      if (c == ',') {
        next = object ? Next::Key : Next::Value;
        return true;
      }
      return c == (object ? '}' : ']') && close(object);
  }
  return false;
}

bool JsonStreamCheck::feed(std::string_view in) {
  for (const char c : in) {
    const auto b = static_cast<unsigned char>(c);
    switch (phase_) {
      case Phase::Failed:
        return false;
      case Phase::After:
        if (!isWs(c)) {
          phase_ = Phase::Failed;
          return false;
        }
        continue;
      case Phase::Before: {
        if (isWs(c)) continue;
        const bool array = envelope_depth_ == 2;
        if (c != (array ? '[' : '{') || !open(!array)) {
          phase_ = Phase::Failed;
          return false;
        }
        member_ = Member::Key;
        slot_ = Slot::First;
        phase_ = Phase::Inside;
        continue;
      }
      case Phase::Inside:
        break;
    }
    if (continuation_ != 0) {
      if (b < first_lo_ || b > first_hi_) {
        phase_ = Phase::Failed;
        return false;
      }
      first_lo_ = 0x80;  // only the first continuation byte has a narrower range
      first_hi_ = 0xBF;
      --continuation_;
      continue;
    }
    if (in_key_) {
      // An envelope's key, written plainly: "result" or "error".
      bool ok = true;
      if (c == '"') {
        in_string_ = false;
        ok = endKey();
      } else if (c == '\\' || b < 0x20 || b >= 0x80 || key_len_ == sizeof key_) {
        ok = false;
      } else {
        key_[key_len_++] = c;
      }
      if (!ok) {
        phase_ = Phase::Failed;
        return false;
      }
      continue;
    }
    if (in_string_) {
      if (escape_ == 1) {
        if (c == 'u') {
          escape_ = 5;
        } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                   c == 'r' || c == 't') {
          escape_ = 0;
        } else {
          phase_ = Phase::Failed;
          return false;
        }
        continue;
      }
      if (escape_ > 1) {
        if (!isHex(c)) {
          phase_ = Phase::Failed;
          return false;
        }
        escape_ = escape_ == 2 ? 0 : escape_ - 1;
        continue;
      }
      if (c == '\\') {
        escape_ = 1;
      } else if (c == '"') {
        in_string_ = false;
        if (nested_key_) {
          nested_key_ = false;
          next_[depth_] = Next::Colon;
        }
      } else if (b < 0x20) {
        phase_ = Phase::Failed;
        return false;
      } else {
        const Utf8Lead lead = utf8Lead(b);
        if (lead.tail < 0) {
          phase_ = Phase::Failed;
          return false;
        }
        continuation_ = static_cast<uint8_t>(lead.tail);
        first_lo_ = lead.lo;
        first_hi_ = lead.hi;
      }
      continue;
    }
    if (!structural(c)) {
      phase_ = Phase::Failed;
      return false;
    }
  }
  return true;
}

}  // namespace kw::proxy::codec
