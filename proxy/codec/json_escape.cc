// JSON string escaping with invalid-UTF-8 repair (one U+FFFD per maximal ill-formed subpart).
#include "proxy/codec/json_escape.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace kw::proxy::codec {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// 1: byte needs escaping (control, '"', '\\'); 2: non-ASCII (UTF-8 check); 0: copy as is.
constexpr std::array<uint8_t, 256> makeClassTable() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 1;
  t['"'] = 1;
  t['\\'] = 1;
  for (int c = 0x80; c < 0x100; ++c) t[c] = 2;
  return t;
}
constexpr std::array<uint8_t, 256> kClass = makeClassTable();

// Bytes appendEscape adds beyond the byte itself, for ASCII (non-ASCII: 0, checked apart).
constexpr std::array<uint8_t, 256> makeGrowthTable() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 5;  // \u00XX
  for (int c : {'"', '\\', '\b', '\f', '\n', '\r', '\t'}) t[c] = 1;
  return t;
}
constexpr std::array<uint8_t, 256> kGrowth = makeGrowthTable();
constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHigh = 0x8080808080808080ULL;

// Length of the well-formed UTF-8 sequence starting at s[i] (s[i] >= 0x80), or 0 if ill-formed;
// when 0, `bad` is the length of the maximal ill-formed subpart to replace (>= 1).
size_t utf8Sequence(const uint8_t* s, size_t n, size_t i, size_t& bad) {
  const uint8_t c = s[i];
  size_t need = 0;
  uint8_t lo = 0x80;
  uint8_t hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    bad = 1;
    return 0;
  }
  size_t k = 1;
  for (; k <= need; ++k) {
    if (i + k >= n) break;
    const uint8_t b = s[i + k];
    const uint8_t l = k == 1 ? lo : 0x80;
    const uint8_t h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) break;
  }
  if (k == need + 1) return need + 1;
  bad = k;  // lead plus the continuation bytes that were valid so far
  return 0;
}

void appendEscape(std::string& out, uint8_t c) {
  switch (c) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '\b':
      out += "\\b";
      return;
    case '\f':
      out += "\\f";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default: {
      static constexpr char kHex[] = "0123456789abcdef";
      const char buf[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
      out.append(buf, 6);
      return;
    }
  }
}

}  // namespace

bool isValidUtf8(std::string_view sv) {
  const auto* s = reinterpret_cast<const uint8_t*>(sv.data());
  const size_t n = sv.size();
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    size_t bad = 0;
    const size_t len = utf8Sequence(s, n, i, bad);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

size_t appendJsonStringPart(std::string& out, std::string_view sv, size_t from, size_t max_in) {
  // Stops only where the whole-string walk stands (after a complete unit), and looks ahead in
  // the whole string: pieces concatenate to exactly the whole string's content.
  const auto* s = reinterpret_cast<const uint8_t*>(sv.data());
  const size_t n = sv.size();
  const size_t limit = max_in >= n - from ? n : from + max_in;
  size_t run = from;  // start of the pending run of bytes to copy verbatim
  size_t i = from;
  while (i < limit) {
    const uint8_t cls = kClass[s[i]];
    if (cls == 0) {
      ++i;
      continue;
    }
    if (cls == 2) {
      size_t bad = 0;
      const size_t len = utf8Sequence(s, n, i, bad);
      if (len != 0) {
        i += len;
        continue;
      }
      out.append(sv.data() + run, i - run);
      out += kReplacement;
      i += bad;
      run = i;
      continue;
    }
    out.append(sv.data() + run, i - run);
    appendEscape(out, s[i]);
    ++i;
    run = i;
  }
  out.append(sv.data() + run, i - run);
  return i;
}

std::string jsonString(std::string_view s) {
  std::string out;
  appendJsonString(out, s);
  return out;
}

void appendJsonString(std::string& out, std::string_view sv) {
  out.reserve(out.size() + sv.size() + 2);
  out.push_back('"');
  appendJsonStringPart(out, sv, 0, sv.size());
  out.push_back('"');
}

size_t jsonStringSizePart(std::string_view sv, size_t from, size_t max_in, uint64_t& size) {
  // Same walk as appendJsonString: ASCII adds its escape's growth (8 bytes at a time when none
  // is non-ASCII: a 56 MiB reply is sized before its head is sent, synchronously), non-ASCII
  // takes the UTF-8 check.
  const auto* s = reinterpret_cast<const uint8_t*>(sv.data());
  const size_t n = sv.size();
  const size_t limit = max_in >= n - from ? n : from + max_in;
  size += limit - from;  // each byte once; escapes and repairs add their growth
  size_t i = from;
  while (i < limit) {
    if (n - i >= 8) {
      uint64_t w;
      std::memcpy(&w, s + i, 8);
      if ((w & kHigh) == 0) {
        // SWAR: is any byte < 0x20, '"' or '\\'? (All are < 0x80 here.) Most words: none.
        const uint64_t ctl = (w - kOnes * 0x20) & ~w & kHigh;
        const uint64_t quote = ((w ^ (kOnes * '"')) - kOnes) & ~(w ^ (kOnes * '"')) & kHigh;
        const uint64_t bslash = ((w ^ (kOnes * '\\')) - kOnes) & ~(w ^ (kOnes * '\\')) & kHigh;
        if ((ctl | quote | bslash) != 0) {
          size += kGrowth[s[i]] + kGrowth[s[i + 1]] + kGrowth[s[i + 2]] + kGrowth[s[i + 3]] +
                  kGrowth[s[i + 4]] + kGrowth[s[i + 5]] + kGrowth[s[i + 6]] + kGrowth[s[i + 7]];
        }
        i += 8;
        continue;
      }
    }
    const uint8_t c = s[i];
    if (c < 0x80) {
      size += kGrowth[c];
      ++i;
      continue;
    }
    size_t bad = 0;
    const size_t len = utf8Sequence(s, n, i, bad);
    if (len != 0) {
      i += len;
      continue;
    }
    size = size - bad + kReplacement.size();
    i += bad;
  }
  size += i - limit;  // a unit that ended past the limit (its bytes were not counted yet)
  return i;
}

size_t jsonStringSize(std::string_view sv) {
  uint64_t size = 2;
  jsonStringSizePart(sv, 0, sv.size(), size);
  return static_cast<size_t>(size);
}

}  // namespace kw::proxy::codec
