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
        Case{{"xread", "block", "0", "streams", "a", "0"}, Reason::Blocking, ""},
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

// Dedicated parsers, one group per parser: last-wins options, keys spelled like keywords (B2),
// keys away from argv[1] (B1), and the bounds every count is checked against.
INSTANTIATE_TEST_SUITE_P(
    DedicatedParsers, ExtractTable,
    ::testing::Values(
        // SORT / SORT_RO (sort.c): every STORE is a write key; keyword-named keys stay keys.
        Case{{"sort", "l", "BY", "x", "STORE", "a", "STORE", "b"}, Reason::Ok, "1:r 5:w 7:w"},
        Case{{"SORT", "STORE", "store", "STORE"}, Reason::Ok, "1:r 3:w"},
        Case{{"sort", "l", "LIMIT", "0"}, Reason::SyntaxError, ""},
        Case{{"sort", "l", "get"}, Reason::SyntaxError, ""},
        Case{{"sort", "l", "by"}, Reason::SyntaxError, ""},
        Case{{"sort", "l", "LiMiT", "0", "1", "StOrE", "d", "aLpHa"}, Reason::Ok, "1:r 6:w"},
        Case{{"sort_ro", "l", "by", "nosort", "limit", "0", "1"}, Reason::Ok, "1:r"},
        Case{{"sort_ro", "STORE", "alpha"}, Reason::Ok, "1:r"},
        // GEORADIUS / GEORADIUSBYMEMBER (geo.c georadiusGeneric): option by option.
        Case{{"GEORADIUS", "g", "0", "0", "1", "km", "STOREDIST", "a", "STORE", "b"},
             Reason::Ok,
             "1:r 7:w 9:w"},
        Case{{"georadius", "g", "0", "0", "1", "km", "WITHDIST", "asc", "count", "3", "any"},
             Reason::Ok,
             "1:r"},
        Case{{"georadiusbymember", "g", "STORE", "1", "km"}, Reason::Ok, "1:r"},
        Case{{"georadiusbymember", "g", "m", "1", "km", "STORE", "STORE", "STOREDIST", "x"},
             Reason::Ok,
             "1:r 6:w 8:w"},
        Case{{"georadius", "g", "0", "0", "1", "km", "bogus"}, Reason::SyntaxError, ""},
        Case{{"georadius_ro", "g", "0", "0", "1", "km", "store", "d"}, Reason::Ok, "1:r"},
        Case{{"geosearchstore", "d", "s", "frommember", "m", "byradius", "1", "km"},
             Reason::Ok,
             "1:w 2:r"},
        // XREAD / XREADGROUP (t_stream.c): the FIRST STREAMS token ends the options.
        Case{{"xread", "streams", "count", "streams", "0", "0"}, Reason::Ok, "2:r 3:r"},
        Case{{"XREAD", "Count", "5", "Streams", "a", "0"}, Reason::Ok, "4:r"},
        Case{{"xread", "count", "5", "streams"}, Reason::SyntaxError, ""},
        Case{{"xread", "group", "g", "c", "streams", "a", "0"}, Reason::SyntaxError, ""},
        Case{{"xread", "noack", "streams", "a", "0"}, Reason::SyntaxError, ""},
        Case{{"xreadgroup", "group", "g", "c", "streams", "s1", "s2", ">", ">"},
             Reason::Ok,
             "5:rw 6:rw"},
        Case{{"xreadgroup", "group", "g", "c", "streams", "a", "b", "c"}, Reason::SyntaxError, ""},
        Case{{"xreadgroup", "noack", "GROUP", "g", "STREAMS", "streams", "STREAMS", "0"},
             Reason::Ok,
             "6:rw"},
        // MIGRATE (migrateGetKeys with the #11253 AUTH/AUTH2 fix).
        Case{{"migrate", "h", "1", "", "0", "5", "AUTH2", "KEYS", "KEYS", "KEYS", "a"},
             Reason::Ok,
             "10:rw"},
        Case{{"migrate", "h", "1", "", "0", "5", "COPY", "REPLACE"}, Reason::Ok, "3:rw"},
        Case{{"migrate", "h", "1", "", "0", "5", "auth"}, Reason::SyntaxError, ""},
        Case{{"migrate", "h", "1", "", "0", "5", "auth2", "u"}, Reason::SyntaxError, ""},
        Case{{"migrate", "h", "1", "", "0", "5", "keys"}, Reason::SyntaxError, ""},
        Case{{"migrate", "h", "1", "", "0", "5", "keys", "KEYS", "keys"}, Reason::Ok, "7:rw 8:rw"},
        // SET / BITFIELD (variable_flags), ZADD INCR, XCLAIM/XAUTOCLAIM (B12).
        Case{{"set", "k", "v", "px", "5", "keepttl"}, Reason::Ok, "1:w"},
        Case{{"SET", "k", "v", "gEt"}, Reason::Ok, "1:rw"},
        Case{{"bitfield", "k", "overflow", "wrap", "incrby", "u8", "0", "1"}, Reason::Ok, "1:rw"},
        Case{{"bitfield", "k"}, Reason::Ok, "1:r"},
        Case{{"bitfield_ro", "k", "get", "u8", "0"}, Reason::Ok, "1:r"},
        Case{{"zadd", "z", "nx", "ch", "iNcR", "1", "m"}, Reason::Ok, "1:rw"},
        Case{{"zadd", "z", "xx", "1", "m", "2", "n"}, Reason::Ok, "1:w"},
        Case{{"xclaim", "s", "g", "c", "0", "1-1", "justid"}, Reason::Ok, "1:w"},
        Case{{"xclaim", "s", "g", "c", "0", "1-1", "2-2", "IDLE", "5"}, Reason::Ok, "1:rw"},
        Case{{"xautoclaim", "s", "g", "c", "0", "0", "JUSTID"}, Reason::Ok, "1:rw"},
        // Scripts and functions: declared keys only, numkeys canonical and in range.
        Case{{"evalsha", "abc", "0"}, Reason::Ok, ""},
        Case{{"fcall_ro", "f", "2", "a", "b"}, Reason::Ok, "3:r 4:r"},
        Case{{"eval", "s", "1x", "k"}, Reason::SyntaxError, ""},
        Case{{"eval", "s", "+1", "k"}, Reason::SyntaxError, ""},
        Case{{"eval", "s", "4294967297", "k"}, Reason::SyntaxError, ""},
        Case{{"eval", "s", "999999999", "k"}, Reason::SyntaxError, ""},
        Case{{"eval", "s"}, Reason::ArityError, ""},
        Case{{"eval", "s", "0", "not-a-key"}, Reason::Ok, ""},
        // numkeys commands (B1): argv[1] is a count, not a key.
        Case{{"sintercard", "2", "a"}, Reason::SyntaxError, ""},
        Case{{"sintercard", "2", "a", "b", "LIMIT", "1"}, Reason::Ok, "2:r 3:r"},
        Case{{"zmpop", "1", "z", "MIN"}, Reason::Ok, "2:rw"},
        Case{{"zdiffstore", "d", "2", "a", "b"}, Reason::Ok, "1:w 3:r 4:r"},
        Case{{"blpop", "a", "b", "0"}, Reason::Ok, "1:rw 2:rw"},
        // Containers: key at argv[2]; groups at fixed positions.
        Case{{"XGROUP", "CreateConsumer", "s", "g", "c"}, Reason::Ok, "2:w"},
        Case{{"xinfo", "consumers", "s", "g"}, Reason::Ok, "2:r"},
        Case{{"xpending", "s", "g"}, Reason::Ok, "1:r"},
        Case{{"xackdel", "s", "g", "IDS", "1", "1-1"}, Reason::Ok, "1:w"},
        Case{{"client", "no-touch", "on"}, Reason::Ok, ""},
        Case{{"waitaof", "1", "0", "0"}, Reason::Ok, ""},
        Case{{"cluster", "info"}, Reason::Ok, ""}));

TEST(Extract, DedicatedParsersSideOutputs) {
  Got g = run({"xgroup", "createconsumer", "s", "grp", "c"});
  ASSERT_TRUE(g.d.allowed());
  EXPECT_EQ(g.ex.groups, (std::vector<uint32_t>{3}));
  g = run({"xautoclaim", "s", "grp", "c", "0", "0"});
  EXPECT_EQ(g.ex.groups, (std::vector<uint32_t>{2}));
  g = run({"xackdel", "s", "grp", "IDS", "1", "1-1"});
  EXPECT_EQ(g.ex.groups, (std::vector<uint32_t>{2}));
  // A group named STREAMS is a group, and the stream after the real STREAMS is the key.
  g = run({"xreadgroup", "GROUP", "STREAMS", "c", "STREAMS", "s", ">"});
  ASSERT_TRUE(g.d.allowed());
  EXPECT_EQ(g.ex.groups, (std::vector<uint32_t>{2}));
  EXPECT_EQ(keys(g.ex), "5:rw");
  g = run({"fcall", "myfunc", "1", "k"});
  EXPECT_EQ(g.ex.script, ScriptRef::Function);
  EXPECT_EQ(g.ex.script_arg, 1);
  g = run({"eval", "return 1", "0"});
  EXPECT_EQ(g.ex.script, ScriptRef::Body);
  EXPECT_EQ(g.ex.script_arg, 1);
  g = run({"publish", "ch", "m"});
  ASSERT_EQ(g.ex.channels.size(), 1u);
  EXPECT_EQ(g.ex.channels[0].arg, 1u);
  EXPECT_FALSE(g.ex.channels[0].pattern);
  g = run({"spublish", "ch", "m"});
  ASSERT_EQ(g.ex.channels.size(), 1u);
  EXPECT_TRUE(g.ex.keys.empty());  // not_key specs are channels, not keys
  g = run({"ssubscribe", "a", "b"});
  ASSERT_EQ(g.ex.channels.size(), 2u);
  EXPECT_FALSE(g.ex.channels[1].pattern);
  g = run({"move", "k", "1"});
  EXPECT_EQ(g.ex.db_arg, 2);
  EXPECT_EQ(keys(g.ex), "1:rw");
  g = run({"swapdb", "0", "1"});
  EXPECT_EQ(g.ex.db_arg, 1);
  g = run({"copy", "a", "b", "DB", "5", "db", "0"});
  EXPECT_EQ(g.ex.db_arg, 6);  // last wins, as in copyCommand
  g = run({"copy", "a", "b", "replace"});
  EXPECT_EQ(g.ex.db_arg, -1);
  g = run({"sort", "l", "by", "nosort", "get", "#"});
  EXPECT_TRUE(g.ex.sort_reads_external);
  EXPECT_EQ(g.ex.sort_external_arg, 5);
  g = run({"sort_ro", "l", "by", "k_*"});
  EXPECT_TRUE(g.ex.sort_reads_external);
  g = run({"sort", "l", "by", "constant"});
  EXPECT_FALSE(g.ex.sort_reads_external);
  // Binary keys are raw bytes.
  const std::string bin("a\0b\xff", 4);
  g = run({"get", bin});
  ASSERT_TRUE(g.d.allowed());
  EXPECT_EQ(keys(g.ex), "1:r");
  // Denials point inside argv.
  g = run({"config"});
  EXPECT_EQ(g.d.reason, Reason::UnknownSubcommand);
  EXPECT_EQ(g.d.arg_index, 0);
  g = run({"xread", "count", "5", "streams"});
  EXPECT_EQ(g.d.arg_index, 3);
}

TEST(Extract, ClearKeepsCapacity) {
  Extraction ex;
  std::vector<std::string_view> argv = {"mget", "a", "b", "c", "d"};
  ASSERT_TRUE(extract(argv, ex).allowed());
  const size_t cap = ex.keys.capacity();
  const KeyRef* data = ex.keys.data();
  std::vector<std::string_view> get = {"get", "k"};
  ASSERT_TRUE(extract(get, ex).allowed());
  EXPECT_EQ(ex.keys.size(), 1u);
  EXPECT_EQ(ex.keys.capacity(), cap);
  EXPECT_EQ(ex.keys.data(), data);
}

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
  EXPECT_TRUE(findCommand("blpop")->traits & kBlocking);
}

}  // namespace
}  // namespace kw::policy
