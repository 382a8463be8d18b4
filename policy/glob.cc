// Compiles Redis globs into fixed-width segments and matches them without backtracking.
#include "policy/glob.h"

#include <algorithm>

namespace kw::policy {

namespace {

constexpr uint8_t kLiteral = 0;
constexpr uint8_t kAny = 1;
constexpr uint8_t kClass = 2;

void setBit(std::array<uint64_t, 4>& bits, unsigned c) { bits[c >> 6] |= uint64_t{1} << (c & 63); }

// Redis compares range bounds and the subject byte as (signed) char.
void addRange(std::array<uint64_t, 4>& bits, char lo, char hi) {
  int start = static_cast<signed char>(lo);
  int end = static_cast<signed char>(hi);
  if (start > end) std::swap(start, end);
  for (int v = start; v <= end; ++v) setBit(bits, static_cast<unsigned char>(static_cast<char>(v)));
}

}  // namespace

void Glob::assign(std::string_view p) {
  toks_.clear();
  classes_.clear();
  segs_.clear();
  masks_.clear();
  has_star_ = false;
  has_meta_token_ = false;
  Segment cur;
  size_t i = 0;
  const size_t n = p.size();
  while (i < n) {
    const char c = p[i];
    if (c == '*') {
      has_star_ = true;
      cur.end = static_cast<uint32_t>(toks_.size());
      segs_.push_back(cur);
      while (i < n && p[i] == '*') ++i;
      cur = Segment{};
      cur.begin = static_cast<uint32_t>(toks_.size());
      continue;
    }
    if (c == '?') {
      has_meta_token_ = true;
      toks_.push_back({kAny, 0, 0});
      ++i;
      continue;
    }
    if (c == '[') {
      // Mirrors the '[' branch of stringmatchlen() step by step (structure never depends on
      // the subject, so the class can be compiled ahead).
      has_meta_token_ = true;
      std::array<uint64_t, 4> bits{};
      ++i;
      bool negate = i < n && p[i] == '^';
      if (negate) ++i;
      while (true) {
        if (i < n && p[i] == '\\' && n - i >= 2) {
          ++i;
          setBit(bits, static_cast<unsigned char>(p[i]));
        } else if (i < n && p[i] == ']') {
          break;
        } else if (i >= n) {
          break;  // unterminated: the class ends with the pattern
        } else if (n - i >= 3 && p[i + 1] == '-') {
          addRange(bits, p[i], p[i + 2]);
          i += 2;
        } else {
          setBit(bits, static_cast<unsigned char>(p[i]));
        }
        ++i;
      }
      if (i < n) ++i;  // the closing ']'
      if (negate) {
        for (auto& w : bits) w = ~w;
      }
      classes_.push_back(bits);
      toks_.push_back({kClass, 0, static_cast<uint16_t>(classes_.size() - 1)});
      continue;
    }
    if (c == '\\' && n - i >= 2) ++i;
    toks_.push_back({kLiteral, static_cast<uint8_t>(p[i]), 0});
    ++i;
  }
  cur.end = static_cast<uint32_t>(toks_.size());
  segs_.push_back(cur);
  for (size_t s = 1; s + 1 < segs_.size(); ++s) buildMasks(segs_[s]);
}

void Glob::buildMasks(Segment& s) {
  s.words = (s.size() + 63) / 64;
  s.mask_off = static_cast<uint32_t>(masks_.size());
  masks_.resize(masks_.size() + size_t{256} * s.words, 0);
  for (uint32_t j = 0; j < s.size(); ++j) {
    const Token& t = toks_[s.begin + j];
    for (unsigned c = 0; c < 256; ++c) {
      if (tokenAccepts(t, static_cast<unsigned char>(c))) {
        masks_[s.mask_off + c * s.words + (j >> 6)] |= uint64_t{1} << (j & 63);
      }
    }
  }
}

bool Glob::tokenAccepts(const Token& t, unsigned char c) const {
  switch (t.kind) {
    case kLiteral:
      return t.ch == c;
    case kAny:
      return true;
    default:
      return (classes_[t.cls][c >> 6] >> (c & 63)) & 1;
  }
}

bool Glob::matchAt(const Segment& s, std::string_view subject, size_t at) const {
  for (uint32_t j = 0; j < s.size(); ++j) {
    if (!tokenAccepts(toks_[s.begin + j], static_cast<unsigned char>(subject[at + j]))) {
      return false;
    }
  }
  return true;
}

size_t Glob::findSegment(const Segment& s, std::string_view subject, size_t from, size_t to) const {
  const uint32_t m = s.size();
  if (m == 0) return from;
  if (to - from < m) return std::string_view::npos;
  const uint32_t w = s.words;
  const uint64_t* masks = masks_.data() + s.mask_off;
  const uint32_t top_word = (m - 1) >> 6;
  const uint64_t top_bit = uint64_t{1} << ((m - 1) & 63);
  // Shift-and over w words; 4 words (256 tokens) fit on the stack, longer segments are rare.
  uint64_t small[4] = {0, 0, 0, 0};
  std::vector<uint64_t> big;
  uint64_t* d = small;
  if (w > 4) {
    big.assign(w, 0);
    d = big.data();
  }
  for (size_t i = from; i < to; ++i) {
    const uint64_t* b = masks + static_cast<unsigned char>(subject[i]) * size_t{w};
    uint64_t carry = 1;
    for (uint32_t k = 0; k < w; ++k) {
      const uint64_t next_carry = d[k] >> 63;
      d[k] = ((d[k] << 1) | carry) & b[k];
      carry = next_carry;
    }
    if (d[top_word] & top_bit) return i + 1;
  }
  return std::string_view::npos;
}

bool Glob::match(std::string_view subject) const {
  if (segs_.empty()) return false;  // never assigned: matches nothing
  const Segment& first = segs_.front();
  if (!has_star_) {
    return subject.size() == first.size() && matchAt(first, subject, 0);
  }
  const Segment& last = segs_.back();
  if (subject.size() < size_t{first.size()} + last.size()) return false;
  if (!matchAt(first, subject, 0)) return false;
  const size_t tail = subject.size() - last.size();
  if (!matchAt(last, subject, tail)) return false;
  size_t pos = first.size();
  for (size_t s = 1; s + 1 < segs_.size(); ++s) {
    pos = findSegment(segs_[s], subject, pos, tail);
    if (pos == std::string_view::npos) return false;
  }
  return true;
}

bool Glob::isLiteralPrefix() const {
  if (has_meta_token_ || !has_star_) return false;
  // "lit*" (2 segments, last empty) or "*" / "**" (2 empty segments).
  return segs_.size() == 2 && segs_[1].empty();
}

std::string Glob::literalPrefix() const {
  std::string out;
  for (const Token& t : toks_) {
    if (t.kind != kLiteral) break;
    out.push_back(static_cast<char>(t.ch));
  }
  // Literal tokens after the first star are not part of the prefix.
  const size_t limit = segs_.front().size();
  if (out.size() > limit) out.resize(limit);
  return out;
}

bool Glob::canMatchStartingWith(std::string_view prefix) const {
  // A match is the first segment, then (after a star) anything: the star can absorb whatever of
  // the prefix the first segment does not cover. Without a star the match is exactly as long
  // as the one segment.
  if (segs_.empty()) return false;  // never assigned: matches nothing
  const Segment& first = segs_.front();
  if (!has_star_ && first.size() < prefix.size()) return false;
  const size_t n = std::min<size_t>(first.size(), prefix.size());
  for (size_t i = 0; i < n; ++i) {
    if (!tokenAccepts(toks_[first.begin + i], static_cast<unsigned char>(prefix[i]))) return false;
  }
  return true;
}

bool globMatch(std::string_view pattern, std::string_view subject) {
  return Glob(pattern).match(subject);
}

bool globContains(const Glob& outer, std::string_view outer_text, std::string_view inner) {
  if (inner == outer_text) return true;
  if (outer.matchesEverything()) return true;
  if (outer.isLiteralPrefix()) {
    const std::string lit = outer.literalPrefix();
    if (inner.size() < lit.size()) return false;
    for (size_t i = 0; i < lit.size(); ++i) {
      if (isGlobMeta(inner[i]) || inner[i] != lit[i]) return false;
    }
    return true;
  }
  if (outer.isLiteral()) {
    // Every match of `inner` must be the single string the literal outer accepts.
    const std::string lit = outer.literalPrefix();
    if (inner.size() != lit.size()) return false;
    for (size_t i = 0; i < lit.size(); ++i) {
      if (isGlobMeta(inner[i]) || inner[i] != lit[i]) return false;
    }
    return true;
  }
  return false;
}

}  // namespace kw::policy
