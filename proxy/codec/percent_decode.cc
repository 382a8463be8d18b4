// Strict percent-decoding: malformed escapes are errors, never passed through.
#include "proxy/codec/percent_decode.h"

#include <cstring>

namespace kw::proxy::codec {
namespace {

constexpr int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<size_t> percentDecode(std::string_view in, char* out, PlusMode plus) {
  size_t w = 0;
  size_t i = 0;
  while (i < in.size()) {
    // Copy the run up to the next '%' (or '+', in query mode) in one go.
    size_t j = i;
    while (j < in.size() && in[j] != '%' && !(plus == PlusMode::Space && in[j] == '+')) ++j;
    if (j > i) {
      std::memcpy(out + w, in.data() + i, j - i);
      w += j - i;
      i = j;
      continue;
    }
    if (in[i] == '+') {
      out[w++] = ' ';
      ++i;
      continue;
    }
    if (in.size() - i < 3) return std::nullopt;
    int hi = hexValue(in[i + 1]);
    int lo = hexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[w++] = static_cast<char>((hi << 4) | lo);
    i += 3;
  }
  return w;
}

}  // namespace kw::proxy::codec
