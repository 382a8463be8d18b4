// Fuzzes the streamed-reply check: the verdict never depends on how the bytes are chunked, and a
// JSON object simdjson accepts whole (nested at most 512 deep) is never refused, and bytes that
// are not UTF-8 never pass.
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/json_stream_check.h"

namespace {

using kw::proxy::codec::JsonStreamCheck;

struct Verdict {
  bool ok = true;
  bool complete = false;
  bool operator==(const Verdict&) const = default;
};

Verdict check(std::string_view in, size_t step) {
  JsonStreamCheck c;
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
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Verdict whole = check(in, in.empty() ? 1 : in.size());
  KW_FUZZ_CHECK(check(in, step) == whole);
  KW_FUZZ_CHECK(check(in, 1) == whole);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (!parser.parse(in.data(), in.size()).get(doc) && doc.is_object() && maxDepth(in) <= 512) {
    KW_FUZZ_CHECK(whole.complete);
  }
  // Bytes that are not UTF-8 never pass as a whole reply (outside strings only ASCII is taken).
  if (!simdjson::validate_utf8(in.data(), in.size())) KW_FUZZ_CHECK(!whole.complete);
  return 0;
}
