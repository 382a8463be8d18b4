// Strict base64url (no padding) shared by JWT handling and API key checks.
#include "policy/base64url.h"

#include <array>
#include <cstdint>

namespace kw::policy {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// 0-63 for the alphabet, 64 for every other byte.
constexpr auto kDecode = [] {
  std::array<uint8_t, 256> t{};
  t.fill(64);
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<uint8_t>(i);
  }
  return t;
}();

}  // namespace

// Whole 4-character groups into 3 bytes at a time (no per-byte append), then the 2 or 3
// characters of a short last group.
bool base64UrlDecode(std::string_view in, std::string& out) {
  out.clear();
  const size_t tail = in.size() % 4;
  if (tail == 1) return false;
  const size_t groups = in.size() / 4;
  out.resize(groups * 3 + (tail == 0 ? 0 : tail - 1));
  const auto* src = reinterpret_cast<const uint8_t*>(in.data());
  char* dst = out.data();
  for (size_t g = 0; g < groups; ++g, src += 4, dst += 3) {
    const uint32_t a = kDecode[src[0]], b = kDecode[src[1]], c = kDecode[src[2]],
                   d = kDecode[src[3]];
    if ((a | b | c | d) & 64) return false;
    const uint32_t v = a << 18 | b << 12 | c << 6 | d;
    dst[0] = static_cast<char>(v >> 16);
    dst[1] = static_cast<char>(v >> 8 & 0xff);
    dst[2] = static_cast<char>(v & 0xff);
  }
  if (tail == 0) return true;
  const uint32_t a = kDecode[src[0]], b = kDecode[src[1]], c = tail == 3 ? kDecode[src[2]] : 0;
  if ((a | b | c) & 64) return false;
  const uint32_t v = a << 18 | b << 12 | c << 6;
  dst[0] = static_cast<char>(v >> 16);
  if (tail == 3) dst[1] = static_cast<char>(v >> 8 & 0xff);
  // Leftover bits must be zero, so each byte string has exactly one encoding.
  return (tail == 2 ? (v & 0xffff) : (v & 0xff)) == 0;
}

std::string base64UrlEncode(std::string_view in) {
  const size_t groups = in.size() / 3;
  const size_t rest = in.size() % 3;
  std::string out(groups * 4 + (rest == 0 ? 0 : rest + 1), '\0');
  const auto* src = reinterpret_cast<const uint8_t*>(in.data());
  char* dst = out.data();
  for (size_t g = 0; g < groups; ++g, src += 3, dst += 4) {
    const uint32_t v = uint32_t{src[0]} << 16 | uint32_t{src[1]} << 8 | src[2];
    dst[0] = kAlphabet[v >> 18];
    dst[1] = kAlphabet[v >> 12 & 0x3f];
    dst[2] = kAlphabet[v >> 6 & 0x3f];
    dst[3] = kAlphabet[v & 0x3f];
  }
  if (rest != 0) {
    const uint32_t v = uint32_t{src[0]} << 16 | (rest == 2 ? uint32_t{src[1]} << 8 : 0);
    dst[0] = kAlphabet[v >> 18];
    dst[1] = kAlphabet[v >> 12 & 0x3f];
    if (rest == 2) dst[2] = kAlphabet[v >> 6 & 0x3f];
  }
  return out;
}

}  // namespace kw::policy
