// Bounded RESP reply parsing: a one-shot recursive parser and an incremental stream reader.
#include "proxy/codec/resp_reader.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace kw::proxy::codec {

namespace {

constexpr uint32_t kHardMaxDepth = 512;  // recursion cap whatever the configured limit

enum class Step : uint8_t { NeedMore, Ok, Invalid, TooLarge };

enum class Shape : uint8_t {
  Scalar,     // whole value is the header line
  Blob,       // header line, `len` bytes, CRLF
  Aggregate,  // header line, then `count` values
};

// What one header line says. `size` is the header's length (type byte .. LF).
struct Header {
  char type = 0;
  Shape shape = Shape::Scalar;
  RespType value_type = RespType::Null;
  std::string_view line;  // between the type byte and CR
  int64_t integer = 0;    // Integer / Boolean value
  uint64_t len = 0;       // Blob byte count, or Aggregate element count (map pairs doubled)
  size_t size = 0;
};

bool isResp3Type(char c) {
  switch (c) {
    case ',':
    case '(':
    case '#':
    case '_':
    case '=':
    case '!':
    case '%':
    case '~':
    case '>':
    case '|':
      return true;
    default:
      return false;
  }
}

// Canonical decimal as Redis writes it (and hiredis's string2ll accepts): "0", or an optional
// '-' then a non-zero digit and more digits; no '+', no leading zeros, no "-0".
bool canonicalDecimal(std::string_view s) {
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) s.remove_prefix(1);
  if (s.empty() || s.size() > 20) return false;
  if (s[0] == '0') return s.size() == 1 && !negative;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool parseInt64(std::string_view s, int64_t& v) {
  if (!canonicalDecimal(s)) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Non-negative canonical decimal, or -1 (null). Returns false when malformed.
bool parseLength(std::string_view s, bool& is_null, uint64_t& v) {
  is_null = false;
  if (s == "-1") {
    is_null = true;
    return true;
  }
  if (s.empty() || s[0] == '-' || !canonicalDecimal(s)) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Decodes the header starting at avail[0] (the type byte). `hint` counts line bytes already
// known to hold no CR (so a slowly arriving line is not re-scanned); the caller resets it to
// 0 whenever a new header starts.
Step decodeHeader(std::string_view avail, const RespReaderLimits& lim, size_t& hint, Header& h,
                  std::string& err) {
  if (avail.empty()) return Step::NeedMore;
  h = Header{};
  h.type = avail[0];
  const bool resp3 = isResp3Type(h.type);
  if (resp3 && !lim.accept_resp3) {
    err = "RESP3 type byte '" + std::string(1, h.type) + "' in a RESP2 stream";
    return Step::Invalid;
  }
  if (!resp3 && h.type != '+' && h.type != '-' && h.type != ':' && h.type != '$' && h.type != '*') {
    err = "invalid type byte " + std::to_string(static_cast<uint8_t>(h.type));
    return Step::Invalid;
  }
  if (h.type == '|') {
    err = "RESP3 attributes are not supported";
    return Step::Invalid;
  }
  // Find CR LF ending the line; the line holds neither CR nor LF.
  const size_t max_scan = std::min<size_t>(avail.size(), size_t{1} + lim.max_line_bytes + 1);
  size_t from = 1 + std::min(hint, max_scan - 1);
  const void* cr =
      from < max_scan ? std::memchr(avail.data() + from, '\r', max_scan - from) : nullptr;
  if (cr == nullptr) {
    if (avail.size() - 1 > lim.max_line_bytes) {
      err = "header or simple line longer than " + std::to_string(lim.max_line_bytes) + " bytes";
      return Step::TooLarge;
    }
    hint = avail.size() - 1;
    return Step::NeedMore;
  }
  const size_t cr_at = static_cast<size_t>(static_cast<const char*>(cr) - avail.data());
  if (cr_at - 1 > lim.max_line_bytes) {
    err = "header or simple line longer than " + std::to_string(lim.max_line_bytes) + " bytes";
    return Step::TooLarge;
  }
  if (cr_at + 1 >= avail.size()) {
    hint = cr_at - 1;
    return Step::NeedMore;
  }
  if (avail[cr_at + 1] != '\n') {
    err = "CR not followed by LF";
    return Step::Invalid;
  }
  h.line = avail.substr(1, cr_at - 1);
  h.size = cr_at + 2;
  if (h.line.find('\n') != std::string_view::npos) {
    err = "LF inside a line";
    return Step::Invalid;
  }
  bool is_null = false;
  switch (h.type) {
    case '+':
      h.value_type = RespType::Status;
      return Step::Ok;
    case '-':
      h.value_type = RespType::Error;
      return Step::Ok;
    case ':':
      h.value_type = RespType::Integer;
      if (!parseInt64(h.line, h.integer)) {
        err = "invalid integer reply";
        return Step::Invalid;
      }
      return Step::Ok;
    case ',':  // double: kept as its text, like Redis does for RESP2 clients
      h.value_type = RespType::Bulk;
      if (h.line.empty()) {
        err = "empty double";
        return Step::Invalid;
      }
      return Step::Ok;
    case '(': {  // big number: digits with an optional '-'
      h.value_type = RespType::Bulk;
      std::string_view d = h.line;
      if (!d.empty() && d[0] == '-') d.remove_prefix(1);
      if (d.empty() || d.find_first_not_of("0123456789") != std::string_view::npos) {
        err = "invalid big number";
        return Step::Invalid;
      }
      return Step::Ok;
    }
    case '#':
      h.value_type = RespType::Integer;
      if (h.line != "t" && h.line != "f") {
        err = "invalid boolean";
        return Step::Invalid;
      }
      h.integer = h.line == "t" ? 1 : 0;
      return Step::Ok;
    case '_':
      h.value_type = RespType::Null;
      if (!h.line.empty()) {
        err = "invalid null";
        return Step::Invalid;
      }
      return Step::Ok;
    case '$':
    case '=':
    case '!':
      if (!parseLength(h.line, is_null, h.len) || (is_null && h.type != '$')) {
        err = "invalid bulk length";
        return Step::Invalid;
      }
      if (is_null) {
        h.value_type = RespType::Null;
        return Step::Ok;
      }
      if (h.len > lim.max_bulk_bytes) {
        err = "bulk length " + std::to_string(h.len) + " over the limit";
        return Step::TooLarge;
      }
      if (h.type == '=' && h.len < 4) {
        err = "verbatim string without its format prefix";
        return Step::Invalid;
      }
      h.shape = Shape::Blob;
      h.value_type = h.type == '!' ? RespType::Error : RespType::Bulk;
      return Step::Ok;
    default:  // '*', '%', '~', '>'
      if (!parseLength(h.line, is_null, h.len) || (is_null && h.type != '*')) {
        err = "invalid aggregate length";
        return Step::Invalid;
      }
      if (is_null) {
        h.value_type = RespType::NullArray;
        return Step::Ok;
      }
      if (h.len > lim.max_elements) {
        err = "aggregate of " + std::to_string(h.len) + " elements over the limit";
        return Step::TooLarge;
      }
      if (h.type == '%') h.len *= 2;  // bounded above, cannot overflow
      h.shape = Shape::Aggregate;
      h.value_type = RespType::Array;
      return Step::Ok;
  }
}

Error stepError(Step s, const std::string& why) {
  return makeError(s == Step::TooLarge ? ErrorCode::TooLarge : ErrorCode::InvalidArgument,
                   "protocol error: " + why);
}

// Recursive parser over complete bytes.
class Parser {
 public:
  Parser(std::string_view raw, const RespReaderLimits& lim) : raw_(raw), lim_(lim) {
    max_depth_ = std::min(lim.max_depth, kHardMaxDepth);
  }

  Step parse(RespValue& out, size_t& pos, uint32_t depth) {
    if (++elements_ > lim_.max_elements) {
      err_ = "more than " + std::to_string(lim_.max_elements) + " values in one reply";
      return Step::TooLarge;
    }
    Header h;
    size_t hint = 0;
    const Step s = decodeHeader(raw_.substr(pos), lim_, hint, h, err_);
    if (s == Step::NeedMore) {
      err_ = "incomplete reply";
      return Step::Invalid;
    }
    if (s != Step::Ok) return s;
    pos += h.size;
    out.type = h.value_type;
    switch (h.shape) {
      case Shape::Scalar:
        out.integer = h.integer;
        if (h.value_type != RespType::Integer && h.value_type != RespType::Null &&
            h.value_type != RespType::NullArray) {
          out.str = h.line;
        }
        return Step::Ok;
      case Shape::Blob: {
        if (raw_.size() - pos < h.len + 2) {
          err_ = "incomplete bulk string";
          return Step::Invalid;
        }
        std::string_view body = raw_.substr(pos, h.len);
        if (raw_[pos + h.len] != '\r' || raw_[pos + h.len + 1] != '\n') {
          err_ = "bulk string not terminated by CRLF";
          return Step::Invalid;
        }
        pos += h.len + 2;
        if (h.type == '=') body.remove_prefix(4);
        out.str = body;
        return Step::Ok;
      }
      case Shape::Aggregate:
        if (depth + 1 > max_depth_) {
          err_ = "arrays nested deeper than " + std::to_string(max_depth_);
          return Step::TooLarge;
        }
        if (h.len > lim_.max_elements - std::min(elements_, lim_.max_elements)) {
          err_ = "more than " + std::to_string(lim_.max_elements) + " values in one reply";
          return Step::TooLarge;
        }
        // Every element takes >= 3 bytes, so this never reserves more than the input supports.
        out.elements.reserve(std::min<uint64_t>(h.len, (raw_.size() - pos) / 3));
        for (uint64_t i = 0; i < h.len; ++i) {
          out.elements.emplace_back();
          const Step e = parse(out.elements.back(), pos, depth + 1);
          if (e != Step::Ok) return e;
        }
        return Step::Ok;
    }
    return Step::Invalid;
  }

  const std::string& error() const { return err_; }

 private:
  std::string_view raw_;
  const RespReaderLimits& lim_;
  uint32_t max_depth_;
  uint64_t elements_ = 0;
  std::string err_;
};

}  // namespace

std::string_view respTypeName(RespType t) {
  switch (t) {
    case RespType::Status:
      return "status";
    case RespType::Error:
      return "error";
    case RespType::Integer:
      return "integer";
    case RespType::Bulk:
      return "bulk";
    case RespType::Null:
      return "null";
    case RespType::Array:
      return "array";
    case RespType::NullArray:
      return "null-array";
  }
  return "?";
}

RespValue RespValue::status(std::string_view s) {
  RespValue v;
  v.type = RespType::Status;
  v.str = s;
  return v;
}
RespValue RespValue::error(std::string_view s) {
  RespValue v;
  v.type = RespType::Error;
  v.str = s;
  return v;
}
RespValue RespValue::integerValue(int64_t i) {
  RespValue v;
  v.type = RespType::Integer;
  v.integer = i;
  return v;
}
RespValue RespValue::bulk(std::string_view s) {
  RespValue v;
  v.type = RespType::Bulk;
  v.str = s;
  return v;
}
RespValue RespValue::null() { return RespValue{}; }
RespValue RespValue::nullArray() {
  RespValue v;
  v.type = RespType::NullArray;
  return v;
}
RespValue RespValue::array(std::vector<RespValue> elements) {
  RespValue v;
  v.type = RespType::Array;
  v.elements = std::move(elements);
  return v;
}

Result<RespValue> parseReply(std::string_view raw, const RespReaderLimits& limits) {
  if (raw.size() > limits.max_reply_bytes) {
    return makeError(ErrorCode::TooLarge, "protocol error: reply over the byte limit");
  }
  Parser p(raw, limits);
  RespValue v;
  size_t pos = 0;
  const Step s = p.parse(v, pos, 0);
  if (s != Step::Ok) return stepError(s, p.error());
  if (pos != raw.size()) {
    return makeError(ErrorCode::InvalidArgument, "protocol error: trailing bytes after reply");
  }
  return v;
}

}  // namespace kw::proxy::codec
