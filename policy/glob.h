// Redis-compatible glob matching (`*`, `?`, `[...]`, `[^...]`, ranges, `\` escapes) in linear time.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kw::policy {

// Semantics are those of Redis's stringmatchlen() (util.c, 7.0), byte for byte, including its
// quirks: an unterminated `[` runs to the end of the pattern, `[a-]x]` is the range a..']'
// followed by 'x' (the class goes on), `[]` matches nothing and `[^]` any byte, reversed ranges
// are swapped, range bounds compare as signed chars, a trailing lone `\` is a literal.
// One deliberate difference: a pattern made only of `*` matches the empty string (Redis 7.0's
// loop never runs on an empty string, so `*` does not match ""; Redis 8 and every other glob do).
//
// Unlike Redis's recursive matcher, matching here never backtracks: the pattern is split at `*`
// into fixed-width segments; the first and last are anchored, the middle ones are found leftmost
// by a bit-parallel (shift-and) scan. Cost: O(len(subject) * ceil(segment/64)) (B14).
class Glob {
 public:
  Glob() = default;
  explicit Glob(std::string_view pattern) { assign(pattern); }

  // Recompiles in place, reusing capacity (no allocation once warm).
  void assign(std::string_view pattern);

  [[nodiscard]] bool match(std::string_view subject) const;

  // True when the pattern is one fixed string (after unescaping) with no metacharacter.
  bool isLiteral() const { return !has_star_ && !has_meta_token_; }
  // True when the pattern is a literal followed by one or more `*` only ("foo:*", "*").
  bool isLiteralPrefix() const;
  // The fixed text that every match starts with (the unescaped literal tokens before the first
  // `?`, `[...]` or `*`).
  std::string literalPrefix() const;
  // True when some string that starts with `prefix` matches. Exact up to empty classes (`[]`)
  // after the first `*` or past the prefix, which it assumes satisfiable: it may say true for a
  // pattern that matches nothing, never false for one that can match such a string.
  [[nodiscard]] bool canMatchStartingWith(std::string_view prefix) const;
  bool matchesEverything() const {
    return segs_.size() == 2 && segs_[0].empty() && segs_[1].empty();
  }

 private:
  // A token matches exactly one byte: a literal, any byte, or a class (bitset index).
  struct Token {
    uint8_t kind;  // 0 literal, 1 any, 2 class
    uint8_t ch;
    uint16_t cls;
  };
  struct Segment {
    uint32_t begin = 0;  // token range
    uint32_t end = 0;
    uint32_t mask_off = 0;  // into masks_ (middle segments only): 256 * words uint64s
    uint32_t words = 0;
    bool empty() const { return begin == end; }
    uint32_t size() const { return end - begin; }
  };

  bool tokenAccepts(const Token& t, unsigned char c) const;
  bool matchAt(const Segment& s, std::string_view subject, size_t at) const;
  // Leftmost end position (exclusive) of `s` in subject[from, to), or npos.
  size_t findSegment(const Segment& s, std::string_view subject, size_t from, size_t to) const;
  void buildMasks(Segment& s);

  std::vector<Token> toks_;
  std::vector<std::array<uint64_t, 4>> classes_;
  std::vector<Segment> segs_;  // no star: 1 segment; k stars: k+1 segments (some may be empty)
  std::vector<uint64_t> masks_;
  bool has_star_ = false;
  bool has_meta_token_ = false;  // some `?` or `[...]`
};

// One-shot match (compiles, so it allocates): for tests and cold paths.
[[nodiscard]] bool globMatch(std::string_view pattern, std::string_view subject);

// True when `c` is special anywhere in a Redis glob (`*`, `?`, `[`, `\`).
inline bool isGlobMeta(char c) { return c == '*' || c == '?' || c == '[' || c == '\\'; }

// True when every string `inner` matches also matches `outer`, decided conservatively (a false
// answer may be wrong, a true one never is): equal pattern text, or `outer` is a literal prefix L
// followed by `*` and `inner` starts with the bytes of L with no metacharacter among them.
[[nodiscard]] bool globContains(const Glob& outer, std::string_view outer_text,
                                std::string_view inner);

}  // namespace kw::policy
