// Fuzzes the streamed resp2 reply check: the verdict never depends on how the bytes are
// chunked, and it agrees with framing the whole body reply by reply with RespParser.
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/resp_parser.h"
#include "proxy/codec/resp_stream_check.h"

namespace {

using kw::proxy::codec::RespLimits;
using kw::proxy::codec::RespParser;
using kw::proxy::codec::RespStreamCheck;

struct Verdict {
  bool ok = true;
  bool complete = false;
  bool operator==(const Verdict&) const = default;
};

Verdict check(size_t count, std::string_view in, size_t step) {
  RespStreamCheck c(count);
  Verdict v;
  for (size_t pos = 0; pos < in.size() && v.ok; pos += step) v.ok = c.feed(in.substr(pos, step));
  v.complete = v.ok && c.complete();
  return v;
}

// Exactly `count` replies filling `in`, framed whole.
bool wholeReplies(size_t count, std::string_view in) {
  const RespLimits limits;
  for (size_t i = 0; i < count; ++i) {
    RespParser parser(&limits);
    size_t length = 0;
    if (parser.scan(in, length) != RespParser::Status::Complete) return false;
    in.remove_prefix(length);
  }
  return in.empty();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = 1 + data[0] % 17;
  const size_t count = 1 + data[1] % 4;
  const std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  const Verdict whole = check(count, in, in.empty() ? 1 : in.size());
  KW_FUZZ_CHECK(check(count, in, step) == whole);
  KW_FUZZ_CHECK(check(count, in, 1) == whole);
  KW_FUZZ_CHECK(whole.complete == wholeReplies(count, in));
  return 0;
}
