// Tests for ClientPolicy: compile errors, bad and huge input (empty argv, a million args, a
// 16 MiB key, NUL bytes, invalid UTF-8, case variants) and the SCAN rewrite's lifetime.
#include "policy/client_policy.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "policy/command_table.h"

namespace kw::policy {
namespace {

std::shared_ptr<const ClientPolicy> compileOk(const ClientSpec& spec) {
  auto r = ClientPolicy::compile(spec);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  return r ? *r : nullptr;
}

std::string compileError(const ClientSpec& spec) {
  auto r = ClientPolicy::compile(spec);
  return r ? std::string() : r.error().message;
}

ClientSpec appSpec() {
  ClientSpec s;
  s.name = "app";
  s.commands = {"+@all"};
  s.keys = {"app:*"};
  return s;
}

Decision eval(const ClientPolicy& p, std::vector<std::string> args, std::string_view sub = {}) {
  std::vector<std::string_view> argv(args.begin(), args.end());
  EvalScratch scratch;
  return p.evaluate(argv, Identity{sub}, scratch).decision;
}

TEST(ClientPolicyCompile, NamesTheFieldAndIndex) {
  ClientSpec s = appSpec();
  s.keys = {"app:*", ""};
  EXPECT_NE(compileError(s).find("keys[1]"), std::string::npos);
  s = appSpec();
  s.read_keys = {"a[{sub}]"};
  EXPECT_NE(compileError(s).find("read_keys[0]"), std::string::npos);
  s = appSpec();
  s.write_keys = {std::string(kMaxPatternBytes + 1, 'w')};
  EXPECT_NE(compileError(s).find("write_keys[0]"), std::string::npos);
  s = appSpec();
  s.channels = {"ok", ""};
  EXPECT_NE(compileError(s).find("channels[1]"), std::string::npos);
  s = appSpec();
  s.consumer_groups = {""};
  EXPECT_NE(compileError(s).find("consumer_groups[0]"), std::string::npos);
  s = appSpec();
  s.scripts = {"e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "not-a-sha"};
  EXPECT_NE(compileError(s).find("scripts[1]"), std::string::npos);
  s = appSpec();
  s.functions = {""};
  EXPECT_NE(compileError(s).find("functions[0]"), std::string::npos);
  s = appSpec();
  s.commands = {"+@all", "+nosuch"};
  EXPECT_NE(compileError(s).find("commands[1]"), std::string::npos);
}

TEST(ClientPolicyCompile, Accessors) {
  ClientSpec s = appSpec();
  auto p = compileOk(s);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->name(), "app");
  EXPECT_FALSE(p->usesTemplates());
  s.channels = {"chat:{sub}"};
  EXPECT_TRUE(compileOk(s)->usesTemplates());
  s = appSpec();
  s.scripts = {"E0E1F9FABFC9D4800C877A703B823AC0578FF8DB"};  // normalised to lowercase
  s.commands = {"+eval"};
  auto q = compileOk(s);
  EXPECT_TRUE(eval(*q, {"EVAL", "return 1", "0"}).allowed());
}

TEST(ClientPolicyEval, EmptyArgv) {
  auto p = compileOk(appSpec());
  const Decision d = eval(*p, {});
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::EmptyCommand);
}

TEST(ClientPolicyEval, MillionArguments) {
  auto p = compileOk(appSpec());
  std::vector<std::string> args = {"DEL"};
  args.reserve(1000001);
  for (int i = 0; i < 1000000; ++i) args.push_back("app:" + std::to_string(i));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(eval(*p, args).allowed());
  args.back() = "other";
  const Decision d = eval(*p, args);
  EXPECT_EQ(d.reason, Reason::KeyDenied);
  EXPECT_EQ(d.arg_index, 1000000);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  EXPECT_LT(ms, 20000);
  // One past the hard bound is refused before any parsing.
  args.resize(kMaxArgs + 1, "app:x");
  EXPECT_EQ(eval(*p, args).reason, Reason::TooLarge);
}

TEST(ClientPolicyEval, SixteenMebibyteKey) {
  ClientSpec s = appSpec();
  s.read_keys = {"*:x*y*z", "b[0-9]?*q"};
  auto p = compileOk(s);
  std::string key = "app:" + std::string(16u << 20, 'k');
  EXPECT_TRUE(eval(*p, {"GET", key}).allowed());
  key[0] = 'b';
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(eval(*p, {"GET", key}).reason, Reason::KeyDenied);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  EXPECT_LT(ms, 5000);
  ClientSpec t = appSpec();
  t.scripts = {"*"};
  auto q = compileOk(t);
  EXPECT_TRUE(eval(*q, {"EVAL", std::string(16u << 20, 'x'), "1", "app:k"}).allowed());
  ClientSpec u = appSpec();
  u.scripts = {"e0e1f9fabfc9d4800c877a703b823ac0578ff8db"};
  auto r = compileOk(u);
  EXPECT_EQ(eval(*r, {"EVAL", std::string(16u << 20, 'x'), "0"}).reason, Reason::ScriptDenied);
}

TEST(ClientPolicyEval, NulBytesAndInvalidUtf8) {
  auto p = compileOk(appSpec());
  EXPECT_TRUE(eval(*p, {"GET", std::string("app:\0\0", 6)}).allowed());
  EXPECT_EQ(eval(*p, {"GET", std::string("ap\0p:", 5)}).reason, Reason::KeyDenied);
  EXPECT_EQ(eval(*p, {std::string("GET\0", 4), "app:k"}).reason, Reason::UnknownCommand);
  EXPECT_TRUE(eval(*p, {"SET", "app:\xc3\x28\xff", "\xfe\xff"}).allowed());
  EXPECT_EQ(eval(*p, {"\xc3\x28", "app:k"}).reason, Reason::UnknownCommand);
  EXPECT_EQ(eval(*p, {"SET", "\xc3\x28", "v"}).reason, Reason::KeyDenied);
}

TEST(ClientPolicyEval, CaseVariants) {
  auto p = compileOk(appSpec());
  for (const char* name : {"get", "GET", "Get", "gEt", "geT"}) {
    EXPECT_TRUE(eval(*p, {name, "app:k"}).allowed()) << name;
  }
  EXPECT_EQ(eval(*p, {"get", "APP:k"}).reason, Reason::KeyDenied);
  EXPECT_EQ(eval(*p, {"flushALL"}).reason, Reason::CommandDenied);
}

TEST(ClientPolicyEval, DecisionCarriesCommandAndIndex) {
  auto p = compileOk(appSpec());
  const Decision d = eval(*p, {"MSET", "app:a", "1", "nope", "2"});
  EXPECT_EQ(d.reason, Reason::KeyDenied);
  EXPECT_EQ(d.arg_index, 3);
  ASSERT_NE(d.command, nullptr);
  EXPECT_EQ(d.command->name, "mset");
  const Decision c = eval(*p, {"FLUSHALL"});
  ASSERT_NE(c.command, nullptr);
  EXPECT_EQ(c.command->name, "flushall");
  EXPECT_EQ(denialMessage(c, "FLUSHALL").rfind("NOPERM", 0), 0u);
}

// A command naming many keys grows the per-connection scratch; trim() between requests lets go
// of it, so an idle connection does not keep megabytes a large request needed.
TEST(ClientPolicyEval, ScratchGrownByALargeCommandIsLetGoBetweenRequests) {
  ClientSpec s = appSpec();
  auto p = compileOk(s);
  std::vector<std::string> args = {"MGET"};
  for (int i = 0; i < 100000; ++i) args.push_back("app:k" + std::to_string(i));
  std::vector<std::string_view> argv(args.begin(), args.end());
  EvalScratch scratch;
  ASSERT_TRUE(p->evaluate(argv, Identity{}, scratch).decision.allowed());
  EXPECT_GE(scratch.extraction.keys.capacity(), 100000u);
  EXPECT_GE(scratch.read_slots.capacity(), 200000u);
  scratch.trim();
  EXPECT_LE(scratch.extraction.keys.capacity(), 1024u);
  EXPECT_LE(scratch.read_slots.capacity(), 1024u);
  // Small ones stay for the next request (no allocation on the hot path).
  std::vector<std::string_view> small = {"MGET", "app:a", "app:b"};
  ASSERT_TRUE(p->evaluate(small, Identity{}, scratch).decision.allowed());
  const size_t kept = scratch.read_slots.capacity();
  scratch.trim();
  EXPECT_EQ(scratch.read_slots.capacity(), kept);
}

TEST(ClientPolicyEval, ScanRewriteViewsStayValid) {
  ClientSpec s = appSpec();
  s.keys = {"sess:{sub}:*"};
  auto p = compileOk(s);
  std::vector<std::string> args = {"SCAN", "0", "COUNT", "10"};
  std::vector<std::string_view> argv(args.begin(), args.end());
  EvalScratch scratch;
  const Evaluation ev = p->evaluate(argv, Identity{"alice"}, scratch);
  ASSERT_TRUE(ev.decision.allowed());
  const std::vector<std::string> got(ev.rewritten.begin(), ev.rewritten.end());
  EXPECT_EQ(got, (std::vector<std::string>{"SCAN", "0", "COUNT", "10", "MATCH", "sess:alice:*"}));
  // The scratch is reusable: a later evaluation does not need the old rewrite.
  std::vector<std::string_view> get = {"GET", "sess:alice:1"};
  EXPECT_TRUE(p->evaluate(get, Identity{"alice"}, scratch).decision.allowed());
  EXPECT_TRUE(p->evaluate(get, Identity{"alice"}, scratch).rewritten.empty());
}

TEST(ClientPolicyEval, ScratchReuseAcrossPolicies) {
  auto a = compileOk(appSpec());
  ClientSpec s = appSpec();
  s.keys = {"other:*"};
  auto b = compileOk(s);
  EvalScratch scratch;
  std::vector<std::string_view> argv = {"GET", "app:1"};
  EXPECT_TRUE(a->evaluate(argv, Identity{}, scratch).decision.allowed());
  EXPECT_FALSE(b->evaluate(argv, Identity{}, scratch).decision.allowed());
  EXPECT_TRUE(a->evaluate(argv, Identity{}, scratch).decision.allowed());
}

TEST(IsValidSubFromClientPolicy, SameGrammar) {
  EXPECT_TRUE(isValidSub("user-1@example.com"));
  EXPECT_FALSE(isValidSub("user 1"));
  EXPECT_FALSE(isValidSub("{sub}"));
}

// docs/command-classes.md: a command in a never-forwarded class is refused under the widest
// grant there is (+@all and every command named one by one, keys/channels/groups/scripts/
// functions all "*"), with its class's reason; every other unit of the table is not refused for
// its own sake under that grant (so no class is forgotten by a generic deny).
TEST(ClientPolicyClasses, NeverForwardedClassesResistTheWidestGrant) {
  ClientSpec s;
  s.name = "root";
  s.commands = {"+@all"};
  for (const CommandInfo& c : allCommands()) {
    if (!(c.traits & kContainer)) s.commands.push_back("+" + std::string(c.name));
  }
  s.keys = {"*"};
  s.channels = {"*"};
  s.consumer_groups = {"*"};
  s.scripts = {"*"};
  s.functions = {"*"};
  auto p = compileOk(s);
  ASSERT_NE(p, nullptr);
  size_t refused = 0;
  for (const CommandInfo& c : allCommands()) {
    if (c.traits & kContainer) continue;
    std::vector<std::string> args;
    const size_t bar = c.name.find('|');
    args.emplace_back(c.name.substr(0, bar));
    if (bar != std::string_view::npos) args.emplace_back(c.name.substr(bar + 1));
    const size_t n = c.arity > 0 ? static_cast<size_t>(c.arity) : static_cast<size_t>(-c.arity);
    while (args.size() < n) args.emplace_back("0");
    const Decision d = eval(*p, args);
    Reason want = Reason::Ok;
    if (c.traits & kUnsupported) {
      want = Reason::Unsupported;
    } else if (c.traits & kConnectionState) {
      want = Reason::ConnectionState;
    } else if (c.traits & kBlocking) {
      want = Reason::Blocking;
    } else if (c.traits & kIntrospection) {
      want = Reason::Introspection;
    }
    if (want != Reason::Ok) {
      ++refused;
      EXPECT_FALSE(d.allowed()) << c.name;
      EXPECT_EQ(reasonName(d.reason), reasonName(want)) << c.name;
    } else {
      for (Reason r : {Reason::Unsupported, Reason::ConnectionState, Reason::Blocking,
                       Reason::Introspection, Reason::CommandDenied}) {
        EXPECT_NE(reasonName(d.reason), reasonName(r)) << c.name;
      }
    }
  }
  EXPECT_GT(refused, 100u);
  // The attacks named in the issue, spelled as a client would.
  for (std::vector<std::string> a :
       std::vector<std::vector<std::string>>{{"SCRIPT", "DEBUG", "YES"},
                                             {"script", "debug", "sync"},
                                             {"SCRIPT", "DEBUG", "NO"},
                                             {"WAIT", "1", "0"},
                                             {"CLIENT", "PAUSE", "100"},
                                             {"ACL", "WHOAMI"},
                                             {"CLIENT", "LIST"},
                                             {"CONFIG", "GET", "requirepass"},
                                             {"SELECT", "0"},
                                             {"XREAD", "BLOCK", "0", "STREAMS", "s", "$"},
                                             {"DEBUG", "SLEEP", "1"},
                                             {"CLIENT", "NO-EVICT", "on"},
                                             {"HELLO", "3"},
                                             {"MONITOR"}}) {
    EXPECT_FALSE(eval(*p, a).allowed()) << a[0] << " " << a[1 % a.size()];
  }
}

// The names redis_pool.cc refuses before sending (unsafeOnPool): policy must deny each of
// them first, so a /pipeline never fails whole on one of them (an inline error slot instead).
TEST(ClientPolicyClasses, NothingTheUpstreamRefusesIsAllowed) {
  ClientSpec s;
  s.name = "root";
  s.commands = {"+@all"};
  for (const CommandInfo& c : allCommands()) {
    if (!(c.traits & kContainer)) s.commands.push_back("+" + std::string(c.name));
  }
  s.keys = {"*"};
  s.channels = {"*"};
  auto p = compileOk(s);
  ASSERT_NE(p, nullptr);
  for (std::vector<std::string> a :
       std::vector<std::vector<std::string>>{{"subscribe", "c"},
                                             {"psubscribe", "c"},
                                             {"ssubscribe", "c"},
                                             {"unsubscribe"},
                                             {"punsubscribe"},
                                             {"sunsubscribe"},
                                             {"monitor"},
                                             {"sync"},
                                             {"psync", "?", "-1"},
                                             {"replconf", "x", "y"},
                                             {"multi"},
                                             {"exec"},
                                             {"discard"},
                                             {"watch", "k"},
                                             {"unwatch"},
                                             {"select", "0"},
                                             {"auth", "p"},
                                             {"hello"},
                                             {"reset"},
                                             {"quit"},
                                             {"client", "reply", "on"}}) {
    const Decision d = eval(*p, a);
    // SUBSCRIBE & co. are allowed by the policy and refused by the router outside the SSE
    // routes (inline in a pipeline); the rest never pass the policy.
    if (d.allowed()) {
      ASSERT_NE(d.command, nullptr);
      EXPECT_TRUE(d.command->traits & kSubscribe) << a[0];
    }
  }
}

}  // namespace
}  // namespace kw::policy
