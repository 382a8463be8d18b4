// Key extraction: generic key specs and the dedicated parsers (B1/B2 cases), one line each.
#include "policy/key_extract.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kw::policy {
namespace {

struct Got {
  Decision d;
  Extraction ex;
};

Got run(std::vector<std::string_view> argv) {
  Got g;
  g.d = extract(argv, g.ex);
  return g;
}

// "1:r 2:w" style rendering of keys, for compact expectations.
std::string keys(const Extraction& ex) {
  std::string s;
  for (const auto& k : ex.keys) {
    if (!s.empty()) s += ' ';
    s += std::to_string(k.arg) + ':' +
         (k.access == kAccessNone    ? "-"
          : k.access == kAccessRead  ? "r"
          : k.access == kAccessWrite ? "w"
                                     : "rw");
  }
  return s;
}

struct Case {
  std::vector<std::string_view> argv;
  Reason reason;     // Ok when extraction must succeed
  std::string keys;  // expected keys when Ok
};

class ExtractTable : public ::testing::TestWithParam<Case> {};

TEST_P(ExtractTable, Extracts) {
  const Case& c = GetParam();
  Got g = run(c.argv);
  std::string argv;
  for (auto a : c.argv) argv += std::string(a) + ' ';
  EXPECT_EQ(g.d.reason, c.reason) << argv << reasonName(g.d.reason);
  if (c.reason == Reason::Ok) EXPECT_EQ(keys(g.ex), c.keys) << argv;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ExtractTable,
    ::testing::Values(
        // Generic specs (B1: key positions other than argv[1]).
        Case{{"GET", "k"}, Reason::Ok, "1:r"}, Case{{"gEt", "k"}, Reason::Ok, "1:r"},
        Case{{"get"}, Reason::ArityError, ""}, Case{{"get", "a", "b"}, Reason::ArityError, ""},
        Case{{"mset", "a", "1", "b", "2"}, Reason::Ok, "1:w 3:w"},
        Case{{"del", "a", "b"}, Reason::Ok, "1:w 2:w"},
        Case{{"exists", "a", "b"}, Reason::Ok, "1:- 2:-"},
        Case{{"getdel", "a"}, Reason::Ok, "1:rw"},
        Case{{"rename", "a", "b"}, Reason::Ok, "1:rw 2:w"},
        Case{{"lmove", "a", "b", "left", "right"}, Reason::Ok, "1:rw 2:w"},
        Case{{"zunionstore", "d", "2", "a", "b", "weights", "1", "2"}, Reason::Ok, "1:w 3:r 4:r"},
        Case{{"zunionstore", "d", "3", "a", "b"}, Reason::SyntaxError, ""},
        Case{{"zunionstore", "d", "-1", "a"}, Reason::SyntaxError, ""},
        Case{{"zunionstore", "d", "1x", "a"}, Reason::SyntaxError, ""},
        Case{{"zunionstore", "d", "01", "a"}, Reason::SyntaxError, ""},
        Case{{"zunionstore", "d", "2147483648", "a"}, Reason::SyntaxError, ""},
        Case{{"zinter", "2", "a", "b", "withscores"}, Reason::Ok, "2:r 3:r"},
        Case{{"lmpop", "2", "a", "b", "left"}, Reason::Ok, "2:rw 3:rw"},
        Case{{"bitop", "and", "d", "a", "b"}, Reason::Ok, "2:w 3:r 4:r"},
        Case{{"object", "encoding", "k"}, Reason::Ok, "2:-"},
        Case{{"memory", "usage", "k"}, Reason::Ok, "2:-"},
        Case{{"OBJECT", "Encoding", "k"}, Reason::Ok, "2:-"},
        Case{{"object"}, Reason::UnknownSubcommand, ""},
        Case{{"object", "nope", "k"}, Reason::UnknownSubcommand, ""},
        Case{{"config|get", "x"}, Reason::UnknownCommand, ""},
        Case{{"nosuchcommand"}, Reason::UnknownCommand, ""},
        Case{{"xgroup", "create", "s", "g", "$"}, Reason::Ok, "2:w"},
        Case{{"eval", "return 1", "2", "a", "b", "x"}, Reason::Ok, "3:rw 4:rw"},
        Case{{"eval_ro", "return 1", "1", "a"}, Reason::Ok, "3:r"},
        Case{{"eval", "return 1", "3", "a"}, Reason::SyntaxError, ""},
        Case{{"eval", "return 1", "-1"}, Reason::SyntaxError, ""},
        Case{{"fcall", "f", "1", "k"}, Reason::Ok, "3:rw"},
        // Variable flags.
        Case{{"set", "k", "v"}, Reason::Ok, "1:w"},
        Case{{"set", "k", "v", "GET"}, Reason::Ok, "1:rw"},
        Case{{"set", "k", "v", "ex", "10", "get"}, Reason::Ok, "1:rw"},
        Case{{"bitfield", "k", "get", "u8", "0"}, Reason::Ok, "1:r"},
        Case{{"bitfield", "k", "set", "u8", "0", "1"}, Reason::Ok, "1:rw"},
        Case{{"zadd", "z", "1", "m"}, Reason::Ok, "1:w"},
        Case{{"zadd", "z", "INCR", "1", "m"}, Reason::Ok, "1:rw"},
        Case{{"xclaim", "s", "g", "c", "0", "1-1"}, Reason::Ok, "1:rw"},
        Case{{"xclaim", "s", "g", "c", "0", "1-1", "JUSTID"}, Reason::Ok, "1:w"},
        Case{{"xautoclaim", "s", "g", "c", "0", "0"}, Reason::Ok, "1:rw"},
        // B2: SORT (last-wins STORE, keyword-named keys).
        Case{{"sort", "l"}, Reason::Ok, "1:r"},
        Case{{"sort", "l", "store", "d"}, Reason::Ok, "1:r 3:w"},
        Case{{"sort", "l", "STORE", "BY", "STORE", "other"}, Reason::Ok, "1:r 3:w 5:w"},
        Case{{"sort", "l", "store", "a", "store", "b"}, Reason::Ok, "1:r 3:w 5:w"},
        Case{{"sort", "l", "limit", "0", "1", "alpha", "desc"}, Reason::Ok, "1:r"},
        Case{{"sort", "l", "bogus"}, Reason::SyntaxError, ""},
        Case{{"sort", "l", "store"}, Reason::SyntaxError, ""},
        Case{{"sort_ro", "l", "store", "d"}, Reason::SyntaxError, ""},
        // B2: GEORADIUS STORE/STOREDIST.
        Case{{"georadius", "g", "15", "37", "200", "km", "STORE", "a", "STORE", "b"},
             Reason::Ok,
             "1:r 7:w 9:w"},
        Case{{"georadius", "g", "15", "37", "200", "km", "storedist", "store"},
             Reason::Ok,
             "1:r 7:w"},
        Case{{"georadiusbymember", "g", "m", "200", "km", "count", "5", "store", "d"},
             Reason::Ok,
             "1:r 8:w"},
        Case{{"georadius", "g", "15", "37", "200", "km", "store"}, Reason::SyntaxError, ""},
        Case{{"georadius_ro", "g", "15", "37", "200", "km"}, Reason::Ok, "1:r"},
        // B2: XREAD / XREADGROUP.
        Case{{"xread", "streams", "a", "b", "0", "0"}, Reason::Ok, "2:r 3:r"},
        Case{{"xread", "count", "1", "streams", "streams", "0"}, Reason::Ok, "4:r"},
        Case{{"xread", "streams", "a", "b", "0"}, Reason::SyntaxError, ""},
        Case{{"xread", "block", "0", "streams", "a", "0"}, Reason::CommandDenied, ""},
        Case{{"xreadgroup", "COUNT", "1", "GROUP", "STREAMS", "c", "STREAMS", "other", ">"},
             Reason::Ok,
             "7:rw"},
        Case{{"xreadgroup", "streams", "a", ">"}, Reason::ArityError, ""},
        Case{{"xreadgroup", "count", "1", "noack", "streams", "a", ">"}, Reason::SyntaxError, ""},
        // MIGRATE.
        Case{{"migrate", "h", "1", "k", "0", "5"}, Reason::Ok, "3:rw"},
        Case{{"migrate", "h", "1", "", "0", "5", "AUTH", "keys", "KEYS", "a", "b"},
             Reason::Ok,
             "9:rw 10:rw"},
        Case{{"migrate", "h", "1", "", "0", "5", "auth2", "u", "p", "keys", "a"},
             Reason::Ok,
             "10:rw"},
        Case{{"migrate", "h", "1", "k", "0", "5", "keys", "a"}, Reason::SyntaxError, ""},
        // COPY ... DB.
        Case{{"copy", "a", "b"}, Reason::Ok, "1:r 2:w"},
        Case{{"copy", "a", "b", "db", "1", "replace"}, Reason::Ok, "1:r 2:w"},
        Case{{"copy", "a", "b", "db"}, Reason::SyntaxError, ""},
        // Upstash overlay commands.
        Case{{"hexpire", "h", "10", "fields", "1", "f"}, Reason::Ok, "1:w"},
        Case{{"hgetdel", "h", "fields", "1", "f"}, Reason::Ok, "1:rw"},
        Case{{"JSON.GET", "j", "$"}, Reason::Ok, "1:r"},
        Case{{"json.mget", "a", "b", "$"}, Reason::Ok, "1:r 2:r"},
        Case{{"json.mset", "a", "$", "1", "b", "$", "2"}, Reason::Ok, "1:w 4:w"},
        // Bad input.
        Case{{}, Reason::EmptyCommand, ""}, Case{{""}, Reason::UnknownCommand, ""}));

TEST(Extract, GroupsChannelsScriptsAndDb) {
  Got g = run({"xack", "s", "grp", "1-1"});
  ASSERT_TRUE(g.d.allowed());
  ASSERT_EQ(g.ex.groups.size(), 1u);
  EXPECT_EQ(g.ex.groups[0], 2u);
  g = run({"xreadgroup", "group", "g1", "c", "group", "g2", "c", "streams", "s", ">"});
  ASSERT_TRUE(g.d.allowed());
  EXPECT_EQ(g.ex.groups, (std::vector<uint32_t>{2, 5}));
  g = run({"psubscribe", "a*", "b"});
  ASSERT_EQ(g.ex.channels.size(), 2u);
  EXPECT_TRUE(g.ex.channels[0].pattern);
  g = run({"evalsha", "abc", "0"});
  EXPECT_EQ(g.ex.script, ScriptRef::Sha);
  EXPECT_EQ(g.ex.script_arg, 1);
  g = run({"script", "load", "return 1"});
  EXPECT_EQ(g.ex.script, ScriptRef::Body);
  EXPECT_EQ(g.ex.script_arg, 2);
  g = run({"select", "3"});
  EXPECT_EQ(g.ex.db_arg, 1);
  g = run({"sort", "l", "by", "w_*", "get", "#"});
  EXPECT_TRUE(g.ex.sort_reads_external);
  EXPECT_EQ(g.ex.sort_external_arg, 3);
  g = run({"sort", "l", "by", "nosort"});
  EXPECT_FALSE(g.ex.sort_reads_external);
}

TEST(Extract, BoundedOnHugeInput) {
  std::vector<std::string_view> argv(1'000'000, "k");
  argv[0] = "del";
  Got g = run(argv);
  EXPECT_TRUE(g.d.allowed());
  EXPECT_EQ(g.ex.keys.size(), 999'999u);
  std::vector<std::string_view> too_many(kMaxArgs + 1, "k");
  too_many[0] = "del";
  EXPECT_EQ(run(too_many).d.reason, Reason::TooLarge);
  const std::string big(16 << 20, 'x');
  const std::string nul("a\0b\xff", 4);
  g = run({"set", big, nul});
  EXPECT_TRUE(g.d.allowed());
  std::string long_name(1000, 'g');
  EXPECT_EQ(run({long_name}).d.reason, Reason::UnknownCommand);
}

TEST(CommandTable, EveryUnitHasConsistentMetadata) {
  size_t units = 0;
  for (const CommandInfo& c : allCommands()) {
    ++units;
    if (c.parent != c.id) {
      const CommandInfo& p = allCommands()[c.parent];
      EXPECT_TRUE(p.traits & kContainer) << c.name;
      EXPECT_EQ(c.name.substr(0, p.name.size() + 1), std::string(p.name) + "|");
      EXPECT_EQ(findSubcommand(p, c.name.substr(p.name.size() + 1)), &c);
    } else {
      EXPECT_EQ(findCommand(c.name), &c);
    }
  }
  EXPECT_GT(units, 400u);
  Category cat;
  EXPECT_TRUE(categoryFromName("@SortedSet", cat));
  EXPECT_EQ(cat, Category::SortedSet);
  EXPECT_FALSE(categoryFromName("@nope", cat));
  EXPECT_TRUE(findCommand("FLUSHALL")->categories & categoryBit(Category::Dangerous));
  EXPECT_TRUE(findCommand("scan")->traits & kScanLike);
  EXPECT_TRUE(findCommand("blpop")->traits & kUnsupported);
}

}  // namespace
}  // namespace kw::policy
