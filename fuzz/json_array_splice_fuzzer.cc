// Fuzzes the streaming pipeline splicer: chunking-independent, and every success has exactly
// upstream + inserted elements at top level with each insert at its slot.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/json_array_splice.h"

namespace {

using kw::proxy::codec::JsonArraySplicer;
using kw::proxy::codec::SplicedElement;

constexpr std::string_view kMark = "{\"error\":\"NOPERM fuzz\"}";

bool splice(std::string_view in, size_t count, const std::vector<size_t>& at, size_t step,
            std::string& out) {
  std::vector<SplicedElement> inserts;
  for (size_t a : at) inserts.push_back({a, std::string(kMark)});
  JsonArraySplicer s(count, std::move(inserts), 32);
  size_t pos = 0;
  while (pos < in.size()) {
    size_t n = step == 0 ? in.size() - pos : std::min(step, in.size() - pos);
    if (!s.feed(in.substr(pos, n), out)) return false;
    pos += n;
  }
  return s.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const size_t count = data[0] % 8;
  const size_t step = 1 + data[1] % 7;
  const unsigned mask = data[2];  // which of the first 8 slots are denied
  std::string_view in(reinterpret_cast<const char*>(data) + 3, size - 3);
  std::vector<size_t> at;
  for (size_t slot = 0, up = 0; slot < 16 && (up < count || (mask >> slot & 1)); ++slot) {
    if (slot < 8 && (mask >> slot & 1)) {
      at.push_back(slot);
    } else {
      ++up;
    }
  }
  std::string whole, split;
  const bool ok = splice(in, count, at, 0, whole);
  KW_FUZZ_CHECK(ok == splice(in, count, at, step, split));
  if (!ok) return 0;
  KW_FUZZ_CHECK(whole == split);
  // The output is again a well-formed array, of count + inserts elements.
  std::string again;
  KW_FUZZ_CHECK(splice(whole, count + at.size(), {}, 0, again));
  KW_FUZZ_CHECK(again == whole);
  return 0;
}
