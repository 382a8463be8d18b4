// Tests for the ACL command-rule compiler: left-to-right semantics, categories never granting
// @dangerous, container/subcommand rules and error messages.
#include "policy/command_rules.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/command_table.h"

namespace kw::policy {
namespace {

CommandRules rules(std::vector<std::string> r) {
  auto c = CommandRules::compile(r);
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().message);
  return c ? std::move(*c) : CommandRules::compile(std::vector<std::string>{}).value();
}

bool allows(const CommandRules& r, std::string_view name) {
  const size_t bar = name.find('|');
  const CommandInfo* c = findCommand(name.substr(0, bar));
  EXPECT_NE(c, nullptr) << name;
  if (c == nullptr) return false;
  if (bar != std::string_view::npos) {
    c = findSubcommand(*c, name.substr(bar + 1));
    EXPECT_NE(c, nullptr) << name;
    if (c == nullptr) return false;
  }
  return r.allows(c->id);
}

std::string compileError(std::vector<std::string> r) {
  auto c = CommandRules::compile(r);
  return c ? std::string() : c.error().message;
}

bool dangerous(const CommandInfo& c) {
  return (c.categories & categoryBit(Category::Dangerous)) != 0;
}

TEST(CommandRules, EmptyGrantsNothing) {
  const CommandRules r = rules({});
  EXPECT_EQ(r.grantedCount(), 0u);
  EXPECT_FALSE(allows(r, "get"));
  EXPECT_FALSE(allows(r, "ping"));
}

TEST(CommandRules, AllNeverGrantsDangerous) {
  const CommandRules r = rules({"+@all"});
  size_t expected = 0;
  for (const CommandInfo& c : allCommands()) {
    if (c.traits & kContainer) {
      EXPECT_FALSE(r.allows(c.id)) << c.name << ": containers are never executable";
      continue;
    }
    if (dangerous(c)) {
      EXPECT_FALSE(r.allows(c.id)) << c.name << " is @dangerous";
    } else {
      ++expected;
    }
  }
  EXPECT_GT(expected, 100u);
  EXPECT_LE(r.grantedCount(), expected);
  EXPECT_TRUE(allows(r, "get"));
  EXPECT_FALSE(allows(r, "flushall"));
  EXPECT_FALSE(allows(r, "keys"));
  EXPECT_FALSE(allows(r, "config|set"));
  EXPECT_FALSE(allows(r, "script|flush"));
  EXPECT_FALSE(allows(r, "function|load"));
  EXPECT_TRUE(allows(r, "script|load"));
  EXPECT_EQ(rules({"allcommands"}).grantedCount(), r.grantedCount());
}

TEST(CommandRules, EveryCategoryRespectsDangerous) {
  for (unsigned i = 0; i < static_cast<unsigned>(Category::kCount); ++i) {
    const auto cat = static_cast<Category>(i);
    if (cat == Category::Dangerous) continue;
    std::string name;
    // Find the category's name by probing the table's parser with known names.
    static const char* kNames[] = {
        "keyspace",   "read",        "write",     "set",         "sortedset", "list",
        "hash",       "string",      "bitmap",    "hyperloglog", "geo",       "stream",
        "pubsub",     "admin",       "fast",      "slow",        "blocking",  "dangerous",
        "connection", "transaction", "scripting", "json",        "search"};
    for (const char* n : kNames) {
      Category c{};
      if (categoryFromName(n, c) && c == cat) name = n;
    }
    if (name.empty()) continue;
    const CommandRules r = rules({"+@" + name});
    for (const CommandInfo& c : allCommands()) {
      const bool member = (c.categories & categoryBit(cat)) != 0;
      const bool named_only = c.name == "script|flush" || c.name == "script|kill" ||
                              c.name == "function|load" || c.name == "function|delete" ||
                              c.name == "function|flush" || c.name == "function|restore";
      const bool want = member && !dangerous(c) && !named_only && !(c.traits & kContainer);
      EXPECT_EQ(r.allows(c.id), want) << "+@" << name << " / " << c.name;
    }
  }
}

TEST(CommandRules, NamingADangerousCommandGrantsIt) {
  const CommandRules r = rules({"+@all", "+flushall", "+config|set", "+script|flush"});
  EXPECT_TRUE(allows(r, "flushall"));
  EXPECT_TRUE(allows(r, "config|set"));
  EXPECT_TRUE(allows(r, "script|flush"));
  EXPECT_FALSE(allows(r, "config|get"));
  EXPECT_FALSE(allows(r, "flushdb"));
}

TEST(CommandRules, ContainerSafeReading) {
  // +config grants CONFIG's non-dangerous subcommands only; dangerous ones need +config|sub.
  const CommandRules r = rules({"+config"});
  EXPECT_TRUE(allows(r, "config|help"));
  EXPECT_FALSE(allows(r, "config|get"));
  EXPECT_FALSE(allows(r, "config|set"));
  const CommandRules minus = rules({"+@all", "+config|get", "-config"});
  EXPECT_FALSE(allows(minus, "config|get"));
  EXPECT_FALSE(allows(minus, "config|help"));
  EXPECT_TRUE(allows(minus, "get"));
}

TEST(CommandRules, LeftToRight) {
  EXPECT_FALSE(allows(rules({"+get", "-get"}), "get"));
  EXPECT_TRUE(allows(rules({"-get", "+get"}), "get"));
  EXPECT_FALSE(allows(rules({"+@all", "-@read"}), "get"));
  EXPECT_TRUE(allows(rules({"+@all", "-@read"}), "set"));
  EXPECT_TRUE(allows(rules({"-@all", "+@read"}), "get"));
  EXPECT_FALSE(allows(rules({"+@all", "nocommands"}), "get"));
  EXPECT_FALSE(allows(rules({"+@all", "-object|freq"}), "object|freq"));
  EXPECT_TRUE(allows(rules({"+@all", "-object|freq"}), "object|encoding"));
  EXPECT_TRUE(allows(rules({"+@all", "-@all", "+flushall"}), "flushall"));
  EXPECT_FALSE(allows(rules({"+flushall", "-@dangerous"}), "flushall"));
}

TEST(CommandRules, CaseInsensitive) {
  const CommandRules r = rules({"+GET", "+@Write", "+Config|Get", "ALLCOMMANDS", "-HGET"});
  EXPECT_TRUE(allows(r, "get"));
  EXPECT_TRUE(allows(r, "config|get"));
  EXPECT_FALSE(allows(r, "hget"));
}

TEST(CommandRules, Errors) {
  EXPECT_NE(compileError({"+get", "+gett"}).find("commands[1]"), std::string::npos);
  EXPECT_NE(compileError({"+gett"}).find("unknown command"), std::string::npos);
  EXPECT_NE(compileError({"+@nosuch"}).find("unknown category"), std::string::npos);
  EXPECT_NE(compileError({"+@dangerous"}).find("dangerous"), std::string::npos);
  EXPECT_NE(compileError({"get"}), "");
  EXPECT_NE(compileError({"+"}), "");
  EXPECT_NE(compileError({""}), "");
  EXPECT_NE(compileError({"+select|0"}).find("first-argument"), std::string::npos);
  EXPECT_NE(compileError({"+config|get|maxmemory"}), "");
  EXPECT_NE(compileError({"+config|nosuch"}).find("unknown subcommand"), std::string::npos);
  EXPECT_NE(compileError({"+config|"}), "");
  EXPECT_NE(compileError({"+|get"}), "");
  EXPECT_NE(compileError({"~app:*"}), "");
  EXPECT_NE(compileError({"+get\x01"}), "");
  EXPECT_EQ(compileError({"-@dangerous"}), "");  // removing is fine
  std::vector<std::string> many(kMaxCommandRules + 1, "+get");
  EXPECT_NE(compileError(many), "");
}

}  // namespace
}  // namespace kw::policy
