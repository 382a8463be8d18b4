// Fuzzes the streamed-reply check against the held one (checkUpstashBody): the verdict never
// depends on how the bytes are chunked; a reply the held check accepts (nested at most 512 deep,
// no escapes) is never refused; a streamed reply that passes and is valid JSON is one the held
// check accepts; bytes that are not UTF-8 never pass. The first byte picks the chunk size and
// the shape (one envelope, or an array of them).
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/json_stream_check.h"
#include "proxy/codec/upstash_reply.h"

namespace {

using kw::proxy::codec::JsonShape;
using kw::proxy::codec::JsonStreamCheck;
using kw::proxy::codec::UpstashBodyShape;

struct Verdict {
  bool ok = true;
  bool complete = false;
  bool operator==(const Verdict&) const = default;
};

Verdict check(std::string_view in, size_t step, JsonShape shape) {
  JsonStreamCheck c(shape);
  Verdict v;
  for (size_t pos = 0; pos < in.size() && v.ok; pos += step) {
    v.ok = c.feed(in.substr(pos, step));
  }
  v.complete = v.ok && c.complete();
  return v;
}

uint32_t maxDepth(std::string_view in) {
  uint32_t depth = 0, most = 0;
  bool str = false, esc = false;
  for (char c : in) {
    if (str) {
      if (esc) {
        esc = false;
      } else if (c == '\\') {
        esc = true;
      } else if (c == '"') {
        str = false;
      }
    } else if (c == '"') {
      str = true;
    } else if (c == '{' || c == '[') {
      most = std::max(most, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return most;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = 1 + data[0] % 17;
  const bool array = (data[0] & 0x80) != 0;
  const JsonShape shape = array ? JsonShape::EnvelopeArray : JsonShape::Envelope;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Verdict whole = check(in, in.empty() ? 1 : in.size(), shape);
  KW_FUZZ_CHECK(check(in, step, shape) == whole);
  KW_FUZZ_CHECK(check(in, 1, shape) == whole);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (!parser.parse(in.data(), in.size()).get(doc)) {
    simdjson::dom::array arr;
    const size_t count = !array || doc.get_array().get(arr) ? 0 : arr.size();
    const bool held = kw::proxy::codec::checkUpstashBody(
                          in, array ? UpstashBodyShape::Array : UpstashBodyShape::Single, count)
                          .has_value();
    if (whole.complete) KW_FUZZ_CHECK(held);
    // Escaped keys are refused here ("written plainly"), accepted held.
    if (held && maxDepth(in) <= 512 && in.find('\\') == std::string_view::npos) {
      KW_FUZZ_CHECK(whole.complete);
    }
  }
  // Bytes that are not UTF-8 never pass as a whole reply (outside strings only ASCII is taken).
  if (!simdjson::validate_utf8(in.data(), in.size())) KW_FUZZ_CHECK(!whole.complete);
  return 0;
}
