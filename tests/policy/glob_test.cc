// Tests for the Redis-compatible glob matcher: a fixed table, random parity with a port of
// Redis's stringmatchlen(), classification helpers and linear-time behaviour (B14).
#include "policy/glob.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>

#include "fuzz/glob_reference.h"

namespace kw::policy {
namespace {

struct Case {
  const char* pattern;
  std::string subject;
  bool expected;
};

class GlobTableTest : public ::testing::TestWithParam<Case> {};

TEST_P(GlobTableTest, MatchesLikeRedis) {
  const Case& c = GetParam();
  EXPECT_EQ(globMatch(c.pattern, c.subject), c.expected) << c.pattern << " vs " << c.subject;
  EXPECT_EQ(kw::testing::redisGlobReference(c.pattern, c.subject), c.expected)
      << "reference disagrees: " << c.pattern << " vs " << c.subject;
}

INSTANTIATE_TEST_SUITE_P(
    Table, GlobTableTest,
    ::testing::Values(
        Case{"", "", true}, Case{"", "a", false}, Case{"a", "", false}, Case{"*", "", true},
        Case{"**", "", true}, Case{"*", "anything", true}, Case{"a*", "a", true},
        Case{"a*", "abc", true}, Case{"a*", "ba", false}, Case{"*a", "ba", true},
        Case{"*a", "ab", false}, Case{"a*b*c", "axxbyyc", true}, Case{"a*b*c", "axxbyy", false},
        Case{"a*b*c", "abc", true}, Case{"a*b*c", "acb", false}, Case{"?", "x", true},
        Case{"?", "", false}, Case{"?", "xy", false}, Case{"h?llo", "hello", true},
        Case{"h?llo", "hllo", false}, Case{"h[ae]llo", "hallo", true},
        Case{"h[ae]llo", "hillo", false}, Case{"h[^e]llo", "hallo", true},
        Case{"h[^e]llo", "hello", false}, Case{"h[a-b]llo", "hbllo", true},
        Case{"h[a-b]llo", "hcllo", false}, Case{"h[b-a]llo", "hallo", true},  // swapped range
        Case{"[]", "]", false}, Case{"[]]", "]", false},                      // `[]` is empty
        Case{"[^]", "x", true}, Case{"[\\]]", "]", true}, Case{"[\\]", "]", true},
        Case{"[abc", "b", true}, Case{"[abc", "d", false},  // unterminated class
        Case{"[a-]x]", "x", true}, Case{"[a-]x]", "]", true}, Case{"[a-]x]", "_", true},
        Case{"[a-]x]", "b", false}, Case{"\\*", "*", true}, Case{"\\*", "a", false},
        Case{"a\\", "a\\", true}, Case{"\\?x", "?x", true}, Case{"\\?x", "ax", false},
        Case{"a\\[b", "a[b", true}, Case{"cache:*", "cache:", true},
        Case{"cache:*", "cache", false}, Case{"cache:*", "Cache:1", false},  // case-sensitive
        Case{"*:{x}:*", "a:{x}:b", true}, Case{"user:?:*", "user:1:name", true},
        Case{"user:?:*", "user:12:name", false}, Case{"*?*?*", "ab", true},
        Case{"*?*?*", "a", false}, Case{"a*a*a*b", "aaaaaaaaab", true},
        Case{"a*a*a*b", "aaaaaaaaaa", false}, Case{"k", std::string("k\0", 2), false},
        Case{"k\\0*", std::string("k0\0z", 4), true}, Case{"*\xff", "a\xff", true},
        Case{"[\x80-\xff]", "\x90", true}, Case{"[a-\xff]", "b", false},  // signed-char ranges
        Case{"[\xff-a]", "\x90", false}, Case{"[\xff-a]", "0", true}));

TEST(Glob, RandomParityWithRedisReference) {
  std::mt19937 rng(12345);
  const std::string alphabet = "ab*?[]^-\\:";
  const std::string subj_alpha = "ab:-]^\\*";
  for (int iter = 0; iter < 200000; ++iter) {
    std::string p, s;
    const int pl = static_cast<int>(rng() % 9), sl = static_cast<int>(rng() % 9);
    for (int i = 0; i < pl; ++i) p.push_back(alphabet[rng() % alphabet.size()]);
    for (int i = 0; i < sl; ++i) s.push_back(subj_alpha[rng() % subj_alpha.size()]);
    ASSERT_EQ(globMatch(p, s), kw::testing::redisGlobReference(p, s))
        << "pattern=" << p << " subject=" << s;
  }
}

TEST(Glob, LongMiddleSegmentsUseMultiWordShiftAnd) {
  // A 150-token middle segment spans three 64-bit words.
  const std::string seg(150, 'a');
  const std::string pattern = "x*" + seg + "b*y";
  EXPECT_TRUE(globMatch(pattern, "x" + std::string(300, 'a') + "b" + "y"));
  EXPECT_FALSE(globMatch(pattern, "x" + std::string(149, 'a') + "b" + "y"));
  EXPECT_TRUE(globMatch(pattern, "xzz" + seg + "bqqy"));
  const std::string seg300(300, '?');
  EXPECT_TRUE(globMatch("*" + seg300 + "*!", std::string(301, 'k') + "!"));
  EXPECT_FALSE(globMatch("*" + seg300 + "*!", std::string(299, 'k') + "!"));
}

TEST(Glob, AdversarialPatternsAreLinear) {
  // Redis's recursive matcher is exponential on these without its nesting cap (CVE-2024-31228).
  std::string pattern;
  for (int i = 0; i < 100; ++i) pattern += "*a";
  pattern += "*b";
  const std::string subject(1 << 20, 'a');  // 1 MiB
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(globMatch(pattern, subject));
  std::string stars;
  for (int i = 0; i < 500; ++i) stars += "*?";
  EXPECT_TRUE(globMatch(stars, subject));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  EXPECT_LT(ms, 5000) << "matching took " << ms << " ms";
}

TEST(Glob, Classification) {
  EXPECT_TRUE(Glob("abc").isLiteral());
  EXPECT_TRUE(Glob("a\\*c").isLiteral());
  EXPECT_EQ(Glob("a\\*c").literalPrefix(), "a*c");
  EXPECT_FALSE(Glob("a?c").isLiteral());
  EXPECT_TRUE(Glob("cache:*").isLiteralPrefix());
  EXPECT_EQ(Glob("cache:*").literalPrefix(), "cache:");
  EXPECT_TRUE(Glob("cache:**").isLiteralPrefix());
  EXPECT_FALSE(Glob("cache:*x").isLiteralPrefix());
  EXPECT_FALSE(Glob("c?che:*").isLiteralPrefix());
  EXPECT_EQ(Glob("c?che:*").literalPrefix(), "c");
  EXPECT_EQ(Glob("ab*cd").literalPrefix(), "ab");
  EXPECT_TRUE(Glob("*").matchesEverything());
  EXPECT_TRUE(Glob("***").matchesEverything());
  EXPECT_FALSE(Glob("*a").matchesEverything());
  EXPECT_FALSE(Glob("").matchesEverything());
}

TEST(Glob, Reassignment) {
  Glob g("a*");
  EXPECT_TRUE(g.match("abc"));
  g.assign("x?z");
  EXPECT_FALSE(g.match("abc"));
  EXPECT_TRUE(g.match("xyz"));
  g.assign("*m*");
  EXPECT_TRUE(g.match("amb"));
}

TEST(Glob, Containment) {
  const Glob prefix("app:*");
  EXPECT_TRUE(globContains(prefix, "app:*", "app:*"));
  EXPECT_TRUE(globContains(prefix, "app:*", "app:x*"));
  EXPECT_TRUE(globContains(prefix, "app:*", "app:"));
  EXPECT_FALSE(globContains(prefix, "app:*", "app*"));
  EXPECT_FALSE(globContains(prefix, "app:*", "ap[p]:*"));
  EXPECT_FALSE(globContains(prefix, "app:*", "*"));
  EXPECT_FALSE(globContains(prefix, "app:*", "ap?:x"));
  EXPECT_FALSE(globContains(prefix, "app:*", "app\\:x"));  // escape inside the literal part
  const Glob general("a?c:*");
  EXPECT_TRUE(globContains(general, "a?c:*", "a?c:*"));
  EXPECT_FALSE(globContains(general, "a?c:*", "abc:*"));
  const Glob literal("news");
  EXPECT_TRUE(globContains(literal, "news", "news"));
  EXPECT_FALSE(globContains(literal, "news", "news*"));
  const Glob all("*");
  EXPECT_TRUE(globContains(all, "*", "[anything"));
}

}  // namespace
}  // namespace kw::policy

namespace kw::policy {
namespace {

// canMatchStartingWith: may some string beginning with the prefix match? (notification channels)
TEST(GlobPrefix, CanMatchStartingWith) {
  struct Row {
    const char* pattern;
    bool expect;
  };
  const std::string_view p = "__keyspace@";
  for (const Row& r : std::initializer_list<Row>{
           {"*", true},
           {"__key*", true},
           {"__k?y*", true},
           {"[_]_keyspace*", true},
           {"*@0__:*", true},
           {"?*", true},
           {"__keyspace@", true},
           {"__keyspace@0__:k", true},
           {"\\_\\_keyspace@*", true},
           {"[^x]*", true},
           {"__keyspace?", true},
           {"__keyspac", false},
           {"__keyspace", false},
           {"__x*", false},
           {"_x*", false},
           {"[a-z]*", false},
           {"news.*", false},
           {"", false},
           {"__keyspace@[]*", true /* [] past the prefix: assumed satisfiable */},
           {"__keyevent@*", false},
           {"___keyspace@*", false},
           {"?", false},
           {"[^_]*", false},
           {"__keyspace\\@*", true}}) {
    EXPECT_EQ(Glob(r.pattern).canMatchStartingWith(p), r.expect) << r.pattern;
  }
  EXPECT_FALSE(Glob().canMatchStartingWith(p));
  EXPECT_TRUE(Glob("abc").canMatchStartingWith(""));
}

// Against Redis's matcher, exhaustively over short patterns: a false answer is never wrong, and
// without classes (whose emptiness the answer may not see) a true one is exact too.
TEST(GlobPrefix, AgreesWithTheReferenceOnShortPatterns) {
  const std::string alpha = "_k*?[]^\\a";
  const std::string subj = alpha;  // every byte a pattern can name
  const std::string prefix = "_k";
  std::vector<std::string> pats = {""};
  for (size_t len = 1; len <= 4; ++len) {
    std::vector<std::string> next;
    for (const std::string& s : pats) {
      if (s.size() != len - 1) continue;
      for (char c : alpha) next.push_back(s + c);
    }
    pats.insert(pats.end(), next.begin(), next.end());
  }
  std::vector<std::string> suffixes = {""};
  for (size_t len = 1; len <= 3; ++len) {
    const size_t n = suffixes.size();
    for (size_t i = 0; i < n; ++i) {
      if (suffixes[i].size() != len - 1) continue;
      for (char c : subj) suffixes.push_back(suffixes[i] + c);
    }
  }
  for (const std::string& pat : pats) {
    bool any = false;
    for (const std::string& s : suffixes)
      any = any || kw::testing::redisGlobReference(pat, prefix + s);
    const bool got = Glob(pat).canMatchStartingWith(prefix);
    if (!got) EXPECT_FALSE(any) << pat;
    if (pat.find('[') == std::string::npos) EXPECT_EQ(got, any) << pat;
  }
}

}  // namespace
}  // namespace kw::policy
