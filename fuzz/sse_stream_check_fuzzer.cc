// Fuzzes the REST subscription stream check: the verdict and what passes never depend on how the
// bytes are chunked, what passes is whole lines that pass again unchanged, and a partial line
// never grows past its bound.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/sse_stream_check.h"

namespace {

using kw::proxy::codec::SseStreamCheck;

struct Verdict {
  bool ok = true;
  std::string out;
  bool operator==(const Verdict&) const = default;
};

Verdict check(bool pattern, std::string_view in, size_t step) {
  SseStreamCheck c(pattern, pattern ? "news.*" : "chat", 256);
  Verdict v;
  for (size_t pos = 0; pos < in.size() && v.ok; pos += step) {
    v.ok = c.feed(in.substr(pos, step), v.out);
  }
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = 1 + data[0] % 17;
  const bool pattern = (data[1] & 1) != 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  const Verdict whole = check(pattern, in, in.empty() ? 1 : in.size());
  KW_FUZZ_CHECK(check(pattern, in, step) == whole);
  KW_FUZZ_CHECK(check(pattern, in, 1) == whole);
  KW_FUZZ_CHECK(whole.out.empty() || whole.out.back() == '\n');
  KW_FUZZ_CHECK(whole.out.size() <= in.size());
  const Verdict again = check(pattern, whole.out, whole.out.empty() ? 1 : whole.out.size());
  KW_FUZZ_CHECK(again.ok && again.out == whole.out);
  return 0;
}
