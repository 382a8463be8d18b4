// resolveCredential: static keys, EdDSA and HS256 JWTs, and every refusal answered as a failure;
// every case also runs through the verified-token cache, whose hits must agree with a full check.
#include "proxy/router/credential_resolver.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "conf/api_key_gen.h"
#include "conf/loader.h"
#include "policy/jwt.h"
#include "tests/support/pem.h"

namespace kw::proxy {
namespace {

constexpr int64_t kNow = 1'800'000'000;

using kw::testing::pemOf;

// The parameter: resolve through a VerifiedTokens cache (each token twice: once verified in full,
// once recognised) or without one.
class CredentialResolverTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kw-credres-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    ASSERT_NE(k, nullptr);
    const std::string priv = pemOf(k, true);
    EVP_PKEY_free(k);
    std::ofstream(dir_ + "/ed.pem") << priv;
    auto ed = policy::JwtKey::fromPem("ed", priv, true);
    ASSERT_TRUE(ed);
    ed_ = *ed;
    auto hs = policy::JwtKey::fromSecret("hs", std::string(48, 'h'));
    ASSERT_TRUE(hs);
    hs_ = *hs;
    auto key = conf::newApiKey();
    ASSERT_TRUE(key);
    static_key_ = key->key;
    auto key2 = conf::newApiKey();
    auto key3 = conf::newApiKey();
    ASSERT_TRUE(key2 && key3);
    jwt_only_key_ = key2->key;
    both_key_ = key3->key;
    const std::string yaml =
        "listen:\n  address: 127.0.0.1:0\nupstream:\n  url: redis://127.0.0.1:6379\n"
        "clients:\n"
        "  - name: app\n    api_keys: [\"" +
        key->reference +
        "\"]\n    commands: [\"+get\"]\n    keys: [\"app:*\"]\n"
        "  - name: tenant\n    commands: [\"+get\", \"+set\"]\n    keys: [\"sess:{sub}:*\"]\n"
        "  - name: jwtonly\n    api_keys: [\"" +
        key2->reference +
        "\"]\n    credentials: [jwt]\n    commands: [\"+get\"]\n"
        "  - name: both\n    api_keys: [\"" +
        key3->reference +
        "\"]\n    credentials: [api_key, jwt]\n    commands: [\"+get\"]\n"
        "signing:\n  keys:\n"
        "    - id: ed\n      alg: EdDSA\n      private_key_file: ed.pem\n"
        "    - id: hs\n      alg: HS256\n      secret_env: KW_CREDRES_HS\n";
    auto cfg = conf::loadConfigText(yaml, "<test>", dir_, [](std::string_view name) {
      return name == "KW_CREDRES_HS" ? std::optional<std::string>(std::string(48, 'h'))
                                     : std::optional<std::string>();
    });
    ASSERT_TRUE(cfg) << cfg.error().message;
    auto snap = conf::buildSnapshot(std::move(*cfg));
    ASSERT_TRUE(snap) << snap.error().message;
    snapshot_ = *snap;
    ASSERT_EQ(snapshot_->jwtKeys().size(), 2U);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string mint(const policy::JwtKey& key, std::string client, std::string sub,
                   std::string jti = "", int64_t exp = kNow + 600) {
    policy::JwtClaims c;
    c.client = std::move(client);
    c.sub = std::move(sub);
    c.jti = std::move(jti);
    c.iat = kNow - 10;
    c.exp = exp;
    auto t = policy::signJwt(key, c, snapshot_->jwtRules());
    EXPECT_TRUE(t) << t.error().message;
    return t ? *t : std::string();
  }

  ResolvedCredential resolve(std::string_view token,
                             const std::unordered_set<std::string>* revoked = nullptr) {
    if (!GetParam()) return resolveCredential(token, *snapshot_, kNow, revoked);
    cache_.use(snapshot_);
    ResolvedCredential first = resolveCredential(token, *snapshot_, kNow, revoked, true, &cache_);
    const uint64_t hits = cache_.hits();
    ResolvedCredential again = resolveCredential(token, *snapshot_, kNow, revoked, true, &cache_);
    if (first.ok() && first.is_jwt) EXPECT_EQ(cache_.hits(), hits + 1);  // recognised
    EXPECT_EQ(again.entry, first.entry);
    EXPECT_EQ(again.failure, first.failure);
    EXPECT_EQ(again.sub, first.sub);
    EXPECT_EQ(again.jti, first.jti);
    EXPECT_EQ(again.exp, first.exp);
    return again;
  }

  std::string dir_;
  policy::JwtKeyConstSharedPtr ed_, hs_;
  std::string static_key_, jwt_only_key_, both_key_;
  conf::SnapshotConstSharedPtr snapshot_;
  VerifiedTokens cache_;
};

INSTANTIATE_TEST_SUITE_P(Cache, CredentialResolverTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Cached" : "Uncached"; });

TEST_P(CredentialResolverTest, EdDsaTokenResolvesClientSubAndJti) {
  auto r = resolve(mint(*ed_, "tenant", "u1", "j-1"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entry->config->spec.name, "tenant");
  EXPECT_EQ(r.sub, "u1");
  EXPECT_EQ(r.jti, "j-1");
  EXPECT_TRUE(r.is_jwt);
}

TEST_P(CredentialResolverTest, Hs256TokenResolves) {
  auto r = resolve(mint(*hs_, "tenant", "alice@example.com"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entry->config->spec.name, "tenant");
  EXPECT_EQ(r.sub, "alice@example.com");
  EXPECT_TRUE(r.jti.empty());
}

TEST_P(CredentialResolverTest, SubBindsTheClientsKeyTemplate) {
  auto r = resolve(mint(*ed_, "tenant", "u1"));
  ASSERT_TRUE(r.ok());
  policy::EvalScratch scratch;
  const policy::Identity id{r.sub};
  std::vector<std::string_view> own = {"GET", "sess:u1:cart"};
  std::vector<std::string_view> other = {"GET", "sess:u2:cart"};
  EXPECT_TRUE(r.entry->policy->evaluate(own, id, scratch).decision.allowed());
  EXPECT_FALSE(r.entry->policy->evaluate(other, id, scratch).decision.allowed());
}

// `credentials:` keeps the kinds apart: a signing key cannot act as an api_key client (the
// default when api_keys is set) and an api key cannot act as a client that takes only JWTs.
TEST_P(CredentialResolverTest, CredentialKindsDoNotCross) {
  auto r = resolve(mint(*ed_, "app", "u1"));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.failure, CredentialFailure::WrongKind);
  EXPECT_EQ(credentialFailureReason(r.failure), "auth_kind");
  EXPECT_TRUE(resolve(static_key_).ok());

  r = resolve(jwt_only_key_);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.failure, CredentialFailure::WrongKind);
  r = resolve(mint(*ed_, "jwtonly", "u1"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entry->config->spec.name, "jwtonly");

  r = resolve(both_key_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entry->config->spec.name, "both");
  r = resolve(mint(*hs_, "both", "u1"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entry->config->spec.name, "both");
  EXPECT_EQ(r.exp, kNow + 600);
}

TEST_P(CredentialResolverTest, UnknownClientClaimIsRefused) {
  auto r = resolve(mint(*ed_, "nobody", "u1"));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.failure, CredentialFailure::UnknownClient);
  EXPECT_EQ(credentialFailureReason(r.failure), "auth_jwt");
}

TEST_P(CredentialResolverTest, RevokedJtiIsRefused) {
  const std::string token = mint(*ed_, "tenant", "u1", "j-revoked");
  std::unordered_set<std::string> revoked = {"j-other"};
  EXPECT_TRUE(resolve(token, &revoked).ok());  // (cached: remembered as verified)
  revoked.insert("j-revoked");
  auto r = resolve(token, &revoked);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.failure, CredentialFailure::BadJwt);
}

TEST_P(CredentialResolverTest, ExpiredTokenIsRefused) {
  // exp beyond the 30 s leeway in the past.
  auto r = resolve(mint(*ed_, "tenant", "u1", "", kNow - 60));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.failure, CredentialFailure::BadJwt);
  // Within the leeway it still passes.
  EXPECT_TRUE(resolve(mint(*ed_, "tenant", "u1", "", kNow - 5)).ok());
}

TEST_P(CredentialResolverTest, TokenFromAnUnconfiguredKeyIsRefused) {
  auto other = policy::JwtKey::fromSecret("hs", std::string(48, 'x'));
  ASSERT_TRUE(other);
  auto r = resolve(mint(**other, "tenant", "u1"));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.failure, CredentialFailure::BadJwt);
}

TEST_P(CredentialResolverTest, StaticKeyStillWorks) {
  auto r = resolve(static_key_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.entry->config->spec.name, "app");
  EXPECT_FALSE(r.is_jwt);
  EXPECT_TRUE(r.sub.empty());
  std::string wrong = static_key_;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  auto w = resolve(wrong);
  EXPECT_FALSE(w.ok());
  EXPECT_EQ(w.failure, CredentialFailure::UnknownKey);
  EXPECT_EQ(credentialFailureReason(w.failure), "auth");
}

TEST_P(CredentialResolverTest, UnreadableRevocationListRefusesEveryJwtButNotStaticKeys) {
  const std::string token = mint(*ed_, "tenant", "u1", "j-1");
  ASSERT_TRUE(resolve(token).ok());
  auto r = resolveCredential(token, *snapshot_, kNow, nullptr, /*revocations_known=*/false);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.failure, CredentialFailure::BadJwt);
  EXPECT_TRUE(resolveCredential(static_key_, *snapshot_, kNow, nullptr, false).ok());
}

TEST_P(CredentialResolverTest, GarbageIsRefused) {
  EXPECT_EQ(resolve("").failure, CredentialFailure::Missing);
  EXPECT_FALSE(resolve("").ok());
  EXPECT_FALSE(resolve("not-a-token").ok());
  EXPECT_FALSE(resolve("a.b.c").ok());
  EXPECT_EQ(resolve("a.b.c").failure, CredentialFailure::BadJwt);
  EXPECT_FALSE(resolve("..").ok());
  EXPECT_FALSE(resolve("kw_.x.y").ok());
  EXPECT_FALSE(resolve(std::string(policy::kMaxTokenBytes + 1, '.')).ok());
  // A valid token with one flipped signature byte.
  std::string t = mint(*hs_, "tenant", "u1");
  t.back() = t.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(resolve(t).ok());
}

TEST_P(CredentialResolverTest, NoSigningKeysMeansNoJwt) {
  auto cfg = conf::loadConfigText(
      "listen:\n  address: 127.0.0.1:0\nupstream:\n  url: redis://127.0.0.1:6379\nclients:\n"
      "  - name: tenant\n    commands: [\"+get\"]\n    keys: [\"sess:{sub}:*\"]\n",
      "<test>", dir_, [](std::string_view) { return std::optional<std::string>(); });
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto snap = conf::buildSnapshot(std::move(*cfg));
  ASSERT_TRUE(snap) << snap.error().message;
  auto r = resolveCredential(mint(*ed_, "tenant", "u1"), **snap, kNow, nullptr);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.failure, CredentialFailure::BadJwt);
}

class VerifiedTokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = policy::JwtKey::fromSecret("hs", std::string(48, 'h'));
    ASSERT_TRUE(key);
    key_ = *key;
    snapshot_ = load();
    ASSERT_NE(snapshot_, nullptr);
    cache_.use(snapshot_);
  }
  static conf::SnapshotConstSharedPtr load() {
    auto cfg = conf::loadConfigText(
        "listen:\n  address: 127.0.0.1:0\nupstream:\n  url: redis://127.0.0.1:6379\n"
        "clients:\n  - name: tenant\n    commands: [\"+get\"]\n    keys: [\"s:{sub}:*\"]\n"
        "signing:\n  keys:\n    - id: hs\n      alg: HS256\n      secret_env: KW_VT_HS\n",
        "<test>", "/tmp",
        [](std::string_view) { return std::optional<std::string>(std::string(48, 'h')); });
    if (!cfg) return nullptr;
    auto snap = conf::buildSnapshot(std::move(*cfg));
    return snap ? *snap : nullptr;
  }
  std::string mint(std::string jti, int64_t exp) {
    policy::JwtClaims c;
    c.client = "tenant";
    c.sub = "u1";
    c.jti = std::move(jti);
    c.iat = kNow - 10;
    c.exp = exp;
    return *policy::signJwt(*key_, c, snapshot_->jwtRules());
  }
  VerifiedTokens::Digest key(std::string_view token) const {
    auto k = cache_.keyOf(token);
    EXPECT_TRUE(k.has_value());
    return k.value_or(VerifiedTokens::Digest{});
  }
  policy::JwtKeyConstSharedPtr key_;
  conf::SnapshotConstSharedPtr snapshot_;
  VerifiedTokens cache_;
};

// A remembered token is checked again against the time and the revocation list on every use.
TEST_F(VerifiedTokensTest, RememberedTokensStillExpireAndAreRevokedAtOnce) {
  const std::string token = mint("j-7", kNow + 600);
  ASSERT_TRUE(resolveCredential(token, *snapshot_, kNow, nullptr, true, &cache_).ok());
  EXPECT_EQ(cache_.size(), 1U);
  auto hit = resolveCredential(token, *snapshot_, kNow + 60, nullptr, true, &cache_);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(cache_.hits(), 1U);
  EXPECT_EQ(hit.jti, "j-7");
  EXPECT_FALSE(resolveCredential(token, *snapshot_, kNow + 600 + 31, nullptr, true, &cache_).ok());
  const std::unordered_set<std::string> revoked = {"j-7"};
  EXPECT_FALSE(resolveCredential(token, *snapshot_, kNow, &revoked, true, &cache_).ok());
  EXPECT_FALSE(resolveCredential(token, *snapshot_, kNow, nullptr, false, &cache_).ok());
  EXPECT_EQ(cache_.hits(), 3U);  // found each time, refused by the checks that follow
}

// Only tokens that verified and found their client are remembered: nothing an anonymous caller
// sends fills the cache, and a token one byte away from a remembered one is checked in full.
TEST_F(VerifiedTokensTest, OnlyVerifiedTokensAreRemembered) {
  std::string bad = mint("j-1", kNow + 600);
  ASSERT_TRUE(resolveCredential(bad, *snapshot_, kNow, nullptr, true, &cache_).ok());
  bad.back() = bad.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(resolveCredential(bad, *snapshot_, kNow, nullptr, true, &cache_).ok());
  policy::JwtClaims other;
  other.client = "nobody";
  other.exp = kNow + 600;
  const std::string unknown = *policy::signJwt(*key_, other, snapshot_->jwtRules());
  EXPECT_FALSE(resolveCredential(unknown, *snapshot_, kNow, nullptr, true, &cache_).ok());
  EXPECT_FALSE(
      resolveCredential(mint("j-2", kNow - 60), *snapshot_, kNow, nullptr, true, &cache_).ok());
  EXPECT_EQ(cache_.size(), 1U);
  EXPECT_EQ(cache_.hits(), 0U);
}

// A reload (a new snapshot: keys, rules or clients may have changed) forgets every token.
TEST_F(VerifiedTokensTest, ANewSnapshotForgetsEverything) {
  const std::string token = mint("j-1", kNow + 600);
  ASSERT_TRUE(resolveCredential(token, *snapshot_, kNow, nullptr, true, &cache_).ok());
  EXPECT_NE(cache_.find(key(token)), nullptr);
  cache_.use(snapshot_);
  EXPECT_NE(cache_.find(key(token)), nullptr);
  cache_.use(load());
  EXPECT_EQ(cache_.size(), 0U);
  EXPECT_EQ(cache_.find(key(token)), nullptr);
}

// At most kMaxEntries tokens, the oldest forgotten first.
TEST_F(VerifiedTokensTest, BoundedOldestFirst) {
  policy::JwtClaims c;
  c.client = "tenant";
  for (size_t i = 0; i <= VerifiedTokens::kMaxEntries; ++i)
    cache_.add(key("t" + std::to_string(i)), c);
  EXPECT_EQ(cache_.size(), VerifiedTokens::kMaxEntries);
  EXPECT_EQ(cache_.find(key("t0")), nullptr);
  EXPECT_NE(cache_.find(key("t1")), nullptr);
  EXPECT_NE(cache_.find(key("t" + std::to_string(VerifiedTokens::kMaxEntries))), nullptr);
  cache_.add(key("t1"), c);  // already there: nothing moves
  EXPECT_EQ(cache_.size(), VerifiedTokens::kMaxEntries);
}

}  // namespace
}  // namespace kw::proxy
