// keyward policy test and keyward explain, on the pure pieces: case files and their errors, the
// runner's failure lines, explain's evidence for each kind of subject, and the worked examples.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "conf/loader.h"
#include "conf/policy_cases.h"
#include "proxy/tools/explain_report.h"
#include "proxy/tools/policy_test_runner.h"

namespace kw::proxy {
namespace {

namespace fs = std::filesystem;

const char* kConfig = R"(listen:
  address: 127.0.0.1:0
upstream:
  url: redis://127.0.0.1:6379
clients:
  - name: web
    commands: ["+@read", "+set", "+scan", "+publish", "+xreadgroup", "+evalsha", "-@dangerous", "+getex", "+lmove", "+lpop", "+hincrby"]
    keys: ["user:{sub}:*"]
    read_keys: ["public:*"]
    channels: ["chat:*"]
    consumer_groups: ["workers"]
    scripts: ["b2efc02798c8e9b471a10f9b1d5745db89923ff3"]
  - name: cache
    commands: ["+scan"]
    keys: ["cache:*"]
  - name: writer
    commands: ["+setrange", "+get"]
    keys: ["w:*"]
)";

// A config's policies (no secrets, no key files), as the policy tools read it.
conf::SnapshotConstSharedPtr snapshotOf(const char* yaml, const char* name) {
  auto cfg =
      conf::loadConfigText(yaml, name, "/tmp", [](std::string_view) { return std::nullopt; });
  EXPECT_TRUE(cfg) << cfg.error().message;
  if (!cfg) return nullptr;
  auto snap = conf::buildSnapshotWithoutKeys(std::move(*cfg));
  EXPECT_TRUE(snap) << snap.error().message;
  return snap ? *snap : nullptr;
}

conf::SnapshotConstSharedPtr snapshot() { return snapshotOf(kConfig, "k.yaml"); }

class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    path_ = fs::temp_directory_path() /
            ("kw-cases-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++) + ".yaml");
    std::ofstream(path_) << text;
  }
  ~TempFile() { fs::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

TEST(PolicyCasesTest, ErrorsNameTheirLineAndColumn) {
  auto bad = conf::parsePolicyCases(
      "- name: a\n  client: web\n  command: [GET, k]\n  expect: maybe\n"
      "- name: b\n  client: web\n  pipeline: [[GET, k], [GET, j]]\n  expect: [allow]\n"
      "- name: c\n  client: web\n  expect: allow\n"
      "- name: d\n  client: web\n  command: [GET]\n  expected: allow\n",
      "cases.yaml");
  ASSERT_FALSE(bad);
  const std::string& m = bad.error().message;
  EXPECT_NE(m.find("cases.yaml:4:11: expect: each verdict is allow, deny or deny:<reason>"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("cases.yaml:8:11: case 'b': a pipeline expects a list with one verdict per "
                   "command (2)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("cases.yaml:9:3: case 'c' needs exactly one of command, pipeline, "
                   "multi-exec, subscribe"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("cases.yaml:15:3: unknown case field 'expected'"), std::string::npos) << m;
}

TEST(PolicyTestRunnerTest, FailuresAreFileLineNameExpectedGot) {
  auto snap = snapshot();
  TempFile cases(
      "- name: own key\n  client: web\n  sub: \"42\"\n  command: [GET, \"user:42:a\"]\n"
      "  expect: allow\n"
      "- name: wrong on purpose\n  client: web\n  sub: \"42\"\n"
      "  pipeline: [[GET, \"user:42:a\"], [SET, \"public:x\", \"1\"]]\n"
      "  expect: [allow, allow]\n"
      "- name: reason checked\n  client: web\n  command: [FLUSHALL]\n  expect: deny:key_denied\n"
      "- name: transaction\n  client: web\n  sub: \"42\"\n"
      "  multi-exec: [[SET, \"user:42:a\", \"1\"], [SET, \"user:7:a\", \"1\"]]\n"
      "  expect: deny:key_denied\n"
      "- name: nobody\n  client: ghost\n  command: [GET, k]\n  expect: deny\n");
  std::ostringstream out, err;
  EXPECT_EQ(runPolicyTests(*snap, {cases.path()}, out, err), 1);
  const std::string p = cases.path();
  EXPECT_EQ(out.str(),
            p +
                ":6: wrong on purpose: command 1: expected allow, got deny:key_denied (NOPERM "
                "this user has no permissions to access one of the keys used as arguments of "
                "'set' (argument 1))\n" +
                p +
                ":11: reason checked: expected deny:key_denied, got deny:command_denied "
                "(NOPERM this user has no permissions to run the 'flushall' command or its "
                "subcommand)\n" +
                p + ":20: nobody: no client named ghost\n" + "2 passed, 3 failed\n");
  EXPECT_EQ(err.str(), "");
  std::ostringstream out2, err2;
  EXPECT_EQ(runPolicyTests(*snap, {"/nonexistent/cases.yaml"}, out2, err2), 2);
  EXPECT_EQ(out2.str(), "0 passed, 0 failed\n");
}

// Found by the attack run: a case name with a newline forged a report line.
TEST(PolicyTestRunnerTest, NamesCannotForgeReportLines) {
  auto snap = snapshot();
  TempFile cases(
      "- name: \"evil\\nFAKE:1: x: expected allow, got allow\"\n  client: web\n"
      "  command: [FLUSHALL]\n  expect: allow\n");
  std::ostringstream out, err;
  EXPECT_EQ(runPolicyTests(*snap, {cases.path()}, out, err), 1);
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_NE(text.find(": evil?FAKE:1: x: expected allow, got allow: expected allow, got deny"),
            std::string::npos)
      << text;
}

// Explain's JSON for one request, parsed.
std::string explainJson(const ExplainRequest& r) {
  auto snap = snapshot();
  auto e = explainRequest(*snap, r, true);
  EXPECT_TRUE(e) << e.error().message;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(e->text).get(root), simdjson::SUCCESS) << e->text;
  return e->text;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ExplainTest, KeysWithTheirPatternTemplateAndLocation) {
  const std::string j = explainJson(
      {"web", "42", conf::CaseRoute::Command, {{"MGET", "user:42:a", "public:b", "user:7:c"}}});
  EXPECT_TRUE(has(j, R"("allowed":false,"cost":0)")) << j;
  EXPECT_TRUE(has(j, R"("rule":{"index":0,"text":"+@read","at":"k.yaml:7:16"})")) << j;
  EXPECT_TRUE(has(
      j,
      R"({"kind":"key","arg":1,"value":"user:42:a","granted":true,"need":"R","matched":[{"pattern":"keys[0]","text":"user:{sub}:*","access":"RW","at":"k.yaml:8:12","expanded":"user:42:*"}]})"))
      << j;
  EXPECT_TRUE(has(
      j,
      R"({"kind":"key","arg":2,"value":"public:b","granted":true,"need":"R","matched":[{"pattern":"read_keys[0]","text":"public:*","access":"R","at":"k.yaml:9:17"}]})"))
      << j;
  EXPECT_TRUE(has(
      j, R"({"kind":"key","arg":3,"value":"user:7:c","granted":false,"need":"R","matched":[]})"))
      << j;
  EXPECT_TRUE(has(j, R"("reason":"key_denied")")) << j;
}

TEST(ExplainTest, ScanRewriteChannelsGroupsScriptsAndDangerous) {
  const std::string scan = explainJson({"cache", "", conf::CaseRoute::Command, {{"SCAN", "0"}}});
  EXPECT_TRUE(has(scan, R"("forwarded":["SCAN","0","MATCH","cache:*"])")) << scan;
  const std::string pub =
      explainJson({"web", "", conf::CaseRoute::Command, {{"PUBLISH", "chat:x", "hi"}}});
  EXPECT_TRUE(has(
      pub,
      R"({"kind":"channel","arg":1,"value":"chat:x","granted":true,"matched":[{"pattern":"channels[0]")"))
      << pub;
  const std::string grp =
      explainJson({"web",
                   "42",
                   conf::CaseRoute::Command,
                   {{"XREADGROUP", "GROUP", "others", "c1", "STREAMS", "user:42:s", ">"}}});
  EXPECT_TRUE(has(grp, R"({"kind":"consumer group","arg":2,"value":"others","granted":false)"))
      << grp;
  const std::string lua =
      explainJson({"web",
                   "42",
                   conf::CaseRoute::Command,
                   {{"EVALSHA", "B2EFC02798C8E9B471A10F9B1D5745DB89923FF3", "1", "user:42:rl"}}});
  EXPECT_TRUE(has(lua, R"({"kind":"script","arg":1,)")) << lua;
  EXPECT_TRUE(
      has(lua,
          R"("matched":[{"pattern":"scripts","text":"b2efc02798c8e9b471a10f9b1d5745db89923ff3"}])"))
      << lua;
  const std::string flush = explainJson({"web", "", conf::CaseRoute::Command, {{"FLUSHALL"}}});
  EXPECT_TRUE(has(flush, R"("rule":{"index":6,"text":"-@dangerous")")) << flush;
  EXPECT_TRUE(has(flush, R"("dangerous_needs_naming":true)")) << flush;
}

TEST(ExplainTest, TransactionsStopAtTheFirstDenialAndCostNothing) {
  const std::string j = explainJson({"web",
                                     "42",
                                     conf::CaseRoute::MultiExec,
                                     {{"SET", "public:x", "1"}, {"SET", "user:42:a", "1"}}});
  EXPECT_TRUE(has(j, R"("route":"multi-exec","allowed":false,"cost":0)")) << j;
  EXPECT_TRUE(has(j, R"({"index":1,"argv":["SET","user:42:a","1"],"decision":"skipped"})")) << j;
  const std::string ok =
      explainJson({"web", "42", conf::CaseRoute::Pipeline, {{"GET", "user:42:a"}, {"GET", "x"}}});
  EXPECT_TRUE(has(ok, R"("allowed":false,"cost":1)")) << ok;
}

// explain and `keyward policy test` decide as the router: a fifth data-sized command refuses a
// transaction (policy::countInTransaction), a pipeline of them is paced, not refused.
TEST(ExplainTest, ATransactionHoldsAtMostFourDataSizedCommands) {
  const std::vector<std::string> sunion = {"SUNION", "user:42:a"};
  const std::string five = explainJson(
      {"web", "42", conf::CaseRoute::MultiExec, {sunion, sunion, sunion, sunion, sunion}});
  EXPECT_TRUE(has(five, R"("route":"multi-exec","allowed":false,"cost":0)")) << five;
  EXPECT_TRUE(has(five, R"("reason":"transaction_data_sized")")) << five;
  EXPECT_TRUE(has(five,
                  "at most 4 data-sized, scanning or whole-collection commands or repeated reads "
                  "('sunion' is one more)"))
      << five;
  const std::string four =
      explainJson({"web", "42", conf::CaseRoute::MultiExec, {sunion, sunion, sunion, sunion}});
  EXPECT_TRUE(has(four, R"("allowed":true,"cost":4)")) << four;
  const std::string pipeline = explainJson(
      {"web", "42", conf::CaseRoute::Pipeline, {sunion, sunion, sunion, sunion, sunion}});
  EXPECT_TRUE(has(pipeline, R"("allowed":true,"cost":5)")) << pipeline;
  // Scanning commands walk up to their COUNT whatever they return: they count too (attack round
  // 23: 10,000 HSCAN in one /multi-exec held Redis 3.7 s).
  const std::vector<std::string> scan = {"SCAN", "0", "MATCH", "user:42:*"};
  const std::string scans =
      explainJson({"web", "42", conf::CaseRoute::MultiExec, {scan, sunion, scan, scan, scan}});
  EXPECT_TRUE(has(scans, R"("reason":"transaction_data_sized")")) << scans;
  EXPECT_TRUE(has(scans, "('scan' is one more)")) << scans;
  // Attack round 27: GETs of one 9 MiB value, 400 in one /multi-exec, were 400 copies in the
  // EXEC reply Redis built (3.6 GB, 16.5 s). A read of a key an earlier read named counts too.
  const std::vector<std::string> get = {"GET", "user:42:a"};
  const std::vector<std::string> other = {"GET", "user:42:b"};
  const std::string six =
      explainJson({"web", "42", conf::CaseRoute::MultiExec, {get, get, get, get, get, get}});
  EXPECT_TRUE(has(six, R"("reason":"transaction_data_sized")")) << six;
  EXPECT_TRUE(has(six, "('get' is one more)")) << six;
  const std::string reads =
      explainJson({"web", "42", conf::CaseRoute::MultiExec, {get, other, get, get, get, get}});
  EXPECT_TRUE(has(reads, R"("allowed":true)")) << reads;
  std::vector<std::vector<std::string>> distinct;
  for (int i = 0; i < 20; ++i) distinct.push_back({"GET", "user:42:k" + std::to_string(i)});
  const std::string twenty = explainJson({"web", "42", conf::CaseRoute::MultiExec, distinct});
  EXPECT_TRUE(has(twenty, R"("allowed":true)")) << twenty;
  const std::string piped = explainJson(
      {"web", "42", conf::CaseRoute::Pipeline, {get, get, get, get, get, get, get, get}});
  EXPECT_TRUE(has(piped, R"("allowed":true)")) << piped;
  // Attack round 29a: writes that return the stored value are reads too. 300 GETEX of one
  // 10 MB key held Redis 2.7 s; 1,000 LMOVE of a list onto itself (one 1 MB element) 654 ms.
  const std::vector<std::string> getex = {"GETEX", "user:42:a", "EX", "60"};
  const std::string getexes = explainJson(
      {"web", "42", conf::CaseRoute::MultiExec, {getex, getex, getex, getex, getex, getex}});
  EXPECT_TRUE(has(getexes, "('getex' is one more)")) << getexes;
  const std::vector<std::string> rotate = {"LMOVE", "user:42:l", "user:42:l", "LEFT", "RIGHT"};
  const std::string rotations = explainJson(
      {"web", "42", conf::CaseRoute::MultiExec, {rotate, rotate, rotate, rotate, rotate, rotate}});
  EXPECT_TRUE(has(rotations, "('lmove' is one more)")) << rotations;
  const std::vector<std::string> pop = {"LPOP", "user:42:l", "1000"};
  const std::string pops =
      explainJson({"web", "42", conf::CaseRoute::MultiExec, {pop, get, pop, other, pop, pop, pop}});
  EXPECT_TRUE(has(pops, "('lpop' is one more)")) << pops;
  // Writes that return a number or OK do not count, however often they name a key.
  const std::vector<std::string> incr = {"HINCRBY", "user:42:h", "f", "1"};
  const std::vector<std::string> set = {"SET", "user:42:a", "v"};
  const std::string counters = explainJson(
      {"web", "42", conf::CaseRoute::MultiExec, {incr, incr, incr, incr, incr, set, set, set}});
  EXPECT_TRUE(has(counters, R"("allowed":true)")) << counters;
  const std::vector<std::string> set_get = {"SET", "user:42:a", "v", "GET"};
  const std::string set_gets =
      explainJson({"web",
                   "42",
                   conf::CaseRoute::MultiExec,
                   {set_get, set_get, set_get, set_get, set_get, set_get}});
  EXPECT_TRUE(has(set_gets, "('set' is one more)")) << set_gets;
}

// Attack round 24: the tools decided each command alone, and said "allowed" for requests the
// gateway refuses as a whole: values grown past listen.max_body_bytes by the request's
// commands together, and more than 10,000 commands.
TEST(ExplainTest, RequestWideRulesAreTheGatewaysToo) {
  const std::vector<std::string> a = {"SETRANGE", "w:a", "6000000", "x"};
  const std::vector<std::string> b = {"SETRANGE", "w:b", "6000000", "x"};
  EXPECT_TRUE(has(explainJson({"writer", "", conf::CaseRoute::Command, {a}}), R"("allowed":true)"));
  for (const conf::CaseRoute route : {conf::CaseRoute::Pipeline, conf::CaseRoute::MultiExec}) {
    const std::string two = explainJson({"writer", "", route, {a, b}});
    EXPECT_TRUE(has(two, R"("allowed":false)")) << two;
    EXPECT_TRUE(has(two, R"("reason":"value_too_large")")) << two;
    EXPECT_TRUE(has(two, "(with the request's other commands)")) << two;
  }
  auto snap = snapshot();
  const ExplainRequest many{"writer", "", conf::CaseRoute::Pipeline,
                            std::vector<std::vector<std::string>>(10001, {"GET", "w:a"})};
  auto refused = explainRequest(*snap, many, true);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(has(refused.error().message, "more than 10000 commands")) << refused.error().message;
  const ExplainRequest most{"writer", "", conf::CaseRoute::Pipeline,
                            std::vector<std::vector<std::string>>(10000, {"GET", "w:a"})};
  EXPECT_TRUE(explainRequest(*snap, most, true));

  std::string yaml =
      "- name: grown\n  client: writer\n"
      "  multi-exec: [[SETRANGE, w:a, \"6000000\", x], [SETRANGE, w:b, \"6000000\", x]]\n"
      "  expect: allow\n"
      "- name: long\n  client: writer\n  pipeline: [";
  for (int i = 0; i < 10001; ++i) yaml += i ? ", [GET, w:a]" : "[GET, w:a]";
  yaml += "]\n  expect: [";
  for (int i = 0; i < 10001; ++i) yaml += i ? ", allow" : "allow";
  yaml += "]\n";
  TempFile cases(yaml);
  std::ostringstream out, err;
  EXPECT_EQ(runPolicyTests(*snap, {cases.path()}, out, err), 1) << err.str();
  EXPECT_TRUE(has(out.str(), ":1: grown: expected allow, got deny:value_too_large")) << out.str();
  EXPECT_TRUE(has(out.str(), ":5: long: keyward refuses a request of more than 10000 commands"))
      << out.str();
  EXPECT_TRUE(has(out.str(), "0 passed, 2 failed")) << out.str();
}

TEST(ExplainTest, BodyParsing) {
  auto r =
      parseExplainBody(R"({"client":"web","sub":"42","commands":[["GET","k"],["SET","k","v"]]})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->route, conf::CaseRoute::Pipeline);
  EXPECT_EQ(r->commands.size(), 2u);
  EXPECT_FALSE(parseExplainBody(R"({"client":"web","commands":[["GET",1]]})"));
  EXPECT_FALSE(parseExplainBody(R"({"client":"web","commands":[["GET"]],"route":"teleport"})"));
  EXPECT_FALSE(parseExplainBody(R"([1])"));
}

// One row per bypass class of docs/redis-acl-notes.md (B1-B14): the text explain prints.
TEST(ExplainTest, EveryBypassClassIsExplained) {
  const char* config = R"(listen:
  address: 127.0.0.1:0
upstream:
  url: redis://127.0.0.1:6379
clients:
  - name: app
    commands: ["+@read", "+@write", "+@pubsub", "+@stream", "+@scripting", "+config|set"]
    keys: ["app:*"]
    channels: ["app:*"]
    consumer_groups: ["tenant-*"]
    scripts: ["e0e1f9fabfc9d4800c877a703b823ac0578ff8db"]
)";
  const conf::SnapshotConstSharedPtr snap = snapshotOf(config, "b.yaml");
  ASSERT_NE(snap, nullptr);
  struct Row {
    const char* cls;
    std::vector<std::string> argv;
    const char* first;     // the decision line after "[0] ARGV: "
    const char* evidence;  // a line of evidence, or ""
  };
  const Row rows[] = {
      {"B1",
       {"MSET", "app:a", "1", "other", "2"},
       "deny key_denied",
       "key other (arg 3) needs W: denied, no pattern matches"},
      {"B2",
       {"GEORADIUS", "app:g", "15", "37", "200", "km", "STORE", "other:d"},
       "deny key_denied",
       "key other:d (arg 7) needs W: denied"},
      {"B3", {"SCAN", "0"}, "allow", "forwarded as: SCAN 0 MATCH app:*"},
      {"B4", {"DBSIZE"}, "deny keyspace_wide_denied", "command dbsize: granted by commands[0]"},
      {"B5", {"EVAL", "return 2", "0"}, "deny script_denied", ""},
      {"B5",
       {"EVAL", "return 1", "0"},
       "allow",
       "script return 1 (arg 1): granted by scripts \"e0e1f9fabfc9d4800c877a703b823ac0578ff8db\""},
      {"B6", {"MULTI"}, "deny connection_state", ""},
      {"B7", {"gEt", "app:k"}, "allow", "command get: granted by commands[0] \"+@read\""},
      {"B8", {"CONFIG", "SET", "maxmemory", "1"}, "deny unsupported", ""},
      {"B9", {"COPY", "app:a", "app:b", "DB", "1"}, "deny other_database", ""},
      {"B10",
       {"PUBLISH", "other", "hi"},
       "deny channel_denied",
       "channel other (arg 1): denied, no pattern matches"},
      {"B11",
       {"XGROUP", "CREATE", "app:s", "other", "$"},
       "deny group_denied",
       "consumer group other (arg 3): denied, no pattern matches"},
      {"B12", {"EXISTS", "app:k"}, "allow", "key app:k (arg 1) needs any: granted by keys[0]"},
      {"B13", {"AUTH", "secret"}, "deny connection_state", ""},
      {"B14", {"GET", std::string(600, 'a')}, "deny key_denied", "needs R: denied"},
  };
  for (const Row& r : rows) {
    auto e = explainRequest(*snap, {"app", "", conf::CaseRoute::Command, {r.argv}}, false);
    ASSERT_TRUE(e) << r.cls << ": " << e.error().message;
    const std::string& t = e->text;
    std::string head = "[0]";
    for (const auto& a : r.argv) head += " " + (a.size() > 120 ? a.substr(0, 120) + "..." : a);
    EXPECT_TRUE(has(t, head + ": " + r.first)) << r.cls << "\n" << t;
    if (*r.evidence != '\0') EXPECT_TRUE(has(t, r.evidence)) << r.cls << "\n" << t;
  }
}

TEST(PolicyExamplesTest, EveryExampleConfigHasAWorkedCaseFile) {
  const fs::path dir = fs::path(KW_SOURCE_DIR) / "conf/examples";
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".yaml") continue;
    ++n;
    EXPECT_TRUE(fs::exists(dir / "policy-tests" / e.path().filename())) << e.path();
  }
  EXPECT_GE(n, 6u);
}

}  // namespace
}  // namespace kw::proxy
