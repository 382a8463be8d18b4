// The encryption: section (README, Value encryption): keys from _env / _file, patterns, plaintext,
// every error at its FILE:LINE:COL and never with the secret; the snapshot's keyring and policies.
#include <gtest/gtest.h>

#include "conf/loader.h"
#include "conf/snapshot.h"
#include "conf_test_util.h"
#include "policy/value_cipher.h"

namespace kw::conf {
namespace {

using testing::fakeEnv;
using testing::load;
using testing::loadError;
using testing::minimalConfig;
using testing::TempDir;

// 32 bytes: standard base64 with padding, and the same bytes in base64url without.
const char kKey[] = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
const char kKeyUrl[] = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA";
const char kShort[] = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeA==";  // 31 bytes

EnvLookup env(const std::string& key = kKey) {
  return fakeEnv({{"UPSTASH_REDIS_REST_URL", "https://demo-1234.upstash.io"},
                  {"UPSTASH_REDIS_REST_TOKEN", "tok"},
                  {"VK", key}});
}

std::string encryption(const std::string& body) { return minimalConfig("encryption:\n" + body); }

TEST(EncryptionConfig, KeysPatternsAndPlaintext) {
  TempDir dir;
  dir.write("v1.key", std::string(kKeyUrl) + "\n");
  auto r = load(encryption("  keys:\n    - { id: v2, secret_env: VK }\n"
                           "    - { id: v1, secret_file: v1.key }\n"
                           "  patterns: [\"app:*\", \"pii:*\"]\n  plaintext: pass\n"),
                env(), dir.path());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const EncryptionConfig& e = r->encryption;
  ASSERT_EQ(e.keys.size(), 2u);
  EXPECT_EQ(e.keys[0].id, "v2");
  EXPECT_EQ(e.keys[0].secret.size(), 32u);
  EXPECT_EQ(e.keys[0].secret, e.keys[1].secret);  // the same bytes in both spellings
  EXPECT_EQ(e.patterns, (std::vector<std::string>{"app:*", "pii:*"}));
  EXPECT_EQ(e.plaintext, PlaintextReads::Pass);

  auto snap = buildSnapshot(std::move(*r));
  ASSERT_TRUE(snap.has_value()) << snap.error().message;
  ASSERT_EQ((*snap)->valueKeyring().keys().size(), 2u);
  EXPECT_EQ((*snap)->valueKeyring().keys()[0].id(), "v2");
  // Every client's policy decides on the patterns.
  policy::EvalScratch scratch;
  std::vector<std::string_view> argv = {"GET", "app:1"};
  const auto& entry = (*snap)->clients().front();
  auto ev = entry.policy->evaluate(argv, {}, scratch);
  ASSERT_TRUE(ev.decision.allowed());
  EXPECT_EQ(ev.values.reply, policy::ReplyValues::Whole);
}

TEST(EncryptionConfig, DefaultsAndNone) {
  auto r = load(minimalConfig(), env());
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->encryption.keys.empty());
  EXPECT_EQ(r->encryption.plaintext, PlaintextReads::Refuse);
}

TEST(EncryptionConfig, ErrorsNameThePlaceNeverTheSecret) {
  std::string err =
      loadError(encryption("  keys:\n    - id: v1\n      secret_env: VK\n"), env(kShort));
  EXPECT_EQ(err,
            "kw.yaml:9:19: encryption.keys[0].secret: expected 32 bytes in base64 (keyward "
            "encryption new-key prints one)");
  EXPECT_EQ(err.find("q83v"), std::string::npos);
  err = loadError(encryption("  keys:\n    - id: v1\n      secret: abc\n"), env());
  EXPECT_EQ(err,
            "kw.yaml:9:15: encryption.keys[0].secret: secrets never sit in the config file; use "
            "secret_env or secret_file");
  EXPECT_EQ(loadError(encryption("  keys:\n    - id: \"a.b\"\n      secret_env: VK\n"), env()),
            "kw.yaml:8:11: encryption.keys[0].id: expected 1-32 of A-Z a-z 0-9 _ -, got \"a.b\"");
  EXPECT_EQ(loadError(encryption("  keys:\n    - id: v1\n"), env()),
            "kw.yaml:8:7: encryption.keys[0]: a key needs secret_env or secret_file");
  EXPECT_EQ(loadError(encryption("  keys:\n    - { id: v1, secret_env: VK }\n"
                                 "    - { id: v1, secret_env: VK }\n"),
                      env()),
            "kw.yaml:9:7: encryption.keys[1]: duplicate key id \"v1\"");
  EXPECT_EQ(loadError(encryption("  patterns: [\"sess:*\"]\n"), env()),
            "kw.yaml:7:13: encryption.patterns: needs encryption.keys (at least one key)");
  EXPECT_EQ(loadError(encryption("  keys: []\n"), env()),
            "kw.yaml:7:9: encryption.keys: needs at least one key");
  EXPECT_EQ(loadError(encryption("  keys:\n    - { id: v1, secret_env: VK }\n"
                                 "  patterns: [\"u:{sub}:*\"]\n"),
                      env()),
            "kw.yaml:9:14: encryption.patterns[0]: {sub} templates are not allowed here");
  EXPECT_EQ(loadError(encryption("  plaintext: maybe\n"), env()),
            "kw.yaml:7:14: encryption.plaintext: expected refuse or pass, got \"maybe\"");
  EXPECT_EQ(loadError(encryption("  cipher: aes\n"), env()).find("kw.yaml:7:3: "), 0u);
}

}  // namespace
}  // namespace kw::conf
