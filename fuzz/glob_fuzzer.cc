// Fuzzes the glob matcher against a port of Redis's stringmatchlen() and checks the
// containment/classification helpers for soundness.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz/glob_reference.h"
#include "policy/glob.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

// Input: pattern '\0' subject [ '\0' inner-pattern ].
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t cut = in.find('\0');
  const std::string_view pattern = in.substr(0, cut);
  std::string_view subject = cut == std::string_view::npos ? "" : in.substr(cut + 1);
  std::string_view inner;
  const size_t cut2 = subject.find('\0');
  if (cut2 != std::string_view::npos) {
    inner = subject.substr(cut2 + 1);
    subject = subject.substr(0, cut2);
  }
  const kw::policy::Glob g(pattern);
  const bool got = g.match(subject);
  // The reference is recursive; keep it on inputs where it stays fast.
  if (pattern.size() <= 64 && subject.size() <= 512) {
    check(got == kw::testing::redisGlobReference(pattern, subject));
  }
  if (g.isLiteral()) check(g.match(g.literalPrefix()));
  if (g.isLiteralPrefix()) {
    const std::string s = g.literalPrefix() + std::string(subject);
    check(g.match(s));
  }
  if (g.matchesEverything()) check(got);
  // canMatchStartingWith never says no for a prefix some match starts with (notification
  // channels): the subject's own head, and the keyspace prefix in front of it.
  if (!g.canMatchStartingWith(subject.substr(0, subject.size() / 2))) check(!got);
  if (pattern.size() <= 64 && subject.size() <= 512 && !g.canMatchStartingWith("__keyspace@")) {
    check(!kw::testing::redisGlobReference(pattern, "__keyspace@" + std::string(subject)));
  }
  // Containment is sound: whatever `inner` matches, the outer pattern matches too.
  if (!inner.empty() && kw::policy::globContains(g, pattern, inner) &&
      kw::policy::globMatch(inner, subject)) {
    check(got);
  }
  return 0;
}
