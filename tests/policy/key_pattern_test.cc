// Tests for compiled key pattern sets: kinds, access union, templates and limits.
#include "policy/key_pattern.h"

#include <gtest/gtest.h>

#include <string>

#include "policy/key_extract.h"

namespace kw::policy {
namespace {

using Check = KeyPatternSet::Check;

KeyPattern compileOk(std::string_view text, uint8_t access = kAccessReadWrite) {
  auto r = KeyPattern::compile(text, access, "keys[0]");
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? std::move(*r) : KeyPattern::compile("x", access, "k").value();
}

TEST(KeyPattern, Kinds) {
  EXPECT_EQ(compileOk("*").kind(), KeyPattern::Kind::All);
  EXPECT_EQ(compileOk("**").kind(), KeyPattern::Kind::All);
  EXPECT_EQ(compileOk("cache:1").kind(), KeyPattern::Kind::Exact);
  EXPECT_EQ(compileOk("cache:*").kind(), KeyPattern::Kind::Prefix);
  EXPECT_EQ(compileOk("a\\*b:*").kind(), KeyPattern::Kind::Prefix);
  EXPECT_EQ(compileOk("*:cache").kind(), KeyPattern::Kind::General);
  EXPECT_EQ(compileOk("c?che:*").kind(), KeyPattern::Kind::General);
  EXPECT_EQ(compileOk("sess:{sub}:*").kind(), KeyPattern::Kind::Prefix);
  EXPECT_EQ(compileOk("sess:{sub}").kind(), KeyPattern::Kind::Exact);
  EXPECT_EQ(compileOk("*:{sub}").kind(), KeyPattern::Kind::General);
  EXPECT_TRUE(compileOk("sess:{sub}:*").isTemplate());
  EXPECT_FALSE(compileOk("sess:\\{sub}:*").isTemplate());  // escaped: literal "{sub}"
}

TEST(KeyPattern, MatchByKind) {
  PatternScratch s;
  EXPECT_TRUE(compileOk("*").match("", "", s));
  EXPECT_TRUE(compileOk("cache:1").match("cache:1", "", s));
  EXPECT_FALSE(compileOk("cache:1").match("cache:10", "", s));
  EXPECT_TRUE(compileOk("cache:*").match("cache:", "", s));
  EXPECT_TRUE(compileOk("cache:*").match(std::string("cache:\0\xff", 8), "", s));
  EXPECT_FALSE(compileOk("cache:*").match("cache", "", s));
  EXPECT_TRUE(compileOk("a\\*b:*").match("a*b:1", "", s));
  EXPECT_FALSE(compileOk("a\\*b:*").match("axb:1", "", s));
  EXPECT_TRUE(compileOk("*:cache").match("x:cache", "", s));
  EXPECT_FALSE(compileOk("*:cache").match("x:cachex", "", s));
  EXPECT_TRUE(compileOk("sess:\\{sub}:*").match("sess:{sub}:1", "alice", s));
  EXPECT_FALSE(compileOk("sess:\\{sub}:*").match("sess:alice:1", "alice", s));
}

TEST(KeyPattern, Templates) {
  PatternScratch s;
  const KeyPattern prefix = compileOk("sess:{sub}:*");
  EXPECT_TRUE(prefix.match("sess:alice:1", "alice", s));
  EXPECT_FALSE(prefix.match("sess:bob:1", "alice", s));
  EXPECT_FALSE(prefix.match("sess:alice", "alice", s));
  const KeyPattern exact = compileOk("u:{sub}:{sub}");
  EXPECT_TRUE(exact.match("u:a.b:a.b", "a.b", s));
  EXPECT_FALSE(exact.match("u:a.b:a.c", "a.b", s));
  const KeyPattern general = compileOk("*:{sub}:?");
  EXPECT_TRUE(general.match("x:y:bob:1", "bob", s));
  EXPECT_FALSE(general.match("x:y:bob:12", "bob", s));
  std::string out;
  prefix.expand("alice", out);
  EXPECT_EQ(out, "sess:alice:*");
  prefix.literalPrefix("alice", out);
  EXPECT_EQ(out, "sess:alice:");
  // The sub is literal text even where it could look like a glob range.
  const KeyPattern dash = compileOk("t:{sub}");
  EXPECT_TRUE(dash.match("t:a-z", "a-z", s));
  EXPECT_FALSE(dash.match("t:b", "a-z", s));
}

TEST(KeyPattern, CompileErrors) {
  auto empty = KeyPattern::compile("", kAccessRead, "read_keys[3]");
  ASSERT_FALSE(empty.has_value());
  EXPECT_NE(empty.error().message.find("read_keys[3]"), std::string::npos);
  EXPECT_FALSE(KeyPattern::compile(std::string(kMaxPatternBytes + 1, 'a'), 3, "k").has_value());
  EXPECT_TRUE(KeyPattern::compile(std::string(kMaxPatternBytes, 'a'), 3, "k").has_value());
  auto in_class = KeyPattern::compile("a[{sub}]", 3, "keys[1]");
  ASSERT_FALSE(in_class.has_value());
  EXPECT_NE(in_class.error().message.find("keys[1]"), std::string::npos);
}

TEST(KeyPattern, Containment) {
  PatternScratch s;
  const KeyPattern p = compileOk("app:*");
  EXPECT_TRUE(p.contains("app:*", "", s));
  EXPECT_TRUE(p.contains("app:x:*", "", s));
  EXPECT_TRUE(p.contains("app:[ab]", "", s));
  EXPECT_FALSE(p.contains("ap*", "", s));
  EXPECT_FALSE(p.contains("a?p:*", "", s));
  EXPECT_FALSE(p.contains("*", "", s));
  const KeyPattern t = compileOk("sess:{sub}:*");
  EXPECT_TRUE(t.contains("sess:al:*", "al", s));
  EXPECT_FALSE(t.contains("sess:al*", "al", s));  // would reach sess:alice:...
  const KeyPattern e = compileOk("exact");
  EXPECT_TRUE(e.contains("exact", "", s));
  EXPECT_FALSE(e.contains("exac?", "", s));
  const KeyPattern g = compileOk("*:x");
  EXPECT_TRUE(g.contains("*:x", "", s));
  EXPECT_FALSE(g.contains("a:x", "", s));  // conservative for general globs
  EXPECT_TRUE(compileOk("*").contains("[^a]*", "", s));
}

TEST(KeyPatternSet, AccessUnionAcrossPatterns) {
  KeyPatternSet set;
  ASSERT_TRUE(set.add("x", kAccessRead, "read_keys[0]").has_value());
  ASSERT_TRUE(set.add("x", kAccessWrite, "write_keys[0]").has_value());
  ASSERT_TRUE(set.add("r:*", kAccessRead, "read_keys[1]").has_value());
  ASSERT_TRUE(set.add("w:*", kAccessWrite, "write_keys[1]").has_value());
  PatternScratch s;
  // %R~x %W~x == ~x (docs/redis-acl-notes.md 1.1): read+write on x is granted by the union.
  EXPECT_EQ(set.check("x", kAccessReadWrite, "", s), Check::Granted);
  EXPECT_EQ(set.check("r:1", kAccessRead, "", s), Check::Granted);
  EXPECT_EQ(set.check("r:1", kAccessWrite, "", s), Check::Denied);
  EXPECT_EQ(set.check("r:1", kAccessNone, "", s), Check::Granted);  // flag-less spec
  EXPECT_EQ(set.check("w:1", kAccessNone, "", s), Check::Granted);
  EXPECT_EQ(set.check("w:1", kAccessRead, "", s), Check::Denied);
  EXPECT_EQ(set.check("other", kAccessNone, "", s), Check::Denied);
  EXPECT_EQ(set.allAccess(), 0);
}

TEST(KeyPatternSet, AllAccessAndTemplates) {
  KeyPatternSet set;
  ASSERT_TRUE(set.add("*", kAccessRead, "read_keys[0]").has_value());
  ASSERT_TRUE(set.add("sess:{sub}:*", kAccessReadWrite, "keys[0]").has_value());
  EXPECT_EQ(set.allAccess(), kAccessRead);
  EXPECT_TRUE(set.hasTemplates());
  PatternScratch s;
  EXPECT_EQ(set.check("sess:bob:1", kAccessWrite, "bob", s), Check::Granted);
  EXPECT_EQ(set.check("sess:bob:1", kAccessWrite, "alice", s), Check::Denied);
  EXPECT_EQ(set.check("sess:bob:1", kAccessWrite, "", s), Check::TemplateUnbound);
  EXPECT_EQ(set.check("sess:bob:1", kAccessWrite, "bad sub", s), Check::TemplateUnbound);
  // A key granted by a non-template pattern needs no sub.
  EXPECT_EQ(set.check("sess:bob:1", kAccessRead, "", s), Check::Granted);
}

TEST(KeyPatternSet, CountLimit) {
  KeyPatternSet set;
  for (size_t i = 0; i < kMaxPatternsPerSet; ++i) {
    ASSERT_TRUE(set.add("k" + std::to_string(i), 3, "keys").has_value());
  }
  EXPECT_FALSE(set.add("one-more", 3, "keys").has_value());
}

TEST(KeyPatternSet, HugeKeyIsLinear) {
  KeyPatternSet set;
  ASSERT_TRUE(set.add("*a*b*c*d*e*f*g*h*z", kAccessRead, "keys[0]").has_value());
  const std::string key(16u << 20, 'a');  // 16 MiB key
  PatternScratch s;
  EXPECT_EQ(set.check(key, kAccessRead, "", s), Check::Denied);
}

TEST(IsValidSub, Grammar) {
  EXPECT_TRUE(isValidSub("alice"));
  EXPECT_TRUE(isValidSub("a.b_c@d-e9"));
  EXPECT_TRUE(isValidSub(std::string(128, 'x')));
  EXPECT_FALSE(isValidSub(std::string(129, 'x')));
  EXPECT_FALSE(isValidSub(""));
  EXPECT_FALSE(isValidSub("a*"));
  EXPECT_FALSE(isValidSub("a b"));
  EXPECT_FALSE(isValidSub("a:b"));
  EXPECT_FALSE(isValidSub(std::string("a\0b", 3)));
  EXPECT_FALSE(isValidSub("\xc3\xa9"));
}

}  // namespace
}  // namespace kw::policy
