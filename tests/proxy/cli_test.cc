// Tests for keyward's command-line parsing and the access-log line format.
#include "proxy/cli.h"

#include <gtest/gtest.h>

#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/io/access_log.h"

namespace kw::proxy {
namespace {

Result<CliArgs> parse(std::vector<std::string_view> a) { return parseCli(a); }

TEST(CliTest, ServeForms) {
  auto a = parse({"serve", "--config", "k.yaml"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->command, CliCommand::Serve);
  EXPECT_EQ(a->config_path, "k.yaml");
  auto b = parse({"--config", "x.yaml"});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->command, CliCommand::Serve);
  EXPECT_EQ(b->config_path, "x.yaml");
  auto c = parse({"serve", "--config=y.yaml"});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->config_path, "y.yaml");
}

TEST(CliTest, CheckTokenVersion) {
  auto a = parse({"check", "--config", "k.yaml"});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->command, CliCommand::Check);
  auto t = parse({"token", "new", "--client", "web"});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->command, CliCommand::TokenNew);
  EXPECT_EQ(t->client, "web");
  auto v = parse({"version"});
  ASSERT_TRUE(v);
  EXPECT_EQ(v->command, CliCommand::Version);
}

TEST(CliTest, TokenMint) {
  auto m = parse({"token", "mint", "--config", "k.yaml", "--client", "web", "--sub", "u1", "--ttl",
                  "5m", "--jti", "j1"});
  ASSERT_TRUE(m);
  EXPECT_EQ(m->command, CliCommand::TokenMint);
  EXPECT_EQ(m->config_path, "k.yaml");
  EXPECT_EQ(m->client, "web");
  EXPECT_EQ(m->sub, "u1");
  EXPECT_EQ(m->ttl, "5m");
  EXPECT_EQ(m->jti, "j1");
  EXPECT_FALSE(parse({"token", "mint", "--client", "web"}));             // no --config
  EXPECT_FALSE(parse({"token", "mint", "--config", "k.yaml"}));          // no --client
  EXPECT_FALSE(parse({"token", "new", "--client", "a", "--sub", "x"}));  // mint-only option
}

TEST(CliTest, Scan) {
  auto a = parse({"scan", "dist", "--format", "sarif", "--config=k.yaml", "--revoke", ".env"});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->command, CliCommand::Scan);
  EXPECT_EQ(a->paths, (std::vector<std::string>{"dist", ".env"}));
  EXPECT_EQ(a->format, "sarif");
  EXPECT_EQ(a->config_path, "k.yaml");
  EXPECT_TRUE(a->revoke);
  auto b = parse({"scan", "--", "--odd-name", "x"});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->paths, (std::vector<std::string>{"--odd-name", "x"}));
  EXPECT_FALSE(b->revoke);
  EXPECT_FALSE(parse({"scan"}));
  EXPECT_FALSE(parse({"scan", "--format", "xml", "x"}));
  EXPECT_FALSE(parse({"scan", "--revoke", "x"}));  // needs --config
  EXPECT_FALSE(parse({"scan", "--bogus", "x"}));
}

TEST(CliTest, EncryptionNewKey) {
  auto a = parse({"encryption", "new-key"});
  ASSERT_TRUE(a.has_value()) << a.error().message;
  EXPECT_EQ(a->command, CliCommand::EncryptionNewKey);
  EXPECT_FALSE(parse({"encryption"}).has_value());
  EXPECT_FALSE(parse({"encryption", "rotate"}).has_value());
  EXPECT_FALSE(parse({"encryption", "new-key", "--config", "x"}).has_value());
}

TEST(CliTest, AuditVerify) {
  auto a = parse({"audit", "verify", "audit.jsonl.1", "audit.jsonl"});
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->command, CliCommand::AuditVerify);
  EXPECT_EQ(a->paths, (std::vector<std::string>{"audit.jsonl.1", "audit.jsonl"}));
  auto b = parse({"audit", "verify", "--", "-odd"});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->paths, (std::vector<std::string>{"-odd"}));
  EXPECT_FALSE(parse({"audit", "verify"}));  // no file
  EXPECT_FALSE(parse({"audit"}));
  EXPECT_FALSE(parse({"audit", "check", "x"}));
  EXPECT_FALSE(parse({"audit", "verify", "--config", "k.yaml", "x"}));
}

TEST(AuditRecordTest, OneLineWithEveryFieldAndNoArgument) {
  AccessRecord r;
  r.request_id = "abc";
  r.method = "POST";
  r.route = "pipeline";
  r.client = "web";
  r.credential = "key:0123456789ab";
  r.source_ip = "10.0.0.1";
  r.origin = "https://x\n\"y";
  r.keys = {"app:1", "app:\n2"};
  r.outcomes = {{"set", "allow", "", 0, 2}, {"flushall", "deny", "command_denied", 2, 2}};
  r.decision = "partial";
  r.reason = "inline_denials:1";
  r.status = 200;
  r.upstream_ms = 2.25;
  const std::string line = formatAuditRecord(r);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.back(), '}');
  EXPECT_NE(line.find(R"("client":"web","credential":"key:0123456789ab","sub":null)"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find(R"("origin":"https://x\n\"y")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("commands":[{"name":"set","decision":"allow","reason":null,)"
                      R"("keys":["app:1","app:\n2"]},{"name":"flushall","decision":"deny",)"
                      R"("reason":"command_denied"}])"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find(R"("status":200,"upstream_ms":2.250})"), std::string::npos) << line;
  EXPECT_EQ(line.find("client_request_id"), std::string::npos);
  r.client_request_id = "mine-1";
  r.client.clear();
  r.credential.clear();
  r.upstream_ms = -1;
  const std::string anon = formatAuditRecord(r);
  EXPECT_NE(anon.find(R"("client_request_id":"mine-1","client":null,"credential":null)"),
            std::string::npos)
      << anon;
  EXPECT_NE(anon.find(R"("upstream_ms":null})"), std::string::npos) << anon;
  // Binary key names keep their exact bytes.
  r.keys = {"app:\xff", "app:\xfe"};
  const std::string bin = formatAuditRecord(r);
  EXPECT_NE(bin.find(R"("keys":[{"b64":"YXBwOv8="},{"b64":"YXBwOv4="}])"), std::string::npos)
      << bin;
}

// Attack round 30b: a /pipeline of 10,000 denied commands (60 KB, billed nothing) made a 580 KB
// audit record. Refused commands are listed up to kListedRefusals, then counted.
TEST(AccessLogTest, AuditRecordListsAtMost32RefusedCommands) {
  AccessRecord r;
  r.request_id = "id";
  r.source_ip = "127.0.0.1";
  r.outcomes.push_back({"set", "allow", "", 0, 0, 0});
  for (int i = 0; i < 10000; ++i) {
    r.outcomes.push_back({"?", "deny", "command_denied", 0, 0, 0});
    if (i % 1000 == 0) r.outcomes.push_back({"flushall", "deny", "keyspace_wide_denied", 0, 0, 0});
  }
  r.outcomes.push_back({"get", "allow", "", 0, 0, 0});
  const std::string line = formatAuditRecord(r);
  EXPECT_LT(line.size(), 4096u);
  size_t listed = 0;
  for (size_t at = line.find("\"decision\":\"deny\""); at != std::string::npos;
       at = line.find("\"decision\":\"deny\"", at + 1)) {
    ++listed;
  }
  EXPECT_EQ(listed, 32u + 2u);  // the listed ones and the two omitted groups
  EXPECT_NE(line.find(R"({"name":"set","decision":"allow")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"({"name":"get","decision":"allow","reason":null}],"commands_omitted":[)"),
            std::string::npos)
      << line;
  // 10,010 refused: 31 "?" and 1 flushall listed (the first 32), the rest counted.
  EXPECT_NE(line.find(R"({"decision":"deny","reason":"command_denied","count":9969})"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find(R"({"decision":"deny","reason":"keyspace_wide_denied","count":9})"),
            std::string::npos)
      << line;
  // Under the bound nothing is omitted.
  r.outcomes.resize(33);
  EXPECT_EQ(formatAuditRecord(r).find("commands_omitted"), std::string::npos);
}

TEST(CliTest, Errors) {
  EXPECT_FALSE(parse({}));
  EXPECT_FALSE(parse({"serve"}));               // no --config
  EXPECT_FALSE(parse({"serve", "--config"}));   // no value
  EXPECT_FALSE(parse({"serve", "--config="}));  // empty value
  EXPECT_FALSE(parse({"check"}));
  EXPECT_FALSE(parse({"token", "new"}));  // no --client
  EXPECT_FALSE(parse({"token", "mint2"}));
  EXPECT_FALSE(parse({"frobnicate"}));
  EXPECT_FALSE(parse({"serve", "--config", "a", "--bogus"}));
  EXPECT_FALSE(parse({"token", "new", "--config", "a"}));  // wrong option for the command
}

TEST(AccessLogTest, RecordIsOneJsonObjectWithoutArguments) {
  AccessRecord r;
  r.method = "POST";
  r.route = "pipeline";
  r.client = "we\"b";
  r.source_ip = "127.0.0.1";
  r.commands = {"get", "set"};
  r.command_count = 2;
  r.decision = "partial";
  r.reason = "inline_denials:1";
  r.status = 200;
  r.upstream_ms = 1.5;
  r.bytes_in = 10;
  r.bytes_out = 20;
  std::string line = formatAccessRecord(r);
  EXPECT_EQ(line.front(), '{');
  EXPECT_EQ(line.back(), '}');
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find(R"("client":"we\"b")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("commands":["get","set"])"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("status":200)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("upstream_ms":1.500)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("key_count":0)"), std::string::npos) << line;
  EXPECT_EQ(line.find(R"("keys")"), std::string::npos) << "key names only with audit.log_keys";
  r.upstream_ms = -1;
  r.key_count = 2;
  r.keys = {"app:a", "app:b"};
  line = formatAccessRecord(r);
  EXPECT_NE(line.find(R"("upstream_ms":null)"), std::string::npos);
  EXPECT_NE(line.find(R"("key_count":2,"keys":["app:a","app:b"])"), std::string::npos) << line;
}

TEST(AccessLogTest, UpstreamMillisecondsHaveThreeDecimals) {
  AccessRecord r;
  const std::pair<double, std::string_view> cases[] = {
      {0.0, "0.000"},        {0.0004, "0.000"},           {0.0005, "0.001"},
      {12.3456, "12.346"},   {999.9996, "1000.000"},      {1234.5, "1234.500"},
      {5000.07, "5000.070"}, {1e300, "1000000000000.000"}};
  for (const auto& [ms, text] : cases) {
    r.upstream_ms = ms;
    const std::string line = formatAccessRecord(r);
    EXPECT_NE(line.find("\"upstream_ms\":" + std::string(text) + ","), std::string::npos)
        << ms << ": " << line;
  }
}

TEST(AccessLogTest, TimeIsRfc3339UtcWithMilliseconds) {
  // Twice, so the per-second cache is read as well as filled.
  for (int i = 0; i < 2; ++i) {
    const std::string t = nowRfc3339();
    ASSERT_EQ(t.size(), 24u) << t;
    for (size_t k : {4u, 7u}) EXPECT_EQ(t[k], '-') << t;
    EXPECT_EQ(t[10], 'T') << t;
    for (size_t k : {13u, 16u}) EXPECT_EQ(t[k], ':') << t;
    EXPECT_EQ(t[19], '.') << t;
    EXPECT_EQ(t.back(), 'Z') << t;
    for (size_t k : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u, 11u, 12u, 14u, 15u, 17u, 18u, 20u, 21u, 22u})
      EXPECT_TRUE(t[k] >= '0' && t[k] <= '9') << t;
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    EXPECT_EQ(std::stoi(t.substr(0, 4)), tm.tm_year + 1900) << t;
  }
}

TEST(AccessLogTest, AtMost32CommandNames) {
  AccessRecord r;
  for (int i = 0; i < 100; ++i) r.commands.push_back("get");
  std::string line = formatAccessRecord(r);
  size_t n = 0;
  for (size_t p = line.find("\"get\""); p != std::string::npos; p = line.find("\"get\"", p + 1))
    ++n;
  EXPECT_EQ(n, 32u);
}

}  // namespace
}  // namespace kw::proxy
