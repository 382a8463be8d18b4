// Reference glob matcher for tests and fuzzers: a line-by-line port of Redis 7.0's recursive
// stringmatchlen() (util.c, case-sensitive), bounds-checked instead of relying on a NUL byte.
// Exponential in the worst case (Redis caps nesting at 1000): use only on short inputs.
#pragma once

#include <string_view>

namespace kw::testing {

inline int redisMatchImpl(const char* pattern, int plen, const char* string, int slen,
                          int* skip_longer, int nesting) {
  const char* const pend = pattern + plen;
  auto at = [&](const char* p) -> char { return p < pend ? *p : '\0'; };
  if (nesting > 1000) return 0;
  while (plen && slen) {
    switch (pattern[0]) {
      case '*':
        while (plen && at(pattern + 1) == '*') {
          pattern++;
          plen--;
        }
        if (plen == 1) return 1;
        while (slen) {
          if (redisMatchImpl(pattern + 1, plen - 1, string, slen, skip_longer, nesting + 1)) {
            return 1;
          }
          if (*skip_longer) return 0;
          string++;
          slen--;
        }
        *skip_longer = 1;
        return 0;
      case '?':
        string++;
        slen--;
        break;
      case '[': {
        pattern++;
        plen--;
        const bool negate = at(pattern) == '^';
        if (negate) {
          pattern++;
          plen--;
        }
        bool match = false;
        while (true) {
          if (at(pattern) == '\\' && plen >= 2) {
            pattern++;
            plen--;
            if (pattern[0] == string[0]) match = true;
          } else if (plen > 0 && pattern[0] == ']') {
            break;
          } else if (plen == 0) {
            pattern--;
            plen++;
            break;
          } else if (plen >= 3 && pattern[1] == '-') {
            int start = static_cast<signed char>(pattern[0]);
            int end = static_cast<signed char>(pattern[2]);
            const int c = static_cast<signed char>(string[0]);
            if (start > end) {
              const int t = start;
              start = end;
              end = t;
            }
            pattern += 2;
            plen -= 2;
            if (c >= start && c <= end) match = true;
          } else {
            if (pattern[0] == string[0]) match = true;
          }
          pattern++;
          plen--;
        }
        if (negate) match = !match;
        if (!match) return 0;
        string++;
        slen--;
        break;
      }
      case '\\':
        if (plen >= 2) {
          pattern++;
          plen--;
        }
        [[fallthrough]];
      default:
        if (pattern[0] != string[0]) return 0;
        string++;
        slen--;
        break;
    }
    pattern++;
    plen--;
    if (slen == 0) {
      while (plen > 0 && *pattern == '*') {
        pattern++;
        plen--;
      }
      break;
    }
  }
  return plen == 0 && slen == 0;
}

// Redis 7.0 semantics except that an all-`*` pattern matches the empty string (see glob.h).
inline bool redisGlobReference(std::string_view pattern, std::string_view subject) {
  if (subject.empty()) {
    for (char c : pattern) {
      if (c != '*') return false;
    }
    return true;
  }
  int skip = 0;
  return redisMatchImpl(pattern.data(), static_cast<int>(pattern.size()), subject.data(),
                        static_cast<int>(subject.size()), &skip, 0) != 0;
}

}  // namespace kw::testing
