// Standard padded base64 encoder (hot path: every string in base64 mode) and a strict decoder.
#include "proxy/codec/base64.h"

#include <array>
#include <cstdint>

namespace kw::proxy::codec {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> makeDecodeTable() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr std::array<int8_t, 256> kDecode = makeDecodeTable();

}  // namespace

void appendBase64(std::string& out, std::string_view in) {
  const size_t old = out.size();
  out.resize(old + base64EncodedSize(in.size()));
  char* dst = out.data() + old;
  const auto* src = reinterpret_cast<const uint8_t*>(in.data());
  size_t n = in.size();
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t{src[i]} << 16) | (uint32_t{src[i + 1]} << 8) | src[i + 2];
    dst[0] = kAlphabet[(v >> 18) & 63];
    dst[1] = kAlphabet[(v >> 12) & 63];
    dst[2] = kAlphabet[(v >> 6) & 63];
    dst[3] = kAlphabet[v & 63];
    dst += 4;
  }
  const size_t rest = n - i;
  if (rest == 1) {
    const uint32_t v = uint32_t{src[i]} << 16;
    dst[0] = kAlphabet[(v >> 18) & 63];
    dst[1] = kAlphabet[(v >> 12) & 63];
    dst[2] = '=';
    dst[3] = '=';
  } else if (rest == 2) {
    const uint32_t v = (uint32_t{src[i]} << 16) | (uint32_t{src[i + 1]} << 8);
    dst[0] = kAlphabet[(v >> 18) & 63];
    dst[1] = kAlphabet[(v >> 12) & 63];
    dst[2] = kAlphabet[(v >> 6) & 63];
    dst[3] = '=';
  }
}

std::string base64Encode(std::string_view in) {
  std::string out;
  appendBase64(out, in);
  return out;
}

Result<std::string> base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) {
    return makeError(ErrorCode::InvalidArgument, "base64: length not a multiple of 4");
  }
  size_t pad = 0;
  if (!in.empty() && in.back() == '=') pad = (in.size() >= 2 && in[in.size() - 2] == '=') ? 2 : 1;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const size_t symbols = last ? 4 - pad : 4;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      int8_t d = 0;
      if (k < symbols) {
        d = kDecode[static_cast<uint8_t>(in[i + k])];
        if (d < 0) return makeError(ErrorCode::InvalidArgument, "base64: invalid character");
      }
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    out.push_back(static_cast<char>(v >> 16));
    if (symbols >= 3) out.push_back(static_cast<char>((v >> 8) & 0xff));
    if (symbols == 4) out.push_back(static_cast<char>(v & 0xff));
    if (symbols == 2 && (v & 0xffff) != 0) {
      return makeError(ErrorCode::InvalidArgument, "base64: non-zero padding bits");
    }
    if (symbols == 3 && (v & 0xff) != 0) {
      return makeError(ErrorCode::InvalidArgument, "base64: non-zero padding bits");
    }
  }
  return out;
}

}  // namespace kw::proxy::codec
