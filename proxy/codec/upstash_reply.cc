// Upstash REST reply bodies read with simdjson On Demand into RespValue trees over owned bytes.
#include "proxy/codec/upstash_reply.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "proxy/codec/base64.h"
#include "proxy/codec/json_input.h"

namespace kw::proxy::codec {

namespace {

constexpr uint32_t kMaxTreeDepth = 512;  // conversion recurses: a cap whatever the caller asks

constexpr const char* kBadJson = "invalid JSON";
constexpr const char* kBadEnvelope =
    "an envelope is not an object with exactly one of \"result\" or \"error\"";

Error bad(std::string_view why) {
  return makeError(ErrorCode::InvalidArgument, "upstash reply: " + std::string(why));
}
Error tooLarge(std::string_view what, uint64_t limit) {
  return makeError(ErrorCode::TooLarge, "upstash reply: " + std::string(what) +
                                            " over the limit of " + std::to_string(limit));
}

#define KW_TRY(expr)                                    \
  do {                                                  \
    Status kw_try_status_ = (expr);                     \
    if (!kw_try_status_) return kw_try_status_.error(); \
  } while (0)

// Converts envelopes, copying every string it keeps into `bytes` (room for the whole body:
// unescaped or base64-decoded text is never longer than its JSON token).
class Converter {
 public:
  Converter(char* bytes, size_t room, bool base64, const RespLimits& limits)
      : bytes_(bytes),
        room_(room),
        base64_(base64),
        limits_(limits),
        max_depth_(std::min(limits.max_depth, kMaxTreeDepth)) {}

  Status envelope(simdjson::ondemand::object obj, RespValue& out) {
    size_t fields = 0;
    for (auto f : obj) {
      simdjson::ondemand::field field;
      std::string_view key;
      if (std::move(f).get(field) || field.unescaped_key().get(key)) return bad(kBadJson);
      if (++fields > 1) return bad(kBadEnvelope);
      if (key == "result") {
        KW_TRY(value(field.value(), 0, true, out));
      } else if (key == "error") {
        std::string_view msg;
        if (field.value().get_string().get(msg)) return bad("an error is not a JSON string");
        KW_TRY(countValue());
        KW_TRY(keep(msg, msg));
        out = RespValue::error(msg);
      } else {
        return bad(kBadEnvelope);
      }
    }
    if (fields != 1) return bad(kBadEnvelope);
    return Ok{};
  }

 private:
  Status countValue() {
    if (++values_ > limits_.max_values) return tooLarge("values", limits_.max_values);
    return Ok{};
  }

  // Copies `s` into the owned bytes; `out` views the copy.
  Status keep(std::string_view s, std::string_view& out) {
    if (s.size() > limits_.max_bulk_bytes) return tooLarge("string bytes", limits_.max_bulk_bytes);
    if (s.size() > room_ - used_) return makeError(ErrorCode::Internal, "upstash reply: overflow");
    if (!s.empty()) std::memcpy(bytes_ + used_, s.data(), s.size());
    out = std::string_view(bytes_ + used_, s.size());
    used_ += s.size();
    return Ok{};
  }

  Status string(std::string_view s, bool top_level, RespValue& out) {
    std::string decoded;
    if (base64_) {
      // Upstash leaves a top-level OK unencoded; "OK" is not valid base64, so it cannot be data.
      if (top_level && s == "OK") {
        KW_TRY(keep(s, s));
        out = RespValue::status(s);
        return Ok{};
      }
      auto d = base64Decode(s);
      if (!d) return bad("a string is not valid base64");
      decoded = std::move(*d);
      s = decoded;
    }
    KW_TRY(keep(s, s));
    out = RespValue::bulk(s);
    return Ok{};
  }

  // `depth`: arrays around this value within its envelope.
  Status value(simdjson::ondemand::value v, uint32_t depth, bool top_level, RespValue& out) {
    KW_TRY(countValue());
    simdjson::ondemand::json_type type;
    if (v.type().get(type)) return bad(kBadJson);
    switch (type) {
      case simdjson::ondemand::json_type::string: {
        std::string_view s;
        if (v.get_string().get(s)) return bad(kBadJson);
        return string(s, top_level, out);
      }
      case simdjson::ondemand::json_type::number: {
        int64_t n = 0;  // get_int64 refuses fractions, exponents and what int64 cannot hold
        if (v.get_int64().get(n)) return bad("a number is not an int64 integer");
        out = RespValue::integerValue(n);
        return Ok{};
      }
      case simdjson::ondemand::json_type::null: {
        bool is_null = false;
        if (v.is_null().get(is_null) || !is_null) return bad(kBadJson);
        out = RespValue::null();
        return Ok{};
      }
      case simdjson::ondemand::json_type::array: {
        if (depth + 1 > max_depth_) return tooLarge("array nesting", max_depth_);
        simdjson::ondemand::array arr;
        if (v.get_array().get(arr)) return bad(kBadJson);
        out = RespValue::array({});
        for (auto e : arr) {
          simdjson::ondemand::value ev;
          if (e.get(ev)) return bad(kBadJson);
          out.elements.emplace_back();
          KW_TRY(value(ev, depth + 1, false, out.elements.back()));
        }
        return Ok{};
      }
      case simdjson::ondemand::json_type::object:
        return bad("an object is not a Redis value");
      case simdjson::ondemand::json_type::boolean:
        return bad("a boolean is not a Redis value");
    }
    return bad(kBadJson);
  }

  char* bytes_;
  size_t room_;
  size_t used_ = 0;
  bool base64_;
  const RespLimits& limits_;
  uint32_t max_depth_;
  uint64_t values_ = 0;
};

}  // namespace

Result<UpstashReply> parseUpstashReply(std::string_view body, UpstashBodyShape shape,
                                       size_t expected, bool base64, const RespLimits& limits) {
  if (body.size() > limits.max_reply_bytes) return tooLarge("body bytes", limits.max_reply_bytes);
  JsonInput input(body);

  UpstashReply reply;
  reply.bytes.reset(new char[std::max<size_t>(body.size(), 1)]);
  Converter conv(reply.bytes.get(), body.size(), base64, limits);
  simdjson::ondemand::document doc;
  if (input.iterate(doc)) {
    return bad(kBadJson);
  }
  simdjson::ondemand::object obj;
  if (shape == UpstashBodyShape::Single) {
    if (doc.get_object().get(obj)) return bad("the body is not a JSON object");
    KW_TRY(conv.envelope(obj, reply.values.emplace_back()));
  } else {
    simdjson::ondemand::array arr;
    if (doc.get_array().get(arr)) return bad("the body is not a JSON array");
    reply.values.reserve(std::min<size_t>(expected, 1024));
    for (auto e : arr) {
      if (reply.values.size() == expected) return bad("more envelopes than commands sent");
      simdjson::ondemand::value ev;
      if (e.get(ev)) return bad(kBadJson);
      if (ev.get_object().get(obj)) return bad(kBadEnvelope);
      KW_TRY(conv.envelope(obj, reply.values.emplace_back()));
    }
    if (reply.values.size() != expected) return bad("fewer envelopes than commands sent");
  }
  // Anything after the value (a second document, stray tokens) is an error.
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) != simdjson::OUT_OF_BOUNDS) return bad(kBadJson);
  return reply;
}

namespace {

Status checkEnvelope(const simdjson::dom::element& e) {
  simdjson::dom::object obj;
  if (e.get_object().get(obj) || obj.size() != 1) return bad(kBadEnvelope);
  const simdjson::dom::key_value_pair field = *obj.begin();
  if (field.key == "result") return Ok{};
  if (field.key == "error" && field.value.is_string()) return Ok{};
  return bad(kBadEnvelope);
}

}  // namespace

Status checkUpstashBody(std::string_view body, UpstashBodyShape shape, size_t expected) {
  // One parser per thread, its buffers kept: bodies checked here are at most the relay
  // threshold (larger ones stream), so its capacity is bounded at 1 MiB (a larger body is not
  // one keyward relays whole: refused, and the buffers stay small).
  thread_local simdjson::dom::parser parser(size_t{1} << 20);
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc)) return bad(kBadJson);
  if (shape == UpstashBodyShape::Single) return checkEnvelope(doc);
  simdjson::dom::array arr;
  if (doc.get_array().get(arr)) return bad("not an array of envelopes");
  if (arr.size() != expected) return bad("the array does not hold one envelope per command");
  for (simdjson::dom::element e : arr) KW_TRY(checkEnvelope(e));
  return Ok{};
}

}  // namespace kw::proxy::codec
