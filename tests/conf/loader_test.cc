// Tests for loadConfigText/loadConfigFile: defaults, every section, every error class with its
// exact FILE:LINE:COL, unknown keys at each level, secrets, paths and bounds.
#include "conf/loader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "conf/policy_cases.h"
#include "conf/snapshot.h"
#include "conf_test_util.h"

namespace kw::conf {
namespace {

using std::chrono::milliseconds;
using testing::defaultEnv;
using testing::fakeEnv;
using testing::load;
using testing::loadError;
using testing::minimalConfig;
using testing::TempDir;

int countLines(const std::string& s) {
  return s.empty() ? 0 : 1 + static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

TEST(LoaderTest, MinimalConfigGetsContractDefaults) {
  auto r = load(minimalConfig());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const Config& c = *r;
  EXPECT_EQ(c.source, "kw.yaml");
  EXPECT_EQ(c.listen.address.host, "127.0.0.1");
  EXPECT_EQ(c.listen.address.port, 8443);
  EXPECT_FALSE(c.listen.tls.has_value());
  EXPECT_EQ(c.listen.max_body_bytes, 10485760u);
  EXPECT_EQ(c.listen.max_connections, 10000u);
  EXPECT_EQ(c.listen.max_output_bytes, 268435456u);
  EXPECT_EQ(c.listen.header_timeout, milliseconds(10000));
  EXPECT_EQ(c.listen.idle_timeout, milliseconds(60000));
  EXPECT_FALSE(c.listen.allow_query_token);
  EXPECT_TRUE(c.listen.trusted_proxies.empty());
  EXPECT_EQ(c.admin.address.host, "127.0.0.1");
  EXPECT_EQ(c.admin.address.port, 9091);
  EXPECT_EQ(c.admin.token, "");
  EXPECT_EQ(c.upstream.kind, UpstreamKind::RestHttps);
  EXPECT_EQ(c.upstream.host, "demo-1234.upstash.io");
  EXPECT_EQ(c.upstream.port, 443);
  EXPECT_EQ(c.upstream.token, "AXXXupstashtoken0123456789");
  EXPECT_EQ(c.upstream.ca_file, "");
  EXPECT_EQ(c.upstream.timeout, milliseconds(5000));
  EXPECT_EQ(c.upstream.connections, 8u);
  EXPECT_EQ(c.signing.issuer, "keyward");
  EXPECT_EQ(c.signing.audience, "keyward");
  EXPECT_TRUE(c.signing.keys.empty());
  EXPECT_EQ(c.signing.max_ttl, milliseconds(24 * 3600 * 1000));
  EXPECT_EQ(c.signing.leeway, milliseconds(30000));
  EXPECT_EQ(c.signing.revoked_file, "");
  EXPECT_EQ(c.quota.state_file, "/etc/keyward/quota.state");
  EXPECT_EQ(c.quota.store_url, "");
  EXPECT_EQ(c.budget.per_second, 10000u);
  EXPECT_EQ(c.budget.per_day, 16000u);
  EXPECT_EQ(c.budget.per_month, 500000u);
  EXPECT_FALSE(c.audit.log_keys);
  ASSERT_EQ(c.clients.size(), 1u);
  const ClientConfig& app = c.clients[0];
  EXPECT_EQ(app.spec.name, "app");
  EXPECT_EQ(app.spec.commands, std::vector<std::string>{"+get"});
  EXPECT_EQ(app.spec.keys, std::vector<std::string>{"app:*"});
  EXPECT_TRUE(app.api_key_hashes.empty());
  EXPECT_TRUE(app.allow_ips.empty());
  EXPECT_TRUE(app.allow_origins.empty());
  EXPECT_EQ(app.limits.rate.count, 0u);
  EXPECT_EQ(app.limits.burst, 0u);
  EXPECT_EQ(app.limits.per_day, 0u);
  EXPECT_EQ(app.location, "kw.yaml:7:5");
}

// The specification's full example config, with the truncated hash completed.
const char kContractExample[] = R"(listen:
  address: "0.0.0.0:8443"
  tls:
    cert_file: certs/server.crt
    key_file: certs/server.key
    client_ca_file: certs/ca.crt
    min_version: "1.2"
  max_body_bytes: 10485760
  max_connections: 10000
  header_timeout: 10s
  idle_timeout: 60s
  allow_query_token: false
  trusted_proxies: []
admin:
  address: "127.0.0.1:9091"
  token_env: KEYWARD_ADMIN_TOKEN
upstream:
  url_env: UPSTASH_REDIS_REST_URL
  token_env: UPSTASH_REDIS_REST_TOKEN
  ca_file: certs/upstream-ca.crt
  timeout: 5s
  connections: 8
signing:
  issuer: keyward
  audience: keyward
  keys:
    - id: "2026-11"
      alg: EdDSA
      private_key_file: keys/2026-11.pem
      public_key_file: keys/2026-11.pub.pem
    - id: "2026-08"
      alg: HS256
      secret_env: KEYWARD_HS256_2026_08
  max_ttl: 24h
  leeway: 30s
  revoked_file: revoked.txt
quota:
  state_file: quota.state
budget:
  per_second: 10000
  per_day: 16000
  per_month: 500000
clients:
  - name: edge-cache
    api_keys: ["sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
    commands: ["+@read", "+set", "+del", "+expire"]
    keys: ["cache:*"]
    read_keys: ["public:*"]
    write_keys: []
    channels: []
    consumer_groups: []
    scripts: []
    functions: []
    allow_ips: ["10.0.0.0/8", "2001:db8::/32"]
    allow_origins: []
    limits:
      rate: 50/s
      burst: 100
      per_identity_rate: 5/s
      per_day: 5000
      per_month: 100000
  - name: browser-session
    commands: ["+get", "+set", "+del", "+expire", "+ttl"]
    keys: ["sess:{sub}:*"]
    allow_origins: ["https://app.example.com"]
    limits: { rate: 5/s, burst: 10, per_day: 500 }
)";

TEST(LoaderTest, ContractExampleLoads) {
  auto env = fakeEnv({{"UPSTASH_REDIS_REST_URL", "https://demo.upstash.io"},
                      {"UPSTASH_REDIS_REST_TOKEN", "tok"},
                      {"KEYWARD_ADMIN_TOKEN", "0123456789abcdef0123"},
                      {"KEYWARD_HS256_2026_08", std::string(32, 'k')}});
  auto r = load(kContractExample, env, "/srv/kw");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const Config& c = *r;
  ASSERT_TRUE(c.listen.tls.has_value());
  EXPECT_EQ(c.listen.tls->cert_file, "/srv/kw/certs/server.crt");
  EXPECT_EQ(c.listen.tls->client_ca_file, "/srv/kw/certs/ca.crt");
  EXPECT_EQ(c.listen.tls->min_version, TlsConfig::MinVersion::Tls12);
  EXPECT_EQ(c.admin.token, "0123456789abcdef0123");
  EXPECT_EQ(c.upstream.ca_file, "/srv/kw/certs/upstream-ca.crt");
  ASSERT_EQ(c.signing.keys.size(), 2u);
  EXPECT_EQ(c.signing.keys[0].id, "2026-11");
  EXPECT_EQ(c.signing.keys[0].alg, policy::JwtAlg::EdDSA);
  EXPECT_EQ(c.signing.keys[0].public_key_file, "/srv/kw/keys/2026-11.pub.pem");
  EXPECT_EQ(c.signing.keys[1].alg, policy::JwtAlg::HS256);
  EXPECT_EQ(c.signing.keys[1].secret, std::string(32, 'k'));
  EXPECT_EQ(c.signing.keys[1].location, "kw.yaml:31:7");
  EXPECT_EQ(c.signing.revoked_file, "/srv/kw/revoked.txt");
  ASSERT_EQ(c.clients.size(), 2u);
  const ClientConfig& edge = c.clients[0];
  ASSERT_EQ(edge.api_key_hashes.size(), 1u);
  EXPECT_EQ(edge.api_key_hashes[0][0], 0x9f);
  EXPECT_EQ(edge.allow_ips.size(), 2u);
  EXPECT_EQ(edge.limits.rate.count, 50u);
  EXPECT_EQ(edge.limits.burst, 100u);
  EXPECT_EQ(edge.limits.per_identity_rate.count, 5u);
  EXPECT_EQ(edge.limits.per_day, 5000u);
  EXPECT_EQ(edge.limits.per_month, 100000u);
  const ClientConfig& browser = c.clients[1];
  EXPECT_EQ(browser.spec.keys, std::vector<std::string>{"sess:{sub}:*"});
  EXPECT_EQ(browser.allow_origins, std::vector<std::string>{"https://app.example.com"});
  EXPECT_EQ(browser.limits.rate.count, 5u);
  EXPECT_EQ(browser.limits.burst, 10u);
  EXPECT_EQ(browser.limits.per_day, 500u);
}

TEST(LoaderTest, EveryDurationFormInAField) {
  for (auto [text, ms] : std::vector<std::pair<std::string, int64_t>>{
           {"500ms", 500}, {"30s", 30000}, {"15m", 900000}, {"2h", 7200000}, {"7d", 604800000}}) {
    auto r = load(minimalConfig("signing:\n  leeway: " + text + "\n"));
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->signing.leeway.count(), ms) << text;
  }
}

TEST(LoaderTest, BadDurationNamesFileLineCol) {
  EXPECT_EQ(loadError(minimalConfig("signing:\n  leeway: 30\n")),
            "kw.yaml:7:11: signing.leeway: duration \"30\" has no unit (ms, s, m, h, d)");
  EXPECT_EQ(loadError("listen:\n  address: \":1\"\n  header_timeout: 0s\n" +
                      minimalConfig().substr(minimalConfig().find("upstream:"))),
            "kw.yaml:3:19: listen.header_timeout: must be at least 1ms");
}

TEST(LoaderTest, EmptyDocument) {
  EXPECT_EQ(loadError(""),
            "kw.yaml:1:1: empty configuration (listen, upstream and clients are required)");
  EXPECT_EQ(loadError("# only a comment\n"),
            "kw.yaml:1:1: empty configuration (listen, upstream and clients are required)");
}

TEST(LoaderTest, TopLevelMustBeAMap) {
  EXPECT_EQ(loadError("- a\n- b\n"), "kw.yaml:1:1: expected a map, got a list");
  EXPECT_EQ(loadError("just text\n"), "kw.yaml:1:1: expected a map, got the scalar \"just text\"");
}

TEST(LoaderTest, MissingRequiredSections) {
  EXPECT_EQ(loadError("audit:\n  log_keys: true\n"),
            "kw.yaml:1:1: missing required key \"listen\"\n"
            "kw.yaml:1:1: missing required key \"upstream\"\n"
            "kw.yaml:1:1: missing required key \"clients\"");
}

TEST(LoaderTest, UnknownKeyAtTopLevel) {
  EXPECT_EQ(
      loadError(minimalConfig("listn: {}\n")),
      "kw.yaml:6:1: unknown key \"listn\" (expected one of: listen, upstream, clients, admin, "
      "signing, quota, budget, audit, encryption)");
}

struct UnknownKeyCase {
  std::string extra;         // top-level text added to the minimal config
  std::string client_extra;  // text added to the client
  std::string expected_prefix;
};

class UnknownKeyTest : public ::testing::TestWithParam<UnknownKeyCase> {};

TEST_P(UnknownKeyTest, ReportedAtTheKey) {
  const auto& p = GetParam();
  const std::string err = loadError(minimalConfig(p.extra, p.client_extra));
  EXPECT_EQ(err.substr(0, p.expected_prefix.size()), p.expected_prefix) << err;
  EXPECT_EQ(countLines(err), 1) << err;
}

INSTANTIATE_TEST_SUITE_P(
    EveryLevel, UnknownKeyTest,
    ::testing::Values(
        UnknownKeyCase{"admin:\n  adress: \":1\"\n", "",
                       "kw.yaml:7:3: admin: unknown key \"adress\""},
        UnknownKeyCase{"signing:\n  isuer: x\n", "", "kw.yaml:7:3: signing: unknown key \"isuer\""},
        UnknownKeyCase{
            "signing:\n  keys:\n    - id: a\n      alg: EdDSA\n      public_key_file: p\n"
            "      kind: x\n",
            "", "kw.yaml:11:7: signing.keys[0]: unknown key \"kind\""},
        UnknownKeyCase{"quota:\n  file: x\n", "", "kw.yaml:7:3: quota: unknown key \"file\""},
        UnknownKeyCase{"budget:\n  per_hour: 5\n", "",
                       "kw.yaml:7:3: budget: unknown key \"per_hour\""},
        UnknownKeyCase{"audit:\n  log_values: true\n", "",
                       "kw.yaml:7:3: audit: unknown key \"log_values\""},
        UnknownKeyCase{"", "    key: [\"x\"]\n", "kw.yaml:10:5: clients[0]: unknown key \"key\""},
        UnknownKeyCase{"", "    limits:\n      rps: 5\n",
                       "kw.yaml:11:7: clients[0].limits: unknown key \"rps\""}));

TEST(LoaderTest, UnknownKeyInListenAndTls) {
  const std::string text =
      "listen:\n  address: \":1\"\n  tls:\n    cert_file: a\n    key_file: b\n    ciphers: x\n"
      "  backlog: 5\n" +
      minimalConfig().substr(minimalConfig().find("upstream:"));
  const std::string err = loadError(text);
  EXPECT_NE(err.find("kw.yaml:6:5: listen.tls: unknown key \"ciphers\""), std::string::npos) << err;
  EXPECT_NE(err.find("kw.yaml:7:3: listen: unknown key \"backlog\""), std::string::npos) << err;
  EXPECT_EQ(countLines(err), 2);
}

TEST(LoaderTest, UnknownKeyInUpstream) {
  const std::string text = minimalConfig();
  const std::string with =
      text.substr(0, text.find("clients:")) + "  retries: 3\n" + text.substr(text.find("clients:"));
  EXPECT_EQ(loadError(with).substr(0, 46), "kw.yaml:6:3: upstream: unknown key \"retries\" (");
}

TEST(LoaderTest, UpstreamReplyBounds) {
  auto d = load(minimalConfig());
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(d->upstream.max_reply_bytes, 64u << 20);
  EXPECT_EQ(d->upstream.max_reply_bytes_total, 256u << 20);
  EXPECT_EQ(d->upstream.max_reply_elements, 1u << 20);
  const std::string text = minimalConfig();
  const auto with = [&](const std::string& lines) {
    return text.substr(0, text.find("clients:")) + lines + text.substr(text.find("clients:"));
  };
  auto r =
      load(with("  max_reply_bytes: 2048\n  max_reply_bytes_total: 4096\n"
                "  max_reply_elements: 10\n"));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->upstream.max_reply_bytes, 2048u);
  EXPECT_EQ(r->upstream.max_reply_bytes_total, 4096u);
  EXPECT_EQ(r->upstream.max_reply_elements, 10u);
  EXPECT_NE(loadError(with("  max_reply_bytes: 8192\n  max_reply_bytes_total: 16383\n"))
                .find("upstream.max_reply_bytes_total: must be at least twice "
                      "upstream.max_reply_bytes"),
            std::string::npos);
  EXPECT_NE(loadError(with("  max_reply_elements: 0\n")).find("upstream.max_reply_elements"),
            std::string::npos);
}

// Attack round 13: max_body_bytes 600000 with max_buffered_bytes 1 MiB passed `check`, and every
// chunked request (and every body over 512 KiB) was then refused 429 with nothing else in flight.
TEST(LoaderTest, BufferedBytesHoldTwoLargestBodies) {
  const std::string rest = minimalConfig().substr(minimalConfig().find("upstream:"));
  const auto listen = [&](const std::string& lines) {
    return "listen:\n  address: \":1\"\n" + lines + rest;
  };
  EXPECT_NE(loadError(listen("  max_body_bytes: 600000\n  max_buffered_bytes: 1048576\n"))
                .find("listen.max_buffered_bytes: must be at least twice listen.max_body_bytes"),
            std::string::npos);
  EXPECT_NE(loadError(listen("  max_buffered_bytes: 16777216\n"))  // the default body: 10 MiB
                .find("listen.max_buffered_bytes: must be at least twice"),
            std::string::npos);
  auto ok = load(listen("  max_body_bytes: 524288\n  max_buffered_bytes: 1048576\n"));
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->listen.max_buffered_bytes, 1048576u);
}

TEST(LoaderTest, WrongTypes) {
  const std::string rest = minimalConfig().substr(minimalConfig().find("upstream:"));
  EXPECT_EQ(loadError("listen:\n  address: \":1\"\n  max_body_bytes: abc\n" + rest),
            "kw.yaml:3:19: listen.max_body_bytes: expected an integer in 1..1073741824, got the "
            "scalar \"abc\"");
  EXPECT_EQ(loadError("listen:\n  address: \":1\"\n  max_connections: [1]\n" + rest),
            "kw.yaml:3:20: listen.max_connections: expected an integer in 1..1000000, got a list");
  EXPECT_EQ(loadError("listen:\n  address: \":1\"\n  allow_query_token: \"true\"\n" + rest),
            "kw.yaml:3:22: listen.allow_query_token: expected true or false, got the scalar "
            "\"true\"");
  EXPECT_EQ(loadError("listen:\n  address: [1]\n" + rest),
            "kw.yaml:2:12: listen.address: expected a string, got a list");
  EXPECT_EQ(loadError("listen: 5\n" + rest),
            "kw.yaml:1:9: listen: expected a map, got the scalar \"5\"");
  EXPECT_EQ(loadError(minimalConfig("", "    read_keys: \"x:*\"\n")),
            "kw.yaml:10:16: clients[0].read_keys: expected a list of strings, got the scalar "
            "\"x:*\"");
  EXPECT_EQ(loadError(minimalConfig("", "    channels: [[\"a\"]]\n")),
            "kw.yaml:10:16: clients[0].channels[0]: expected a string, got a list");
}

TEST(LoaderTest, IntegerRanges) {
  const std::string rest = minimalConfig().substr(minimalConfig().find("upstream:"));
  EXPECT_EQ(loadError("listen:\n  address: \":1\"\n  max_connections: 0\n" + rest),
            "kw.yaml:3:20: listen.max_connections: 0 is out of range 1..1000000");
  EXPECT_EQ(loadError("listen:\n  address: \":1\"\n  max_output_bytes: 1000\n" + rest),
            "kw.yaml:3:21: listen.max_output_bytes: 1000 is out of range 1048576..1099511627776");
  EXPECT_EQ(loadError("listen:\n  address: \":1\"\n  max_body_bytes: -5\n" + rest),
            "kw.yaml:3:19: listen.max_body_bytes: expected an integer in 1..1073741824, got the "
            "scalar \"-5\"");
  EXPECT_EQ(loadError(minimalConfig("budget:\n  per_day: 99999999999999999999\n")).substr(0, 33),
            "kw.yaml:7:12: budget.per_day: exp");
}

TEST(LoaderTest, AddressForms) {
  const std::string rest = minimalConfig().substr(minimalConfig().find("upstream:"));
  auto v6 = load("listen:\n  address: \"[::1]:8443\"\n" + rest);
  ASSERT_TRUE(v6.has_value()) << v6.error().message;
  EXPECT_EQ(v6->listen.address.host, "::1");
  auto any = load("listen:\n  address: \"127.0.0.1:0\"\n" + rest);
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(any->listen.address.port, 0);
  EXPECT_EQ(loadError("listen:\n  address: \"::1:8443\"\n" + rest),
            "kw.yaml:2:12: listen.address: IPv6 addresses need brackets: [::1]:port");
}

TEST(LoaderTest, TlsSection) {
  const std::string rest = minimalConfig().substr(minimalConfig().find("upstream:"));
  auto r = load(
      "listen:\n  address: \":1\"\n  tls:\n    cert_file: c.pem\n    key_file: /abs/k.pem\n"
      "    min_version: 1.3\n" +
      rest);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->listen.tls->cert_file, "/etc/keyward/c.pem");
  EXPECT_EQ(r->listen.tls->key_file, "/abs/k.pem");
  EXPECT_EQ(r->listen.tls->min_version, TlsConfig::MinVersion::Tls13);
  EXPECT_EQ(loadError("listen:\n  address: \":1\"\n  tls:\n    cert_file: c\n    key_file: k\n"
                      "    min_version: \"1.1\"\n" +
                      rest),
            "kw.yaml:6:18: listen.tls.min_version: expected \"1.2\" or \"1.3\", got \"1.1\"");
  EXPECT_EQ(loadError("listen:\n  address: \":1\"\n  tls:\n    cert_file: c\n" + rest),
            "kw.yaml:4:5: listen.tls: missing required key \"key_file\"");
}

TEST(LoaderTest, RelativePathsResolveAgainstBaseDir) {
  const std::string rest = minimalConfig().substr(minimalConfig().find("upstream:"));
  auto r = load(
      "listen:\n  address: \":1\"\n  tls:\n    cert_file: ../certs/./a.crt\n"
      "    key_file: sub/dir/../k.key\n" +
          rest,
      defaultEnv(), "/opt/kw/conf");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->listen.tls->cert_file, "/opt/kw/certs/a.crt");
  EXPECT_EQ(r->listen.tls->key_file, "/opt/kw/conf/sub/k.key");
  EXPECT_EQ(r->quota.state_file, "/opt/kw/conf/quota.state");
  EXPECT_EQ(r->base_dir, "/opt/kw/conf");
}

TEST(LoaderTest, SyntaxErrorHasLocation) {
  const std::string err = loadError("listen:\n  address: [1, 2\n");
  EXPECT_EQ(err.rfind("kw.yaml:", 0), 0u) << err;
  EXPECT_NE(err.find("YAML syntax"), std::string::npos) << err;
  const std::string err2 = loadError("listen:\n  address: \":1\"\n   bad: [1, 2\n");
  EXPECT_EQ(err2.rfind("kw.yaml:3:", 0), 0u) << err2;
}

TEST(LoaderTest, DuplicateKeysAreErrors) {
  EXPECT_EQ(loadError("listen:\n  address: \":1\"\nlisten:\n  address: \":2\"\n"),
            "kw.yaml:3:1: duplicate key \"listen\"");
  EXPECT_EQ(loadError(minimalConfig("", "    keys: [\"b:*\"]\n")),
            "kw.yaml:10:5: duplicate key \"keys\"");
}

TEST(LoaderTest, OnlyOneDocument) {
  EXPECT_EQ(
      loadError(minimalConfig() + "---\nlisten: {}\n").rfind("kw.yaml:10:1: only one YAML", 0), 0u);
}

TEST(LoaderTest, NestingDepthIsBounded) {
  std::string deep = "listen: " + std::string(40, '[') + std::string(40, ']') + "\n";
  const std::string err = loadError(deep);
  EXPECT_NE(err.find("nesting deeper than 32"), std::string::npos) << err;
  EXPECT_EQ(countLines(err), 1);
}

TEST(LoaderTest, AliasExpansionIsBounded) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    bomb += std::string(1, c) + ": &" + std::string(1, c) + " [*" + prev + ", *" + prev + ", *" +
            prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
            ", *" + prev + ", *" + prev + "]\n";
  }
  const std::string err = loadError(bomb);
  EXPECT_NE(err.find("document too large"), std::string::npos) << err;
}

TEST(LoaderTest, AliasesShareLists) {
  const std::string text = minimalConfig("",
                                         "    read_keys: &shared [\"pub:*\", \"doc:*\"]\n"
                                         "  - name: other\n    read_keys: *shared\n");
  auto r = load(text);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->clients[1].spec.read_keys, (std::vector<std::string>{"pub:*", "doc:*"}));
}

TEST(LoaderTest, FileSizeIsBounded) {
  std::string big = minimalConfig() + "# " + std::string(kMaxConfigBytes, 'x') + "\n";
  EXPECT_EQ(loadError(big), "kw.yaml:1:1: config file larger than 4194304 bytes");
}

TEST(LoaderTest, AllErrorsAreCollected) {
  const std::string text =
      "listen:\n  address: nope\n  idle_timeout: 5\nupstream:\n  url: https://x.io\n"
      "clients:\n  - name: a\n    bogus: 1\n  - name: \"bad name\"\n";
  const std::string err = loadError(text);
  EXPECT_EQ(countLines(err), 5) << err;
  EXPECT_NE(err.find("kw.yaml:2:12: listen.address:"), std::string::npos) << err;
  EXPECT_NE(err.find("kw.yaml:3:17: listen.idle_timeout:"), std::string::npos) << err;
  EXPECT_NE(err.find("kw.yaml:5:3: upstream: missing required key \"token_env\""),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("kw.yaml:8:5: clients[0]: unknown key \"bogus\""), std::string::npos) << err;
  EXPECT_NE(err.find("kw.yaml:9:11: clients[1].name: expected 1-64 characters"), std::string::npos)
      << err;
}

TEST(LoaderTest, ErrorCountIsBounded) {
  std::string text = minimalConfig("", "");
  for (int i = 0; i < 300; ++i) text += "    unknown" + std::to_string(i) + ": 1\n";
  const std::string err = loadError(text);
  EXPECT_EQ(countLines(err), 101);
  EXPECT_NE(err.find("too many errors"), std::string::npos);
}

TEST(LoaderTest, NullSectionsMeanDefaults) {
  auto r = load(minimalConfig("admin:\nsigning:\nquota:\nbudget:\naudit:\n"));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->admin.address.port, 9091);
  EXPECT_EQ(r->budget.per_day, 16000u);
}

TEST(LoaderTest, BudgetAuditQuota) {
  auto r = load(minimalConfig(
      "budget:\n  per_second: 0\n  per_day: 123\n  per_month: 456\naudit:\n  log_keys: true\n"
      "quota:\n  state_file: /var/lib/kw/q.state\n"));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->budget.per_second, 0u);
  EXPECT_EQ(r->budget.per_day, 123u);
  EXPECT_EQ(r->budget.per_month, 456u);
  EXPECT_TRUE(r->audit.log_keys);
  EXPECT_EQ(r->quota.state_file, "/var/lib/kw/q.state");
}

TEST(LoaderTest, AuditFileAndOnFailure) {
  auto r = load(minimalConfig("audit:\n  file: logs/audit.jsonl\n  on_failure: continue\n"));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->audit.file, r->base_dir + "/logs/audit.jsonl");  // relative to the config
  EXPECT_EQ(r->audit.on_failure, AuditFailure::Continue);
  auto d = load(minimalConfig("audit:\n  file: /var/log/kw/audit.jsonl\n"));
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(d->audit.on_failure, AuditFailure::Refuse);  // fail closed by default
  EXPECT_FALSE(d->audit.log_keys);
  auto none = load(minimalConfig(""));
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->audit.file, "");  // no audit log unless asked
  EXPECT_NE(loadError(minimalConfig("audit:\n  on_failure: ignore\n"))
                .find("audit.on_failure: expected refuse or continue"),
            std::string::npos);
}

TEST(LoaderTest, QuotaStoreUrl) {
  auto r = load(minimalConfig("quota:\n  store_url: redis://quota-redis:6379\n"));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->quota.store_url, "redis://quota-redis:6379");
  EXPECT_EQ(r->quota.state_file, "");
  EXPECT_EQ(loadError(minimalConfig("quota:\n  state_file: q\n  store_url: redis://q:1\n")),
            "kw.yaml:8:14: quota.store_url: replaces state_file: set only one of them");
  EXPECT_EQ(loadError(minimalConfig("quota:\n  store_url: https://q\n")),
            "kw.yaml:7:14: quota.store_url: expected a redis:// or rediss:// URL");
  auto env = load(minimalConfig("quota:\n  store_url_env: QURL\n"),
                  fakeEnv({{"UPSTASH_REDIS_REST_URL", "https://a.io"},
                           {"UPSTASH_REDIS_REST_TOKEN", "t"},
                           {"QURL", "rediss://:pw@q:6380"}}));
  ASSERT_TRUE(env.has_value()) << env.error().message;
  EXPECT_EQ(env->quota.store_url, "rediss://:pw@q:6380");
}

}  // namespace
}  // namespace kw::conf

namespace kw::conf {
namespace {

TEST(LoaderTest, ErrorsStayOnOneLine) {
  const std::string err = testing::loadError("x: \"a\\\x1b\"\n");
  EXPECT_EQ(err, "kw.yaml:1:8: YAML syntax: unknown escape character: \\x1b") << err;
  EXPECT_EQ(testing::loadError("x: \"a\\\x01\"\n"),
            "kw.yaml:1:8: YAML syntax: unknown escape character: \\x01");
  const std::string key_err = testing::loadError(testing::minimalConfig("\"bad\\nkey\": 1\n"));
  EXPECT_NE(key_err.find("unknown key \"bad\\x0akey\""), std::string::npos) << key_err;
}

TEST(LoaderTest, UnknownKeyListsEveryAllowedKey) {
  const std::string err = testing::loadError(testing::minimalConfig("", "    kees: []\n"));
  EXPECT_NE(err.find("(expected one of: name, api_keys, credentials, commands, keys, read_keys, "
                     "write_keys, channels, consumer_groups, scripts, functions, shadow, "
                     "allow_ips, allow_origins, "
                     "limits)"),
            std::string::npos)
      << err;
}

TEST(LoaderTest, BlockNestingDepthIsBounded) {
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += std::string(static_cast<size_t>(i) * 2, ' ') + "k:\n";
  const std::string err = testing::loadError(deep);
  EXPECT_NE(err.find("nesting deeper than 32"), std::string::npos) << err;
}

TEST(LoaderTest, PathLocationsAreRecorded) {
  auto r = testing::load(
      "listen:\n  address: \":1\"\n  tls:\n    cert_file: c\n    key_file: k\n"
      "upstream:\n  url: redis://h\nclients:\n  - name: a\n");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->path_locations.size(), 2u);
  EXPECT_EQ(r->path_locations[0],
            (std::pair<std::string, std::string>{"listen.tls.cert_file", "kw.yaml:4:16"}));
  EXPECT_EQ(r->path_locations[1].second, "kw.yaml:5:15");
}

TEST(LoaderTest, CollectConfigErrorsReturnsEachLine) {
  const auto errors = collectConfigErrors("listen: 1\nupstream: 2\nclients: 3\n", "c.yaml", "/",
                                          testing::defaultEnv());
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], "c.yaml:1:9: listen: expected a map, got the scalar \"1\"");
  EXPECT_EQ(errors[2], "c.yaml:3:10: clients: expected a list of clients, got the scalar \"3\"");
  EXPECT_TRUE(
      collectConfigErrors(testing::minimalConfig(), "c.yaml", "/", testing::defaultEnv()).empty());
}

TEST(LoaderTest, RelativeBaseDirIsMadeAbsolute) {
  auto r = testing::load(testing::minimalConfig(), testing::defaultEnv(), "rel/dir");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->base_dir, (std::filesystem::current_path() / "rel/dir").lexically_normal().string());
  EXPECT_EQ(r->quota.state_file, r->base_dir + "/quota.state");
}

TEST(LoaderTest, NonRegularSecretFileIsRefusedWithoutBlocking) {
  testing::TempDir dir;
  const std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string err = testing::loadError(
      "listen:\n  address: \":1\"\nupstream:\n  url: https://x.io\n  token_file: fifo\n"
      "clients:\n  - name: a\n",
      testing::defaultEnv(), dir.path());
  EXPECT_EQ(err, "kw.yaml:5:15: upstream.token_file: cannot read " + fifo + ": not a regular file");
  const std::string dir_err = testing::loadError(
      "listen:\n  address: \":1\"\nupstream:\n  url: https://x.io\n  token_file: .\n"
      "clients:\n  - name: a\n",
      testing::defaultEnv(), dir.path());
  EXPECT_NE(dir_err.find("not a regular file"), std::string::npos) << dir_err;
}

// Attack round 24: `keyward check` and `policy test` waited forever on a FIFO named as the
// config or the cases file; a FIFO put at revoked_file would have held every reload.
TEST(LoaderTest, AFifoIsNeverWaitedOn) {
  testing::TempDir dir;
  const std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  auto cfg = loadConfigFile(fifo, testing::defaultEnv());
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().message, fifo + ":1:1: cannot read the config file: not a regular file");
  auto cases = loadPolicyCases(fifo);
  ASSERT_FALSE(cases);
  EXPECT_EQ(cases.error().message, fifo + ": cannot read: not a regular file");
  auto revoked = loadRevokedFile(fifo);
  ASSERT_FALSE(revoked) << "a revoked_file that cannot be read is not an empty list";
  EXPECT_EQ(revoked.error().message, fifo + ": cannot read: not a regular file");
  // No file at all is no revocation yet.
  auto none = loadRevokedFile(dir.path() + "/none");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace kw::conf

namespace kw::conf {
namespace {

TEST(LoaderTest, AdminAndListenNeedDifferentAddresses) {
  EXPECT_EQ(
      testing::loadError("listen:\n  address: \"127.0.0.1:9091\"\nupstream:\n  url: redis://h\n"
                         "clients:\n  - name: a\n"),
      "kw.yaml:1:1: admin.address: the admin listener needs its own address (it equals "
      "listen.address)");
  auto ok = testing::load(
      "listen:\n  address: \"127.0.0.1:0\"\nadmin:\n  address: \"127.0.0.1:0\"\n"
      "upstream:\n  url: redis://h\nclients:\n  - name: a\n");
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
}

}  // namespace
}  // namespace kw::conf

namespace kw::conf {
namespace {

TEST(LoaderTest, ErrorsAreInFileOrder) {
  const auto errors = collectConfigErrors(
      "clients:\n  - name: a\n    bogus: 1\nlisten:\n  address: x\nupstream:\n  url: ftp://h\n",
      "o.yaml", "/", testing::defaultEnv());
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].rfind("o.yaml:3:5: clients[0]: unknown key", 0), 0u) << errors[0];
  EXPECT_EQ(errors[1].rfind("o.yaml:5:12: listen.address:", 0), 0u) << errors[1];
  EXPECT_EQ(errors[2].rfind("o.yaml:7:8: upstream.url:", 0), 0u) << errors[2];
}

TEST(LoaderTest, ListenWorkers) {
  const std::string head = "listen:\n  address: \"127.0.0.1:8443\"\n";
  const std::string rest = minimalConfig().substr(minimalConfig().find("upstream:"));
  auto deflt = load(minimalConfig());
  ASSERT_TRUE(deflt.has_value()) << deflt.error().message;
  EXPECT_EQ(deflt->listen.workers, 0u);  // auto
  for (auto [text, n] :
       std::vector<std::pair<std::string, uint32_t>>{{"auto", 0}, {"1", 1}, {"2", 2}, {"64", 64}}) {
    auto r = load(head + "  workers: " + text + "\n" + rest);
    ASSERT_TRUE(r.has_value()) << text << ": " << r.error().message;
    EXPECT_EQ(r->listen.workers, n) << text;
  }
  EXPECT_EQ(loadError(head + "  workers: 0\n" + rest),
            "kw.yaml:3:12: listen.workers: 0 is out of range 1..64");
  EXPECT_EQ(loadError(head + "  workers: 65\n" + rest),
            "kw.yaml:3:12: listen.workers: 65 is out of range 1..64");
  EXPECT_EQ(loadError(head + "  workers: many\n" + rest),
            "kw.yaml:3:12: listen.workers: expected auto or a count in 1..64, got \"many\"");
  // Store leases are taken on one loop: an explicit count above 1 is refused, auto is 1 there.
  EXPECT_EQ(loadError(head + "  workers: 2\n" + rest + "quota:\n  store_url: redis://q:1\n"),
            "kw.yaml:3:12: listen.workers: quota.store_url takes its leases on one event loop: "
            "set workers to 1 or auto");
  EXPECT_TRUE(load(head + "  workers: 1\n" + rest + "quota:\n  store_url: redis://q:1\n"));
  EXPECT_TRUE(load(head + "  workers: auto\n" + rest + "quota:\n  store_url: redis://q:1\n"));
}

}  // namespace
}  // namespace kw::conf
