// Fuzzes Upstash REST reply parsing. Raw bodies: never crash, stay within the limits, agree with
// a simdjson DOM reference, and re-render (reply_json) to bodies that parse to the same values.
// Values derived from the input: rendered by appendEnvelope, plain and base64, they parse back.
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/base64.h"
#include "proxy/codec/json_escape.h"
#include "proxy/codec/reply_json.h"
#include "proxy/codec/upstash_reply.h"

using namespace kw::proxy::codec;  // NOLINT(google-build-using-namespace): harness only

namespace {

using V = RespValue;
using Strings = std::deque<std::string>;  // owns the harness's strings (stable addresses)

std::string_view save(Strings& s, std::string_view v) { return s.emplace_back(v); }

// The reference: the same mapping over simdjson's DOM (full validation before any conversion).
struct Reference {
  bool base64;
  const RespLimits& lim;
  Strings& strings;
  uint64_t values = 0;

  bool counted() { return ++values <= lim.max_values; }
  bool keep(std::string_view s, std::string_view& out) {
    if (s.size() > lim.max_bulk_bytes) return false;
    out = save(strings, s);
    return true;
  }
  bool value(simdjson::dom::element e, uint32_t depth, bool top, V& out) {
    if (!counted()) return false;
    switch (e.type()) {
      case simdjson::dom::element_type::ARRAY:
        if (depth + 1 > std::min<uint32_t>(lim.max_depth, 512)) return false;
        out = V::array({});
        for (simdjson::dom::element x : simdjson::dom::array(e)) {
          if (!value(x, depth + 1, false, out.elements.emplace_back())) return false;
        }
        return true;
      case simdjson::dom::element_type::STRING: {
        std::string_view s = e.get_string().value_unsafe();
        if (base64 && top && s == "OK") {
          out = V::status("OK");
          return true;
        }
        std::string decoded(s);
        if (base64) {
          auto d = base64Decode(s);
          if (!d) return false;
          decoded = *d;
        }
        out = V::bulk({});
        return keep(decoded, out.str);
      }
      case simdjson::dom::element_type::INT64:
        out = V::integerValue(e.get_int64().value_unsafe());
        return true;
      case simdjson::dom::element_type::NULL_VALUE:
        out = V::null();
        return true;
      default:
        return false;
    }
  }
  bool envelope(simdjson::dom::element e, V& out) {
    simdjson::dom::object obj;
    if (e.get_object().get(obj) || obj.size() != 1) return false;
    const auto field = *obj.begin();
    if (field.key == "result") return value(field.value, 0, true, out);
    std::string_view msg;
    if (field.key != "error" || field.value.get_string().get(msg) || !counted()) return false;
    out = V::error({});
    return keep(msg, out.str);
  }
  bool parse(std::string_view body, UpstashBodyShape shape, size_t expected, std::vector<V>& out) {
    static simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (body.size() > lim.max_reply_bytes || parser.parse(body.data(), body.size()).get(root)) {
      return false;
    }
    if (shape == UpstashBodyShape::Single) return envelope(root, out.emplace_back());
    simdjson::dom::array arr;
    if (root.get_array().get(arr) || arr.size() != expected) return false;
    for (simdjson::dom::element e : arr) {
      if (!envelope(e, out.emplace_back())) return false;
    }
    return true;
  }
};

uint64_t checkBounds(const V& v, uint32_t depth, const RespLimits& lim, const char* lo,
                     const char* hi) {
  KW_FUZZ_CHECK(v.type != RespType::NullArray && (!v.isArray() || depth < lim.max_depth));
  if (!v.str.empty()) {
    KW_FUZZ_CHECK(v.str.size() <= lim.max_bulk_bytes);
    KW_FUZZ_CHECK(v.str.data() >= lo && v.str.data() + v.str.size() <= hi);  // owned bytes
  }
  uint64_t n = 1;
  for (const V& e : v.elements) n += checkBounds(e, depth + 1, lim, lo, hi);
  return n;
}

std::string render(const std::vector<V>& values, UpstashBodyShape shape, bool base64) {
  const ReplyEncoding enc = base64 ? ReplyEncoding::Base64 : ReplyEncoding::Plain;
  return shape == UpstashBodyShape::Single ? singleReplyJson(values.at(0), enc)
                                           : pipelineJson(values, enc);
}

void checkRaw(std::string_view body, UpstashBodyShape shape, size_t expected, bool base64,
              const RespLimits& lim) {
  auto got = parseUpstashReply(body, shape, expected, base64, lim);
  // The relay's frame check is looser than the parser about values, never about the frame:
  // whatever the parser takes whole, it takes too (and it never quotes the body).
  const kw::Status frame = checkUpstashBody(body, shape, expected);
  if (got.has_value()) KW_FUZZ_CHECK(frame.has_value());
  if (!frame) KW_FUZZ_CHECK(frame.error().message.starts_with("upstash reply: "));
  Strings strings;
  Reference ref{base64, lim, strings};
  std::vector<V> want;
  const bool ok = ref.parse(body, shape, expected, want);
  KW_FUZZ_CHECK(got.has_value() == ok);
  if (!ok) {
    KW_FUZZ_CHECK(got.error().message.starts_with("upstash reply: "));
    return;
  }
  KW_FUZZ_CHECK(got->values == want);
  KW_FUZZ_CHECK(got->values.size() == (shape == UpstashBodyShape::Single ? 1 : expected));
  uint64_t n = 0;
  const char* lo = got->bytes.get();
  for (const V& v : got->values) n += checkBounds(v, 0, lim, lo, lo + body.size());
  KW_FUZZ_CHECK(n <= lim.max_values);
  // What keyward would send on parses back the same (views survive the move into `moved`).
  UpstashReply moved = std::move(*got);
  auto again = parseUpstashReply(render(moved.values, shape, base64), shape, moved.values.size(),
                                 base64, RespLimits{});
  KW_FUZZ_CHECK(again.has_value() && again->values == moved.values);
}

// Derives values from the input bytes; the stream reads as zeros once exhausted.
struct Gen {
  const uint8_t* p;
  size_t n;
  Strings& strings;
  uint8_t next() { return n > 0 ? (--n, *p++) : 0; }
  std::string_view str() {
    const uint8_t len = next() % 16;
    if (len == 15) return "OK";
    std::string s;
    for (uint8_t i = 0; i < len; ++i) s.push_back(static_cast<char>(next()));
    return save(strings, s);
  }
  V value(int depth) {
    switch (next() % 8) {
      case 0:
        return V::status(str());
      case 1:
        return V::error(str());
      case 2: {
        uint64_t u = 0;
        for (int i = 0; i < 8; ++i) u = u << 8 | next();
        return V::integerValue(static_cast<int64_t>(u));
      }
      case 3:
        return V::null();
      case 4:
        return V::nullArray();
      case 5:
        if (depth < 4) {
          std::vector<V> e(next() % 5);
          for (V& x : e) x = value(depth + 1);
          return V::array(std::move(e));
        }
        [[fallthrough]];
      default:
        return V::bulk(str());
    }
  }
};

// What a JSON string of `s` reads back as in plain mode (invalid UTF-8 was repaired).
std::string_view plainText(std::string_view s, Strings& strings) {
  if (isValidUtf8(s)) return s;
  static simdjson::dom::parser parser;
  std::string_view back;
  KW_FUZZ_CHECK(parser.parse(jsonString(s)).get_string().get(back) == simdjson::SUCCESS);
  return save(strings, back);
}

// The renderer's rules reversed: a nested error became a string, NullArray null, a Status is
// Status only as a base64 top-level "OK"; plain strings were UTF-8-repaired, errors always.
V expectedBack(const V& v, bool base64, bool top, Strings& strings) {
  switch (v.type) {
    case RespType::Status:
      if (base64 && top && v.str == "OK") return v;
      return V::bulk(base64 ? v.str : plainText(v.str, strings));
    case RespType::Error:
      if (top) return V::error(plainText(v.str, strings));
      return V::bulk(base64 ? v.str : plainText(v.str, strings));
    case RespType::Bulk:
      return V::bulk(base64 ? v.str : plainText(v.str, strings));
    case RespType::NullArray:
      return V::null();
    case RespType::Array: {
      std::vector<V> e;
      for (const V& x : v.elements) e.push_back(expectedBack(x, base64, false, strings));
      return V::array(std::move(e));
    }
    case RespType::Integer:
    case RespType::Null:
      return v;
  }
  return v;
}

void checkRoundTrip(const uint8_t* data, size_t size) {
  Strings strings;
  Gen gen{data, size, strings};
  const auto shape = gen.next() & 1 ? UpstashBodyShape::Array : UpstashBodyShape::Single;
  std::vector<V> values(shape == UpstashBodyShape::Single ? 1 : gen.next() % 6);
  for (V& v : values) v = gen.value(0);
  for (bool base64 : {false, true}) {
    const std::string body = render(values, shape, base64);
    auto got = parseUpstashReply(body, shape, values.size(), base64, RespLimits{});
    KW_FUZZ_CHECK(got.has_value());
    KW_FUZZ_CHECK(got->values.size() == values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      KW_FUZZ_CHECK(got->values[i] == expectedBack(values[i], base64, true, strings));
    }
  }
}

}  // namespace

// Byte 0: bit 0 base64, bit 1 Array shape, bit 2 tight limits; byte 1: the expected count. The
// rest is the body. The whole input also seeds the derived values.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  RespLimits lim;
  if (data[0] & 4) {
    lim.max_reply_bytes = 256;
    lim.max_bulk_bytes = 8;
    lim.max_values = 12;
    lim.max_depth = 3;
  }
  const auto shape = data[0] & 2 ? UpstashBodyShape::Array : UpstashBodyShape::Single;
  checkRaw(std::string_view(reinterpret_cast<const char*>(data) + 2, size - 2), shape, data[1] % 8,
           (data[0] & 1) != 0, lim);
  checkRoundTrip(data, size);
  return 0;
}
