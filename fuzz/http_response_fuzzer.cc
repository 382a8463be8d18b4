// Fuzzes the upstream HTTP response parser: bounded, and independent of how bytes are split.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/http_response_parser.h"

namespace {

using kw::proxy::codec::HttpResponseLimits;
using kw::proxy::codec::HttpResponseParser;
using Status = HttpResponseParser::Status;

struct Outcome {
  Status status = Status::NeedMore;
  std::string body;
  size_t consumed = 0;
  int code = 0;
};

Outcome run(std::string_view in, size_t step, const HttpResponseLimits& limits) {
  HttpResponseParser p(limits);
  Outcome o;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t n = step == 0 ? in.size() - pos : std::min(step, in.size() - pos);
    size_t used = 0;
    o.status = p.feed(in.data() + pos, n, &used, o.body);
    KW_FUZZ_CHECK(used <= n);
    pos += used;
    if (o.status != Status::NeedMore) break;
    KW_FUZZ_CHECK(used == n);  // NeedMore consumes everything it was given
  }
  o.consumed = pos;
  o.code = p.headComplete() ? p.status() : 0;
  if (p.headComplete()) {
    KW_FUZZ_CHECK(p.status() >= 200 && p.status() <= 999);
    KW_FUZZ_CHECK(p.headers().size() <= limits.max_header_count);
  }
  KW_FUZZ_CHECK(o.body.size() <= limits.max_body_bytes);
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t step = 1 + data[0] % 13;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  HttpResponseLimits limits;
  limits.max_head_bytes = 2048;
  limits.max_header_count = 20;
  limits.max_body_bytes = 4096;
  Outcome whole = run(in, 0, limits);
  Outcome split = run(in, step, limits);
  KW_FUZZ_CHECK(whole.status == split.status);
  KW_FUZZ_CHECK(whole.code == split.code);
  if (whole.status != Status::Error) {
    KW_FUZZ_CHECK(whole.body == split.body);
    KW_FUZZ_CHECK(whole.consumed == split.consumed);
  }
  return 0;
}
