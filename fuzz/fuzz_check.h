// KW_FUZZ_CHECK(cond): a property violation aborts with the condition and line, so libFuzzer
// records the input as a crash (assert() would vanish under NDEBUG).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace kw::fuzz {
[[noreturn]] inline void checkFailed(const char* what, int line) {
  std::fprintf(stderr, "check failed: %s (line %d)\n", what, line);
  std::abort();
}
}  // namespace kw::fuzz

#define KW_FUZZ_CHECK(cond)                                \
  do {                                                     \
    if (!(cond)) ::kw::fuzz::checkFailed(#cond, __LINE__); \
  } while (0)
