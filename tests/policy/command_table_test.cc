// Command table: lookups, overlay traits, and the rule that no command reaches the generic
// key-spec engine when its specs are incomplete (every such command has a parser or is refused).
#include "policy/command_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "policy/command_meta.h"
#include "policy/key_extract.h"

namespace kw::policy {
namespace {

const CommandInfo& cmd(std::string_view name) {
  const size_t bar = name.find('|');
  const CommandInfo* c = findCommand(name.substr(0, bar));
  if (c && bar != std::string_view::npos) c = findSubcommand(*c, name.substr(bar + 1));
  EXPECT_NE(c, nullptr) << name;
  static const CommandInfo none{};
  return c ? *c : none;
}

TEST(CommandTable, LookupIsCaseInsensitiveAndExact) {
  EXPECT_EQ(findCommand("GET"), findCommand("get"));
  EXPECT_EQ(findCommand("gEt"), findCommand("get"));
  EXPECT_EQ(findCommand("get")->name, "get");
  EXPECT_EQ(findCommand("ge"), nullptr);
  EXPECT_EQ(findCommand("gett"), nullptr);
  EXPECT_EQ(findCommand(""), nullptr);
  EXPECT_EQ(findCommand(std::string("get\0", 4)), nullptr);
  EXPECT_EQ(findCommand("config|get"), nullptr);  // subcommands are not wire names
  EXPECT_EQ(findCommand(std::string(65, 'a')), nullptr);
  EXPECT_EQ(findCommand(std::string(100000, 'z')), nullptr);
  EXPECT_EQ(findCommand("JSON.GET"), findCommand("json.get"));
  const CommandInfo* config = findCommand("CONFIG");
  ASSERT_NE(config, nullptr);
  EXPECT_TRUE(config->traits & kContainer);
  EXPECT_EQ(findSubcommand(*config, "GeT"), findSubcommand(*config, "get"));
  EXPECT_EQ(findSubcommand(*config, "get")->name, "config|get");
  EXPECT_EQ(findSubcommand(*config, "get")->parent, config->id);
  EXPECT_EQ(findSubcommand(*config, ""), nullptr);
  EXPECT_EQ(findSubcommand(*config, "get|x"), nullptr);
  EXPECT_EQ(findSubcommand(*config, "nope"), nullptr);
  EXPECT_EQ(findSubcommand(*findCommand("get"), "x"), nullptr);  // not a container
  // A subcommand of another container is not found through this one.
  EXPECT_EQ(findSubcommand(*config, "encoding"), nullptr);
}

TEST(CommandTable, DenseIdsSortedNamesAndParents) {
  const auto all = allCommands();
  ASSERT_GT(all.size(), 400u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].id, i);
    if (i > 0) {
      EXPECT_LT(all[i - 1].name, all[i].name);
    }
    EXPECT_LT(all[i].parent, all.size());
    EXPECT_NE(all[i].arity, 0) << all[i].name;
    for (char c : all[i].name) EXPECT_FALSE(c >= 'A' && c <= 'Z') << all[i].name;
    const bool sub = all[i].name.find('|') != std::string_view::npos;
    EXPECT_EQ(sub, all[i].parent != all[i].id) << all[i].name;
  }
}

TEST(CommandTable, CategoriesFromRedisAndOverlay) {
  Category c;
  for (const char* n :
       {"keyspace",   "read",        "write",     "set",         "sortedset", "list",
        "hash",       "string",      "bitmap",    "hyperloglog", "geo",       "stream",
        "pubsub",     "admin",       "fast",      "slow",        "blocking",  "dangerous",
        "connection", "transaction", "scripting", "json",        "search"}) {
    EXPECT_TRUE(categoryFromName(n, c)) << n;
    EXPECT_TRUE(categoryFromName(std::string("@") + n, c)) << n;
  }
  EXPECT_TRUE(categoryFromName("@READ", c));
  EXPECT_EQ(c, Category::Read);
  EXPECT_FALSE(categoryFromName("all", c));  // @all is a rule keyword, not a category
  EXPECT_FALSE(categoryFromName("", c));
  EXPECT_FALSE(categoryFromName("@", c));
  EXPECT_TRUE(cmd("get").categories & categoryBit(Category::Read));
  EXPECT_TRUE(cmd("get").categories & categoryBit(Category::String));
  EXPECT_TRUE(cmd("keys").categories & categoryBit(Category::Dangerous));
  EXPECT_TRUE(cmd("sort").categories & categoryBit(Category::Dangerous));
  EXPECT_FALSE(cmd("scan").categories & categoryBit(Category::Dangerous));
  EXPECT_TRUE(cmd("json.get").categories & categoryBit(Category::Json));
  EXPECT_TRUE(cmd("search.query").categories & categoryBit(Category::Search));
  EXPECT_TRUE(cmd("acl|gentoken").categories & categoryBit(Category::Dangerous));
  EXPECT_TRUE(cmd("acl|resttoken").categories & categoryBit(Category::Admin));
  EXPECT_TRUE(cmd("hexpire").categories & categoryBit(Category::Hash));
  EXPECT_TRUE(cmd("xackdel").categories & categoryBit(Category::Stream));
  // Containers carry no categories of their own that matter; subcommands do.
  EXPECT_TRUE(cmd("client|kill").categories & categoryBit(Category::Dangerous));
  EXPECT_FALSE(cmd("client|setname").categories & categoryBit(Category::Dangerous));
}

TEST(CommandTable, SecurityTraits) {
  for (const char* n : {"keys",
                        "scan",
                        "randomkey",
                        "dbsize",
                        "flushdb",
                        "flushall",
                        "swapdb",
                        "info",
                        "memory|stats",
                        "memory|doctor",
                        "memory|purge",
                        "memory|malloc-stats",
                        "client|tracking",
                        "latency|latest",
                        "search.query",
                        "search.create",
                        "search.aggregate",
                        "search.listindexes",
                        "function|flush",
                        "script|flush",
                        "slowlog|len",
                        "lastsave"}) {
    EXPECT_TRUE(cmd(n).traits & kKeyspaceWide) << n;
  }
  EXPECT_TRUE(cmd("scan").traits & kScanLike);
  for (const char* n : {"move", "swapdb", "copy"}) EXPECT_TRUE(cmd(n).traits & kDbSwitch) << n;
  for (const char* n : {"auth",
                        "hello",
                        "reset",
                        "quit",
                        "client|reply",
                        "client|setname",
                        "client|tracking",
                        "client|no-evict",
                        "client|no-touch",
                        "client|setinfo",
                        "client|caching",
                        "client|getredir",
                        "client|id",
                        "client|getname",
                        "multi",
                        "exec",
                        "watch",
                        "unwatch",
                        "discard",
                        "select",
                        "readonly",
                        "readwrite",
                        "asking",
                        "monitor",
                        "script|debug",
                        "unsubscribe",
                        "punsubscribe",
                        "sunsubscribe"}) {
    EXPECT_TRUE(cmd(n).traits & kConnectionState) << n;
  }
  for (const char* n : {"blpop", "brpop", "brpoplpush", "blmove", "blmpop", "bzpopmin", "bzpopmax",
                        "bzmpop", "wait", "waitaof", "client|pause", "client|unpause",
                        "script|kill", "function|kill", "migrate"}) {
    EXPECT_TRUE(cmd(n).traits & kBlocking) << n;
  }
  for (const char* n :
       {"acl|whoami", "acl|list", "acl|users", "acl|getuser", "acl|log", "acl|dryrun",
        "client|list", "client|info", "slowlog|get", "config|get", "role", "monitor"}) {
    EXPECT_TRUE(cmd(n).traits & kIntrospection) << n;
  }
  for (const char* n : {"pubsub|channels", "pubsub|numsub", "pubsub|numpat", "pubsub|shardchannels",
                        "pubsub|shardnumsub"}) {
    EXPECT_TRUE(cmd(n).traits & kChannels) << n;
    EXPECT_FALSE(cmd(n).traits & kKeyspaceWide) << n;
  }
  for (const char* n : {"eval", "eval_ro", "evalsha", "evalsha_ro", "script|load"})
    EXPECT_TRUE(cmd(n).traits & kScript) << n;
  for (const char* n : {"fcall", "fcall_ro"}) EXPECT_TRUE(cmd(n).traits & kFunction) << n;
  for (const char* n : {"publish", "spublish", "subscribe", "ssubscribe", "psubscribe"})
    EXPECT_TRUE(cmd(n).traits & kChannels) << n;
  for (const char* n : {"subscribe", "ssubscribe", "psubscribe"})
    EXPECT_TRUE(cmd(n).traits & kSubscribe) << n;
  EXPECT_FALSE(cmd("publish").traits & kSubscribe);
  for (const char* n : {"xack", "xclaim", "xautoclaim", "xpending", "xgroup|create", "xgroup|setid",
                        "xgroup|destroy", "xgroup|createconsumer", "xgroup|delconsumer",
                        "xinfo|consumers", "xreadgroup", "xackdel"}) {
    EXPECT_TRUE(cmd(n).traits & kGroups) << n;
  }
  EXPECT_TRUE(cmd("xautoclaim").traits & kReturnsData);
  for (const char* n : {"sync",         "psync",          "replconf",         "shutdown",
                        "failover",     "cluster|info",   "cluster|nodes",    "module|load",
                        "module|list",  "replicaof",      "slaveof",          "save",
                        "bgsave",       "debug",          "client|kill",      "client|unblock",
                        "config|set",   "config|rewrite", "config|resetstat", "acl|setuser",
                        "acl|deluser",  "acl|load",       "acl|save",         "acl|gentoken",
                        "acl|resttoken"}) {
    EXPECT_TRUE(cmd(n).traits & kUnsupported) << n;
  }
  for (const char* n : {"config", "client", "object", "xgroup", "xinfo", "cluster", "acl"})
    EXPECT_TRUE(cmd(n).traits & kContainer) << n;
  for (const char* n : {"get", "set", "hset", "xadd", "json.set", "hexpire", "zadd", "xclaim"})
    EXPECT_EQ(cmd(n).traits & (kKeyspaceWide | kUnsupported | kConnectionState | kReturnsData), 0u)
        << n;
}

// Data-sized: Redis's work grows with stored data the reply does not carry back, so the Redis
// pool runs one at a time per tenant (docs/command-classes.md). Exactly these; commands whose
// cost the request or the reply bounds are not (a window of them stays cheap).
TEST(CommandTable, DataSizedCommands) {
  std::vector<std::string> sized;
  for (const CommandInfo& c : allCommands()) {
    if (c.traits & kDataSized) sized.emplace_back(c.name);
  }
  const std::vector<std::string> expected = {"append",
                                             "bitcount",
                                             "bitop",
                                             "bitpos",
                                             "copy",
                                             "dump",
                                             "flushall",
                                             "flushdb",
                                             "geosearch",
                                             "geosearchstore",
                                             "georadius",
                                             "georadius_ro",
                                             "georadiusbymember",
                                             "georadiusbymember_ro",
                                             "keys",
                                             "lcs",
                                             "linsert",
                                             "lpos",
                                             "lrem",
                                             "ltrim",
                                             "memory|usage",
                                             "pfcount",
                                             "pfmerge",
                                             "pubsub|channels",
                                             "pubsub|shardchannels",
                                             "sdiff",
                                             "sdiffstore",
                                             "setrange",
                                             "sinter",
                                             "sintercard",
                                             "sinterstore",
                                             "sort",
                                             "sort_ro",
                                             "sunion",
                                             "sunionstore",
                                             "xautoclaim",
                                             "xgroup|delconsumer",
                                             "xgroup|destroy",
                                             "xinfo|consumers",
                                             "xinfo|groups",
                                             "xinfo|stream",
                                             "xpending",
                                             "xtrim",
                                             "zdiff",
                                             "zdiffstore",
                                             "zinter",
                                             "zintercard",
                                             "zinterstore",
                                             "zrangestore",
                                             "zremrangebylex",
                                             "zremrangebyrank",
                                             "zremrangebyscore",
                                             "zunion",
                                             "zunionstore"};
  std::vector<std::string> sorted_expected = expected;
  std::sort(sorted_expected.begin(), sorted_expected.end());
  std::sort(sized.begin(), sized.end());
  EXPECT_EQ(sized, sorted_expected);
  for (const char* n : {"get", "set", "mget", "del", "hgetall", "lrange", "smembers", "evalsha",
                        "eval", "fcall", "incr", "lpush", "zadd", "zrange", "xadd", "scan"}) {
    EXPECT_EQ(cmd(n).traits & kDataSized, 0u) << n;
  }
  for (const char* n : {"hscan", "sscan", "zscan", "xautoclaim"}) {
    EXPECT_TRUE(cmd(n).traits & kBoundedCount) << n;
  }
  for (const char* n :
       {"zrange", "zrangebyscore", "zrevrangebyscore", "zrangebylex", "zrevrangebylex"}) {
    EXPECT_TRUE(cmd(n).traits & kLimitWalks) << n;
  }
  for (const char* n : {"srandmember", "hrandfield", "zrandmember"}) {
    EXPECT_TRUE(cmd(n).traits & kCountWalks) << n;
  }
  EXPECT_TRUE(cmd("xadd").traits & kTrimWalks);
  EXPECT_TRUE(cmd("xreadgroup").traits & kHistoryWalks);
  EXPECT_TRUE(cmd("hmget").traits & kFieldReads);
  using Args = std::vector<std::string_view>;
  EXPECT_TRUE(isDataSized(Args{"LCS", "a", "b"}));
  EXPECT_TRUE(isDataSized(Args{"dump", "k"}));
  EXPECT_TRUE(isDataSized(Args{"MEMORY", "usage", "k"}));
  EXPECT_FALSE(isDataSized(Args{"MEMORY", "stats"}));
  EXPECT_TRUE(isDataSized(Args{"ZRANGEBYSCORE", "z", "-inf", "+inf", "limit", "2000000", "1"}));
  EXPECT_TRUE(isDataSized(Args{"zrange", "z", "0", "+inf", "BYSCORE", "LIMIT", "5", "1"}));
  EXPECT_FALSE(isDataSized(Args{"ZRANGEBYSCORE", "z", "-inf", "+inf"}));
  EXPECT_FALSE(isDataSized(Args{"ZRANGE", "z", "0", "-1"}));
  EXPECT_FALSE(isDataSized(Args{"GET", "limit"}));
  // Attack round 21: a positive count cost Redis 1.08 s for a 2.96 MB reply (ZRANGE of the
  // same size: 17 ms); a negative one picks with repetition, as much work as it returns.
  EXPECT_TRUE(isDataSized(Args{"SRANDMEMBER", "s", "333334"}));
  EXPECT_TRUE(isDataSized(Args{"hrandfield", "h", "5", "WITHVALUES"}));
  EXPECT_TRUE(isDataSized(Args{"ZRANDMEMBER", "z", "1"}));
  EXPECT_FALSE(isDataSized(Args{"SRANDMEMBER", "s"}));
  // A negative count picks with repetition: a whole-collection read (checkRandomCount refuses
  // one past kMaxRandomRepeats), not data-sized.
  for (const char* count : {"-1", "-16", "-1000", "-1001", "-", "-1x"}) {
    EXPECT_FALSE(isDataSized(Args{"SRANDMEMBER", "s", count})) << count;
    EXPECT_TRUE(isCollectionRead(Args{"SRANDMEMBER", "s", count})) << count;
  }
  EXPECT_TRUE(isCollectionRead(Args{"HRANDFIELD", "h", "-5", "WITHVALUES"}));
  EXPECT_FALSE(isCollectionRead(Args{"HRANDFIELD", "h", "5", "WITHVALUES"}));
  EXPECT_FALSE(isCollectionRead(Args{"ZRANDMEMBER", "z"}));
  // Attack round 29a: writes that return the stored value are reads for the pacing and the
  // transaction rule; a pop with a count is a whole-collection read; XCLAIM copies entries.
  for (const char* n : {"getex", "getdel", "getset", "lmove", "rpoplpush", "lpop", "rpop", "spop",
                        "zpopmin", "zpopmax", "set"}) {
    EXPECT_TRUE(cmd(n).traits & kValueReply) << n;
  }
  EXPECT_TRUE(poolCost(Args{"GETEX", "k", "EX", "5"}).value_read);
  EXPECT_TRUE(poolCost(Args{"LMOVE", "a", "a", "LEFT", "RIGHT"}).value_read);
  EXPECT_TRUE(poolCost(Args{"LPOP", "l"}).value_read);
  EXPECT_TRUE(poolCost(Args{"SET", "k", "v", "GET"}).value_read);
  EXPECT_TRUE(poolCost(Args{"set", "k", "v", "ex", "5", "get"}).value_read);
  EXPECT_FALSE(poolCost(Args{"SET", "k", "v"}).value_read);
  EXPECT_FALSE(poolCost(Args{"SET", "get", "get"}).value_read);
  EXPECT_FALSE(poolCost(Args{"INCR", "k"}).value_read);
  EXPECT_FALSE(poolCost(Args{"HSET", "h", "f", "v"}).value_read);
  for (const char* pop : {"LPOP", "RPOP", "SPOP", "ZPOPMIN", "ZPOPMAX"}) {
    EXPECT_TRUE(poolCost(Args{pop, "k", "100000"}).collection_read) << pop;
    EXPECT_FALSE(poolCost(Args{pop, "k"}).collection_read) << pop;
  }
  // Attack round 30a: LINDEX and LSET walk a list node by node to the index from the nearer
  // end (1,000 LSET at the middle of a list of 2,000,000 one-element nodes held Redis 12.5 s).
  for (const char* near : {"0", "1", "1023", "-1", "-1024"}) {
    EXPECT_FALSE(isDataSized(Args{"LINDEX", "l", near})) << near;
    EXPECT_FALSE(isDataSized(Args{"LSET", "l", near, "v"})) << near;
  }
  for (const char* far : {"1024", "-1025", "1000000", "-0", "+5", "05", "x", ""}) {
    EXPECT_TRUE(isDataSized(Args{"LINDEX", "l", far})) << far;
    EXPECT_TRUE(isDataSized(Args{"lset", "l", far, "v"})) << far;
  }
  EXPECT_FALSE(isDataSized(Args{"LINDEX", "l"}));
  // Attack round 31a: a MATCH with a '*' inside costs its tail at every position of every name
  // walked (one SSCAN MATCH *[b...] over 8 KB members held Redis 830 ms): data-sized.
  EXPECT_TRUE(isDataSized(Args{"SSCAN", "s", "0", "MATCH", "*[bbb]"}));
  EXPECT_TRUE(isDataSized(Args{"hscan", "h", "0", "NOVALUES", "match", "user:*:x"}));
  EXPECT_TRUE(isDataSized(Args{"SCAN", "0", "MATCH", "app:*:x", "COUNT", "10"}));
  EXPECT_TRUE(isDataSized(Args{"ZSCAN", "z", "0", "MATCH", "x*", "MATCH", "*y"}));
  EXPECT_FALSE(isDataSized(Args{"ZSCAN", "z", "0", "MATCH", "*y", "MATCH", "x*"}));
  EXPECT_FALSE(isDataSized(Args{"SSCAN", "s", "0", "MATCH", "user:**"}));
  EXPECT_FALSE(isDataSized(Args{"SCAN", "0", "MATCH", "app:*"}));
  EXPECT_FALSE(isDataSized(Args{"HSCAN", "h", "0"}));
  EXPECT_EQ(matchTail("a*b*"), 2u);
  EXPECT_EQ(matchTail("*"), 0u);
  EXPECT_EQ(matchTail("*[bb]"), 5u);
  EXPECT_TRUE(cmd("xclaim").traits & kEntryReads);
  EXPECT_TRUE(isCollectionRead(Args{"XCLAIM", "s", "g", "c", "0", "1-1"}));
  // Whole-collection reads count toward a transaction's 4; the pool paces them by reply size.
  for (const char* n : {"hgetall", "hkeys", "hvals", "smembers", "lrange", "zrange", "xrange",
                        "xrevrange", "lmpop", "zmpop"}) {
    EXPECT_TRUE(cmd(n).traits & kCollectionReply) << n;
  }
  EXPECT_FALSE(isDataSized(Args{"HGETALL", "h"}));
  EXPECT_TRUE(isCollectionRead(Args{"hgetall", "h"}));
  EXPECT_TRUE(isCollectionRead(Args{"ZRANGE", "z", "0", "-1"}));
  EXPECT_FALSE(isCollectionRead(Args{"HGET", "h", "f"}));
  EXPECT_FALSE(isCollectionRead(Args{"NOSUCHCOMMAND"}));
  EXPECT_FALSE(isCollectionRead(Args{}));
  // Attack round 26: XREAD of a whole stream is a whole-collection read; XREADGROUP's pending
  // history (an ID other than ">") costs a stream lookup per entry (764 ms for a 6 MB reply).
  EXPECT_TRUE(isCollectionRead(Args{"XREAD", "STREAMS", "s", "0"}));
  // Attack round 27: COMMAND DOCS is 165 KB of reply; the pool paces other reads once a
  // tenant's replies come back large.
  EXPECT_TRUE(isCollectionRead(Args{"COMMAND", "DOCS"}));
  EXPECT_TRUE(isCollectionRead(Args{"command", "info"}));
  EXPECT_TRUE(isDataSized(Args{"XINFO", "CONSUMERS", "s", "g"}));
  EXPECT_TRUE(poolCost(Args{"GET", "k"}).value_read);
  // Attack round 28: MGET of 60 distinct 1 MiB keys, 32 in a pipeline, held Redis 8.4 s.
  EXPECT_TRUE(poolCost(Args{"MGET", "a", "b"}).collection_read);
  EXPECT_TRUE(poolCost(Args{"HMGET", "h", "f"}).collection_read);
  EXPECT_TRUE(isDataSized(Args{"APPEND", "k", "v"}));
  EXPECT_FALSE(poolCost(Args{"HGETALL", "h"}).value_read);
  EXPECT_TRUE(poolCost(Args{"HGETALL", "h"}).collection_read);
  EXPECT_FALSE(poolCost(Args{"SET", "k", "v"}).value_read);
  EXPECT_TRUE(poolCost(Args{"LCS", "a", "b"}).data_sized);
  EXPECT_FALSE(poolCost(Args{"NOSUCH"}).value_read);
  EXPECT_TRUE(isCollectionRead(Args{"xreadgroup", "GROUP", "g", "c", "STREAMS", "s", ">"}));
  EXPECT_FALSE(isDataSized(Args{"XREAD", "STREAMS", "s", "0"}));
  EXPECT_FALSE(isDataSized(Args{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"}));
  EXPECT_FALSE(isDataSized(
      Args{"XREADGROUP", "GROUP", "g", "c", "COUNT", "5", "NOACK", "streams", "a", "b", ">", ">"}));
  EXPECT_TRUE(isDataSized(Args{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"}));
  EXPECT_TRUE(isDataSized(Args{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", "b", ">", "0-1"}));
  // A group, consumer or COUNT named STREAMS is read where Redis reads it.
  EXPECT_FALSE(isDataSized(Args{"XREADGROUP", "GROUP", "STREAMS", "c", "STREAMS", "s", ">"}));
  EXPECT_TRUE(isDataSized(Args{"XREADGROUP", "GROUP", "g", "STREAMS", "STREAMS", "s", "0"}));
  EXPECT_TRUE(isDataSized(Args{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">", "x"}));
  EXPECT_TRUE(isDataSized(Args{"XREADGROUP", "GROUP", "g", "c", "BOGUS", "STREAMS", "s", ">"}));
  EXPECT_TRUE(isDataSized(Args{"XREADGROUP", "GROUP", "g", "c"}));
  // XADD trims as XTRIM does only with MAXLEN or MINID (either case).
  EXPECT_TRUE(isDataSized(Args{"XADD", "s", "MAXLEN", "=", "0", "*", "f", "v"}));
  EXPECT_TRUE(isDataSized(Args{"xadd", "s", "minid", "~", "5-0", "*", "f", "v"}));
  EXPECT_FALSE(isDataSized(Args{"XADD", "s", "*", "f", "v"}));
  // XPENDING's IDLE filter walks the whole pending list; its summary walks every consumer.
  EXPECT_TRUE(isDataSized(Args{"XPENDING", "s", "g", "IDLE", "999999999", "-", "+", "10"}));
  EXPECT_TRUE(isDataSized(Args{"XGROUP", "DESTROY", "s", "g"}));
  EXPECT_FALSE(isDataSized(Args{"NOSUCHCOMMAND"}));
  EXPECT_FALSE(isDataSized(Args{}));
}

// docs/redis-acl-notes.md 2.2: every movablekeys, incomplete, variable_flags or unknown-spec
// command either has a dedicated parser or is refused as a whole. These are the 7.0.15 members.
TEST(CommandTable, IncompleteSpecsNeverReachTheGenericEngine) {
  for (const CommandInfo& c : allCommands()) {
    const CommandMeta& m = commandMeta(c);
    bool unknown = false;
    for (const KeySpec& s : keySpecs(c)) {
      unknown |= s.begin == BeginSearch::Unknown || s.find == FindKeys::Unknown;
    }
    if (unknown) {
      EXPECT_TRUE(m.parser != KeyParser::Specs || (c.traits & (kUnsupported | kBlocking)))
          << c.name;
    }
  }
  // Spec-complete movablekeys (numkeys-driven): the generic keynum engine is exact for them.
  const std::vector<std::string_view> keynum = {"lmpop",  "sintercard", "zdiff",       "zdiffstore",
                                                "zinter", "zintercard", "zinterstore", "zmpop",
                                                "zunion", "zunionstore"};
  for (auto n : keynum) {
    bool has_keynum = false;
    for (const KeySpec& s : keySpecs(cmd(n))) has_keynum |= s.find == FindKeys::Keynum;
    EXPECT_TRUE(has_keynum) << n;
  }
  const std::vector<std::string_view> need_parser = {
      "eval",     "eval_ro",    "evalsha", "evalsha_ro", "fcall",
      "fcall_ro", "sort",       "sort_ro", "georadius",  "georadiusbymember",
      "xread",    "xreadgroup", "migrate", "set",        "bitfield"};
  for (auto n : need_parser) EXPECT_NE(commandMeta(cmd(n)).parser, KeyParser::Specs) << n;
  for (auto n : {"blmpop", "bzmpop"}) EXPECT_TRUE(cmd(n).traits & kBlocking) << n;
}

// Every executable unit with keys extracts from a minimal argv without touching argv[0].
TEST(CommandTable, EveryUnitExtractsWithinBounds) {
  size_t units = 0;
  for (const CommandInfo& c : allCommands()) {
    if (c.traits & kContainer) continue;
    std::vector<std::string_view> argv;
    const size_t bar = c.name.find('|');
    argv.push_back(c.name.substr(0, bar));
    if (bar != std::string_view::npos) argv.push_back(c.name.substr(bar + 1));
    const size_t n = c.arity > 0 ? static_cast<size_t>(c.arity) : static_cast<size_t>(-c.arity);
    while (argv.size() < n) argv.push_back("1");
    Extraction ex;
    const Decision d = extract(argv, ex);
    EXPECT_NE(d.reason, Reason::UnknownCommand) << c.name;
    EXPECT_NE(d.reason, Reason::UnknownSubcommand) << c.name;
    EXPECT_NE(d.reason, Reason::ArityError) << c.name;
    if (d.allowed()) {
      ++units;
      EXPECT_EQ(ex.command, &c);
      for (const KeyRef& k : ex.keys) {
        EXPECT_GE(k.arg, 1u) << c.name;
        EXPECT_LT(k.arg, argv.size()) << c.name;
      }
    }
  }
  EXPECT_GT(units, 300u);
}

}  // namespace
}  // namespace kw::policy
