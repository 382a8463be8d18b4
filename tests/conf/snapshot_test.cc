// Tests for Snapshot: API-key lookup, name lookup, compile errors mapped to FILE:LINE:COL,
// signing keys, the revocation list.
#include "conf/snapshot.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "conf_test_util.h"
#include "policy/credentials.h"
#include "tests/support/pem.h"

namespace kw::conf {
namespace {

using testing::defaultEnv;
using testing::fakeEnv;
using testing::load;
using testing::TempDir;

const std::string kKeyA = "kw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const std::string kKeyB = "kw_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA";
const std::string kKeyB2 = "kw_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA";

std::string twoClients(const std::string& a_extra = "") {
  return "listen:\n  address: \":1\"\nupstream:\n  url: redis://127.0.0.1:6379\nclients:\n"
         "  - name: alpha\n    api_keys: [\"sha256:" +
         policy::sha256Hex(kKeyA) +
         "\"]\n"
         "    commands: [\"+get\"]\n    keys: [\"a:*\"]\n" +
         a_extra + "  - name: beta\n    api_keys: [\"sha256:" + policy::sha256Hex(kKeyB) +
         "\", \"sha256:" + policy::sha256Hex(kKeyB2) +
         "\"]\n    commands: [\"+set\"]\n    keys: [\"b:*\"]\n";
}

SnapshotConstSharedPtr snapshotOf(const std::string& text, const EnvLookup& env = defaultEnv(),
                                  const std::string& dir = "/etc/keyward") {
  auto cfg = load(text, env, dir);
  EXPECT_TRUE(cfg.has_value()) << cfg.error().message;
  if (!cfg) return nullptr;
  auto snap = buildSnapshot(std::move(*cfg));
  EXPECT_TRUE(snap.has_value()) << snap.error().message;
  return snap ? *snap : nullptr;
}

TEST(SnapshotTest, ApiKeyLookup) {
  auto snap = snapshotOf(twoClients());
  ASSERT_NE(snap, nullptr);
  const ClientEntry* a = snap->findClientByApiKey(kKeyA);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->config->spec.name, "alpha");
  EXPECT_EQ(a->policy->name(), "alpha");
  EXPECT_EQ(a->index, 0u);
  // Both of beta's keys find beta, not alpha.
  ASSERT_NE(snap->findClientByApiKey(kKeyB), nullptr);
  EXPECT_EQ(snap->findClientByApiKey(kKeyB)->config->spec.name, "beta");
  EXPECT_EQ(snap->findClientByApiKey(kKeyB2)->config->spec.name, "beta");
}

TEST(SnapshotTest, WrongKeysFindNothing) {
  auto snap = snapshotOf(twoClients());
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->findClientByApiKey(""), nullptr);
  EXPECT_EQ(snap->findClientByApiKey(kKeyA.substr(0, kKeyA.size() - 1)), nullptr);
  EXPECT_EQ(snap->findClientByApiKey(kKeyA + "A"), nullptr);
  EXPECT_EQ(snap->findClientByApiKey("sha256:" + policy::sha256Hex(kKeyA)), nullptr);
  EXPECT_EQ(snap->findClientByApiKey(policy::sha256Hex(kKeyA)), nullptr);
  EXPECT_EQ(snap->findClientByApiKey(std::string(100000, 'k')), nullptr);
}

TEST(SnapshotTest, FindClientByName) {
  auto snap = snapshotOf(twoClients());
  ASSERT_NE(snap, nullptr);
  ASSERT_NE(snap->findClientByName("beta"), nullptr);
  EXPECT_EQ(snap->findClientByName("beta")->index, 1u);
  EXPECT_EQ(snap->findClientByName("gamma"), nullptr);
  EXPECT_EQ(snap->findClientByName("Alpha"), nullptr);
  EXPECT_EQ(snap->clients().size(), 2u);
}

TEST(SnapshotTest, CompiledPoliciesDecide) {
  auto snap = snapshotOf(twoClients());
  ASSERT_NE(snap, nullptr);
  policy::EvalScratch scratch;
  std::vector<std::string_view> get_a = {"GET", "a:1"};
  std::vector<std::string_view> get_b = {"GET", "b:1"};
  const auto& alpha = *snap->findClientByName("alpha")->policy;
  EXPECT_TRUE(alpha.evaluate(get_a, {}, scratch).decision.allowed());
  EXPECT_FALSE(alpha.evaluate(get_b, {}, scratch).decision.allowed());
}

TEST(SnapshotTest, CompileErrorsPointAtTheElement) {
  std::string text = twoClients();
  text.replace(text.find("[\"+get\"]"), 8, "[\"+get\", \"+nosuchcmd\"]");
  auto cfg = load(text);
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  auto snap = buildSnapshot(std::move(*cfg));
  ASSERT_FALSE(snap.has_value());
  const std::string& msg = snap.error().message;
  EXPECT_EQ(msg.rfind("kw.yaml:8:24: clients[0].commands[1]: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("nosuchcmd"), std::string::npos) << msg;
}

TEST(SnapshotTest, PatternErrorPointsAtThePattern) {
  auto cfg = load(twoClients("    read_keys: [\"ok:*\", \"\"]\n"));
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  auto snap = buildSnapshot(std::move(*cfg));
  ASSERT_FALSE(snap.has_value());
  EXPECT_EQ(snap.error().message.rfind("kw.yaml:10:25: clients[0].read_keys[1]: ", 0), 0u)
      << snap.error().message;
}

TEST(SnapshotTest, DuplicateKeyInHandBuiltConfigIsRefused) {
  auto cfg = load(twoClients());
  ASSERT_TRUE(cfg.has_value());
  cfg->clients[1].api_key_hashes.push_back(cfg->clients[0].api_key_hashes[0]);
  auto snap = buildSnapshot(std::move(*cfg));
  ASSERT_FALSE(snap.has_value());
  EXPECT_NE(snap.error().message.find("used by two clients"), std::string::npos);
}

using kw::testing::pemOf;

TEST(SnapshotTest, SigningKeysLoad) {
  TempDir dir;
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  ASSERT_NE(key, nullptr);
  dir.write("keys/a.pem", pemOf(key, true));
  dir.write("keys/b.pub.pem", pemOf(key, false));
  EVP_PKEY_free(key);
  auto env = fakeEnv({{"HS", std::string(48, 'h')}});
  auto snap =
      snapshotOf(twoClients() +
                     "signing:\n  issuer: iss\n  audience: aud\n  max_ttl: 2h\n  leeway: 5s\n"
                     "  keys:\n    - id: a\n      alg: EdDSA\n      private_key_file: keys/a.pem\n"
                     "    - id: b\n      alg: EdDSA\n      public_key_file: keys/b.pub.pem\n"
                     "    - id: c\n      alg: HS256\n      secret_env: HS\n",
                 env, dir.path());
  ASSERT_NE(snap, nullptr);
  ASSERT_EQ(snap->jwtKeys().size(), 3u);
  EXPECT_EQ(snap->jwtKeys()[0]->id(), "a");
  EXPECT_TRUE(snap->jwtKeys()[0]->canSign());
  EXPECT_FALSE(snap->jwtKeys()[1]->canSign());
  EXPECT_EQ(snap->jwtKeys()[2]->alg(), policy::JwtAlg::HS256);
  EXPECT_EQ(snap->jwtRules().issuer, "iss");
  EXPECT_EQ(snap->jwtRules().audience, "aud");
  EXPECT_EQ(snap->jwtRules().max_ttl_s, 7200);
  EXPECT_EQ(snap->jwtRules().leeway_s, 5);
}

// Attack round 15b: with both files named, the private key's public half verified and
// public_key_file was ignored, so a stale private key beside a rotated public key kept working.
TEST(SnapshotTest, APrivateAndAPublicKeyFileMustBeOnePair) {
  TempDir dir;
  EVP_PKEY* one = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  EVP_PKEY* other = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  ASSERT_NE(one, nullptr);
  ASSERT_NE(other, nullptr);
  dir.write("keys/one.pem", pemOf(one, true));
  dir.write("keys/one.pub.pem", pemOf(one, false));
  dir.write("keys/other.pub.pem", pemOf(other, false));
  EVP_PKEY_free(one);
  EVP_PKEY_free(other);
  const std::string head = twoClients() + "signing:\n  keys:\n    - id: a\n      alg: EdDSA\n";
  auto pair = snapshotOf(
      head + "      private_key_file: keys/one.pem\n      public_key_file: keys/one.pub.pem\n",
      defaultEnv(), dir.path());
  ASSERT_NE(pair, nullptr);
  EXPECT_TRUE(pair->jwtKeys()[0]->canSign());
  auto cfg = load(
      head + "      private_key_file: keys/one.pem\n      public_key_file: keys/other.pub.pem\n",
      defaultEnv(), dir.path());
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  auto mismatched = buildSnapshot(std::move(*cfg));
  ASSERT_FALSE(mismatched.has_value());
  EXPECT_NE(
      mismatched.error().message.find("signing.keys[0]: " + dir.path() + "/keys/one.pem and " +
                                      dir.path() + "/keys/other.pub.pem are not one key pair"),
      std::string::npos)
      << mismatched.error().message;
}

TEST(SnapshotTest, SigningKeyErrorsNameTheKeyEntry) {
  TempDir dir;
  dir.write("junk.pem", "not a key\n");
  auto cfg = load(twoClients() +
                      "signing:\n  keys:\n    - id: a\n      alg: EdDSA\n"
                      "      public_key_file: junk.pem\n"
                      "    - id: b\n      alg: EdDSA\n      public_key_file: gone.pem\n",
                  defaultEnv(), dir.path());
  ASSERT_TRUE(cfg.has_value()) << cfg.error().message;
  auto without = buildSnapshotWithoutKeys(*cfg);
  ASSERT_TRUE(without.has_value()) << without.error().message;
  EXPECT_TRUE((*without)->jwtKeys().empty());
  auto snap = buildSnapshot(std::move(*cfg));
  ASSERT_FALSE(snap.has_value());
  const std::string& msg = snap.error().message;
  EXPECT_NE(
      msg.find("kw.yaml:16:7: signing.keys[0]: " + dir.path() + "/junk.pem: key a: not a PEM"),
      std::string::npos)
      << msg;
  EXPECT_NE(msg.find("kw.yaml:19:7: signing.keys[1]: cannot read " + dir.path() + "/gone.pem"),
            std::string::npos)
      << msg;
}

TEST(RevokedFileTest, ParsesAndBounds) {
  TempDir dir;
  const std::string path = dir.write("revoked.txt", "# revoked\n\njti-1\n  jti-2  \r\njti-1\n");
  auto list = loadRevokedFile(path);
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(list->size(), 2u);
  EXPECT_EQ(list->count("jti-2"), 1u);
  auto missing = loadRevokedFile(dir.path() + "/none.txt");
  ASSERT_TRUE(missing.has_value());
  EXPECT_TRUE(missing->empty());
}

}  // namespace
}  // namespace kw::conf

namespace kw::conf {
namespace {

// Every setting read once at start refuses a reload by name; what a reload applies does not.
TEST(SettingNeedingRestartTest, NamesEachStartOnlySetting) {
  Config a;
  a.upstream.url = "redis://127.0.0.1:6379";
  a.upstream.token = "secret-a";
  a.admin.token = "admin-a";
  a.listen.tls = TlsConfig{"/c.pem", "/k.pem", "", TlsConfig::MinVersion::Tls12};
  EXPECT_EQ(settingNeedingRestart(a, a), std::nullopt);
  struct Case {
    const char* name;
    void (*mutate)(Config&);
  };
  const Case cases[] = {
      {"listen.address", [](Config& c) { c.listen.address.port = 1; }},
      {"listen.tls", [](Config& c) { c.listen.tls.reset(); }},
      {"listen.tls.client_ca_file", [](Config& c) { c.listen.tls->client_ca_file = "/ca.pem"; }},
      {"listen.max_body_bytes", [](Config& c) { c.listen.max_body_bytes = 1; }},
      {"listen.max_connections", [](Config& c) { c.listen.max_connections = 1; }},
      {"listen.max_output_bytes", [](Config& c) { c.listen.max_output_bytes = 1 << 20; }},
      {"listen.header_timeout", [](Config& c) { c.listen.header_timeout = Duration(1); }},
      {"listen.idle_timeout", [](Config& c) { c.listen.idle_timeout = Duration(1); }},
      {"listen.workers", [](Config& c) { c.listen.workers = 3; }},
      {"admin.address", [](Config& c) { c.admin.address.port = 1; }},
      {"admin.token", [](Config& c) { c.admin.token = "admin-b"; }},
      {"upstream.url", [](Config& c) { c.upstream.url = "redis://127.0.0.2:6379"; }},
      {"upstream.token", [](Config& c) { c.upstream.token = "secret-b"; }},
      {"upstream.ca_file", [](Config& c) { c.upstream.ca_file = "/other-ca.pem"; }},
      {"upstream.timeout", [](Config& c) { c.upstream.timeout = Duration(1); }},
      {"upstream.connections", [](Config& c) { c.upstream.connections = 1; }},
      {"quota.state_file", [](Config& c) { c.quota.state_file = "/q"; }},
      {"quota.store_url", [](Config& c) { c.quota.store_url = "redis://127.0.0.1:1"; }},
      {"audit.file", [](Config& c) { c.audit.file = "/var/log/kw/audit.jsonl"; }},
      {"audit.on_failure", [](Config& c) { c.audit.on_failure = AuditFailure::Continue; }},
  };
  for (const Case& k : cases) {
    Config b = a;
    k.mutate(b);
    auto got = settingNeedingRestart(a, b);
    ASSERT_TRUE(got) << k.name;
    EXPECT_EQ(*got, k.name);
    EXPECT_EQ(got->find("secret"), std::string::npos);
  }
  // Applied on reload: TLS certificate and key, signing, budget, clients, query tokens.
  Config b = a;
  b.listen.tls->cert_file = "/c2.pem";
  b.listen.tls->key_file = "/k2.pem";
  b.listen.allow_query_token = true;
  b.signing.keys.push_back({});
  b.signing.leeway = Duration(0);
  b.budget.per_day = 1;
  b.audit.log_keys = true;
  b.clients.push_back({});
  EXPECT_EQ(settingNeedingRestart(a, b), std::nullopt);
}

}  // namespace
}  // namespace kw::conf
