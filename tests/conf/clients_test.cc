// Tests for the clients list: names, api_keys references, lists, network scope and limits.
#include <gtest/gtest.h>

#include <cstring>

#include "conf/loader.h"
#include "conf_test_util.h"
#include "policy/credentials.h"

namespace kw::conf {
namespace {

using testing::load;
using testing::loadError;
using testing::minimalConfig;

const char kHead[] =
    "listen:\n  address: \":1\"\nupstream:\n  url: redis://127.0.0.1:6379\nclients:\n";
// Line 6 is the first line after kHead.

const std::string kHashA = "sha256:" + policy::sha256Hex("kw_key_a");
const std::string kHashB = "sha256:" + policy::sha256Hex("kw_key_b");

TEST(ClientsTest, AllListsAndScope) {
  auto r = load(std::string(kHead) +
                "  - name: full.client_1-x\n"
                "    api_keys: [\"" +
                kHashA + "\", \"" + kHashB +
                "\"]\n"
                "    commands: [\"+@read\", \"-keys\"]\n"
                "    keys: [\"a:*\"]\n"
                "    read_keys: [\"r:*\"]\n"
                "    write_keys: [\"w:*\"]\n"
                "    channels: [\"chan:*\"]\n"
                "    consumer_groups: [\"g\"]\n"
                "    scripts: [\"*\"]\n"
                "    functions: [\"myfn\"]\n"
                "    allow_ips: [\"10.0.0.0/8\", \"::1\"]\n"
                "    allow_origins: [\"HTTPS://App.Example.com\", \"http://localhost:3000\"]\n");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const ClientConfig& c = r->clients[0];
  EXPECT_EQ(c.spec.name, "full.client_1-x");
  ASSERT_EQ(c.api_key_hashes.size(), 2u);
  EXPECT_EQ(policy::toHex(c.api_key_hashes[1]), kHashB.substr(7));
  EXPECT_EQ(c.spec.read_keys, std::vector<std::string>{"r:*"});
  EXPECT_EQ(c.spec.write_keys, std::vector<std::string>{"w:*"});
  EXPECT_EQ(c.spec.channels, std::vector<std::string>{"chan:*"});
  EXPECT_EQ(c.spec.consumer_groups, std::vector<std::string>{"g"});
  EXPECT_EQ(c.spec.scripts, std::vector<std::string>{"*"});
  EXPECT_EQ(c.spec.functions, std::vector<std::string>{"myfn"});
  ASSERT_EQ(c.allow_ips.size(), 2u);
  EXPECT_EQ(c.allow_ips[1].prefix_len, 128);
  EXPECT_EQ(c.allow_origins,
            (std::vector<std::string>{"https://app.example.com", "http://localhost:3000"}));
  // Element locations map compile errors back to the file.
  bool found = false;
  for (const auto& [key, loc] : c.element_locations) {
    if (key == "commands[1]") {
      EXPECT_EQ(loc, "kw.yaml:8:26");
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(ClientsTest, ClientsMustBeANonEmptyList) {
  EXPECT_EQ(loadError(std::string(kHead) + "  name: x\n"),
            "kw.yaml:6:3: clients: expected a list of clients, got a map");
  EXPECT_EQ(loadError("listen:\n  address: \":1\"\nupstream:\n  url: redis://127.0.0.1:6379\n"
                      "clients: []\n"),
            "kw.yaml:5:10: clients: at least one client is required");
}

TEST(ClientsTest, NameRules) {
  EXPECT_EQ(loadError(std::string(kHead) + "  - commands: []\n"),
            "kw.yaml:6:5: clients[0]: missing required key \"name\"");
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: \"a/b\"\n"),
            "kw.yaml:6:11: clients[0].name: expected 1-64 characters of A-Z a-z 0-9 . _ -, got "
            "\"a/b\"");
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: " + std::string(65, 'n') + "\n"),
            "kw.yaml:6:11: clients[0].name: longer than 64 bytes");
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: app\n  - name: other\n  - name: app\n"),
            "kw.yaml:8:11: clients[2].name: duplicate client name \"app\" (first at kw.yaml:6:11)");
}

TEST(ClientsTest, ApiKeyReferenceFormat) {
  const std::string upper = "sha256:" + std::string(64, 'A');
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    api_keys: [\"" + upper + "\"]\n"),
            "kw.yaml:7:16: clients[0].api_keys[0]: expected \"sha256:\" followed by 64 lowercase "
            "hex digits (the SHA-256 of the key)");
  EXPECT_EQ(loadError(std::string(kHead) +
                      "  - name: a\n    api_keys: [\"sha256:9f86d081884c7d65...\"]\n")
                .find("expected \"sha256:\""),
            38u);
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    api_keys: \"" + kHashA + "\"\n"),
            "kw.yaml:7:15: clients[0].api_keys: expected a list of \"sha256:<hex>\" strings, got a "
            "scalar");
}

TEST(ClientsTest, RawApiKeyIsRefusedWithoutEchoingIt) {
  const std::string raw = "kw_6UBwgQ55Fx0hhPu4Grx1Bbl17cjQNPJbPQeK1QRCzAA";
  const std::string err =
      loadError(std::string(kHead) + "  - name: a\n    api_keys: [\"" + raw + "\"]\n");
  EXPECT_EQ(err.find(raw), std::string::npos);
  EXPECT_NE(err.find("kw.yaml:7:16: clients[0].api_keys[0]: this looks like a raw API key"),
            std::string::npos)
      << err;
}

TEST(ClientsTest, ApiKeyUsedByTwoClients) {
  EXPECT_EQ(
      loadError(std::string(kHead) + "  - name: a\n    api_keys: [\"" + kHashA +
                "\"]\n  - name: b\n    api_keys: [\"" + kHashB + "\", \"" + kHashA + "\"]\n"),
      "kw.yaml:9:" + std::to_string(16 + kHashB.size() + 4) +
          ": clients[1].api_keys[1]: this key is also used by client \"a\" (at kw.yaml:7:16)");
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    api_keys:\n      - " + kHashA +
                      "\n      - " + kHashA + "\n"),
            "kw.yaml:9:9: clients[0].api_keys[1]: duplicate key (also at kw.yaml:8:9)");
}

// credentials: defaults from api_keys, explicit lists, and every error with FILE:LINE:COL.
TEST(ClientsTest, CredentialKinds) {
  auto cfg = load(std::string(kHead) + "  - name: a\n    api_keys: [\"" + kHashA +
                  "\"]\n  - name: b\n  - name: c\n    api_keys: [\"" + kHashB +
                  "\"]\n    credentials: [jwt, api_key]\n");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_TRUE(cfg->clients[0].accepts_api_key);
  EXPECT_FALSE(cfg->clients[0].accepts_jwt);
  EXPECT_FALSE(cfg->clients[1].accepts_api_key);
  EXPECT_TRUE(cfg->clients[1].accepts_jwt);
  EXPECT_TRUE(cfg->clients[2].accepts_api_key);
  EXPECT_TRUE(cfg->clients[2].accepts_jwt);
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    credentials: [jwt, oauth]\n"),
            "kw.yaml:7:24: clients[0].credentials[1]: expected api_key or jwt, got \"oauth\"");
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    credentials: [jwt, jwt]\n"),
            "kw.yaml:7:24: clients[0].credentials[1]: duplicate credential kind \"jwt\"");
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    credentials: []\n"),
            "kw.yaml:7:18: clients[0].credentials: expected at least one of api_key, jwt (an empty "
            "list admits nobody)");
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    credentials: [api_key]\n"),
            "kw.yaml:7:18: clients[0].credentials: lists api_key but the client has no api_keys");
}

TEST(ClientsTest, TooManyApiKeys) {
  std::string keys;
  for (size_t i = 0; i <= kMaxApiKeysPerClient; ++i) {
    keys += std::string(i ? ", " : "") + "\"sha256:" + policy::sha256Hex(std::to_string(i)) + "\"";
  }
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    api_keys: [" + keys + "]\n"),
            "kw.yaml:7:15: clients[0].api_keys: more than 64 keys");
}

TEST(ClientsTest, PatternBounds) {
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    keys: [\"" +
                      std::string(kMaxPatternBytes + 1, 'k') + "\"]\n"),
            "kw.yaml:7:12: clients[0].keys[0]: longer than 1024 bytes");
  std::string many;
  for (size_t i = 0; i <= kMaxPatternsPerList; ++i) many += i ? ",k" : "k";
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    keys: [" + many + "]\n"),
            "kw.yaml:7:11: clients[0].keys: more than 4096 entries");
}

TEST(ClientsTest, TooManyClients) {
  std::string text = kHead;
  for (size_t i = 0; i <= kMaxClients; ++i) text += "  - name: c" + std::to_string(i) + "\n";
  EXPECT_EQ(loadError(text), "kw.yaml:6:3: clients: more than 10000 clients");
}

TEST(ClientsTest, ManyClientsLoad) {
  std::string text = kHead;
  for (size_t i = 0; i < 2000; ++i) {
    text += "  - name: c" + std::to_string(i) +
            "\n    api_keys: [\"sha256:" + policy::sha256Hex("k" + std::to_string(i)) +
            "\"]\n    keys: [\"t" + std::to_string(i) + ":*\"]\n";
  }
  auto r = load(text);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->clients.size(), 2000u);
}

TEST(ClientsTest, NetworkScopeErrors) {
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    allow_ips: [\"10.0.0.1/8\"]\n"),
            "kw.yaml:7:17: clients[0].allow_ips[0]: CIDR \"10.0.0.1/8\" has host bits set after "
            "the prefix");
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    allow_ips: [\"10.0.0.0/33\"]\n")
                .rfind("kw.yaml:7:17: clients[0].allow_ips[0]: expected an IP address or CIDR", 0),
            0u);
  for (const char* bad : {"*", "app.example.com", "https://app.example.com/", "https://a.com/path",
                          "ftp://a.com", "https://", "https://a.com:port", "null"}) {
    const std::string err =
        loadError(std::string(kHead) + "  - name: a\n    allow_origins: [\"" + bad + "\"]\n");
    EXPECT_EQ(err.rfind("kw.yaml:7:21: clients[0].allow_origins[0]: expected an origin", 0), 0u)
        << bad << ": " << err;
  }
}

TEST(ClientsTest, TrustedProxies) {
  auto r = load(
      "listen:\n  address: \":1\"\n  trusted_proxies: [\"10.1.0.0/16\", \"fd00::/8\"]\n"
      "upstream:\n  url: redis://h\nclients:\n  - name: a\n");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->listen.trusted_proxies.size(), 2u);
  EXPECT_TRUE(r->listen.trusted_proxies[0].contains(*parseIp("10.1.2.3")));
}

TEST(ClientsTest, Limits) {
  auto r = load(std::string(kHead) +
                "  - name: a\n    limits:\n      rate: 100/m\n      per_identity_rate: 2/s\n"
                "      per_month: 7\n"
                "  - name: b\n    limits: { rate: 5/s, burst: 10, per_day: 500 }\n");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const LimitsConfig& a = r->clients[0].limits;
  EXPECT_EQ(a.rate.count, 100u);
  EXPECT_EQ(a.rate.period_ms, 60000u);
  EXPECT_EQ(a.burst, 100u);  // defaults to the rate's count
  EXPECT_EQ(a.per_identity_rate.count, 2u);
  EXPECT_EQ(a.per_month, 7u);
  EXPECT_EQ(r->clients[1].limits.burst, 10u);
  EXPECT_EQ(r->clients[1].limits.per_day, 500u);
}

TEST(ClientsTest, ShareLimits) {
  auto r = load(
      "listen:\n  address: \":1\"\n  max_subscriptions: 100\n"
      "upstream:\n  url: redis://h\nclients:\n"
      "  - name: a\n    limits: { max_subscriptions: 7, max_in_flight: 64 }\n  - name: b\n");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->listen.max_subscriptions, 100u);
  EXPECT_EQ(r->clients[0].limits.max_subscriptions, 7u);
  EXPECT_EQ(r->clients[0].limits.max_in_flight, 64u);
  EXPECT_EQ(r->clients[1].limits.max_subscriptions, 0u);  // 0 = the default share (half)
  EXPECT_EQ(r->clients[1].limits.max_in_flight, 0u);
  auto d = load(std::string(kHead) + "  - name: a\n");
  ASSERT_TRUE(d.has_value()) << d.error().message;
  EXPECT_EQ(d->listen.max_subscriptions, 4096u);
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    limits:\n      max_in_flight: 0\n"),
            "kw.yaml:8:22: clients[0].limits.max_in_flight: 0 is out of range 1..100000");
  EXPECT_EQ(
      loadError(std::string(kHead) + "  - name: a\n    limits:\n      max_subscriptions: x\n"),
      "kw.yaml:8:26: clients[0].limits.max_subscriptions: expected an integer in 1..100000, got "
      "the scalar \"x\"");
}

TEST(ClientsTest, LimitErrors) {
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    limits:\n      rate: 50\n"),
            "kw.yaml:8:13: clients[0].limits.rate: expected a rate such as 50/s, 100/m, 1000/h or "
            "10/30s, got \"50\"");
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    limits:\n      burst: 5\n"),
            "kw.yaml:8:14: clients[0].limits.burst: burst needs a rate");
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    limits:\n      rate: 0/s\n"),
            "kw.yaml:8:13: clients[0].limits.rate: rate \"0/s\" allows nothing (omit it for no "
            "limit)");
  EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    limits: [1]\n"),
            "kw.yaml:7:13: clients[0].limits: expected a map, got a list");
}

// A JWT identity holds at most half of its client's in-flight and subscription shares: at 1 the
// first identity took the whole of it (attack round 21), so a JWT client needs 2 or more. A
// client of API keys only has no identities.
TEST(ClientsTest, JwtClientSharesHoldTwoIdentities) {
  for (const char* key : {"max_in_flight", "max_subscriptions"}) {
    EXPECT_EQ(loadError(std::string(kHead) + "  - name: a\n    limits:\n      " + key + ": 1\n"),
              std::string("kw.yaml:8:") + std::to_string(9 + std::strlen(key)) +
                  ": clients[0].limits." + key +
                  ": must be at least 2 for a client that accepts JWTs: each identity (sub) "
                  "holds at most half of it");
    auto two = load(std::string(kHead) + "  - name: a\n    limits:\n      " + key + ": 2\n");
    EXPECT_TRUE(two.has_value()) << two.error().message;
    auto keys = load(std::string(kHead) + "  - name: a\n    api_keys: [\"" + kHashA +
                     "\"]\n    limits:\n      " + key + ": 1\n");
    EXPECT_TRUE(keys.has_value()) << keys.error().message;
  }
}

}  // namespace
}  // namespace kw::conf
