// judgeCredential: the states a keyward credential found in a file can be in, each named with
// its client where the token is ours, against a real snapshot (HS256 key, revocation list).
#include "proxy/scan/credential_verdict.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "conf/loader.h"
#include "policy/credentials.h"
#include "policy/jwt.h"

namespace kw::proxy {
namespace {

constexpr int64_t kNow = 1'800'000'000;
const std::string kKey = "kw_" + policy::base64UrlEncode(std::string(32, 'k'));

conf::SnapshotConstSharedPtr load(std::string_view secret) {
  const std::string yaml =
      "listen:\n  address: 127.0.0.1:0\nupstream:\n  url: redis://127.0.0.1:6379\n"
      "clients:\n  - name: web\n    commands: [\"+get\"]\n    keys: [\"*\"]\n"
      "  - name: server\n    api_keys: [\"sha256:" +
      policy::sha256Hex(kKey) +
      "\"]\n    commands: [\"+get\"]\n    keys: [\"*\"]\n"
      "signing:\n  max_ttl: 1h\n  keys:\n    - id: hs\n      alg: HS256\n      secret_env: S\n";
  auto cfg = conf::loadConfigText(yaml, "<test>", "/tmp", [&](std::string_view) {
    return std::optional<std::string>(std::string(secret));
  });
  EXPECT_TRUE(cfg) << cfg.error().message;
  auto snap = conf::buildSnapshot(std::move(*cfg));
  EXPECT_TRUE(snap) << snap.error().message;
  return *snap;
}

std::string token(const conf::Snapshot& s, std::string client, int64_t iat, int64_t exp,
                  std::string jti = "j-1") {
  policy::JwtClaims c;
  c.client = std::move(client);
  c.jti = std::move(jti);
  c.iat = iat;
  c.exp = exp;
  auto t = policy::signJwt(*s.jwtKeys().front(), c, s.jwtRules());
  EXPECT_TRUE(t);
  return *t;
}

std::string judge(const conf::Snapshot& s, scan::FindingKind kind, const std::string& secret,
                  const std::unordered_set<std::string>& revoked = {}) {
  const CredentialVerdict v = judgeCredential(kind, secret, s, kNow, revoked);
  return std::string(credentialStateName(v.state)) + " " + v.client + " " + v.jti;
}

TEST(CredentialVerdictTest, TokensLiveDeadAndForeign) {
  auto ours = load(std::string(40, 'a'));
  auto theirs = load(std::string(40, 'b'));
  const auto jwt = scan::FindingKind::Jwt;
  EXPECT_EQ(judge(*ours, jwt, token(*ours, "web", kNow - 10, kNow + 600)), "live web j-1");
  EXPECT_EQ(judge(*ours, jwt, token(*ours, "web", kNow - 900, kNow - 300)), "expired web j-1");
  EXPECT_EQ(judge(*ours, jwt, token(*ours, "web", kNow - 10, kNow + 600), {"j-1"}),
            "revoked web j-1");
  EXPECT_EQ(judge(*ours, jwt, token(*ours, "web", kNow + 300, kNow + 900)),
            "not-yet-valid web j-1");
  EXPECT_EQ(judge(*ours, jwt, token(*theirs, "web", kNow - 10, kNow + 600)), "unknown  ");
  EXPECT_EQ(judge(*ours, jwt, token(*ours, "gone", kNow - 10, kNow + 600)), "invalid gone j-1");
  // A client configured for API keys only does not take tokens.
  EXPECT_EQ(judge(*ours, jwt, token(*ours, "server", kNow - 10, kNow + 600)), "invalid server j-1");
}

TEST(CredentialVerdictTest, StaticKeysByTheirDigest) {
  auto s = load(std::string(40, 'a'));
  EXPECT_EQ(judge(*s, scan::FindingKind::KeywardKey, kKey), "live server ");
  EXPECT_EQ(judge(*s, scan::FindingKind::KeywardKey,
                  "kw_" + policy::base64UrlEncode(std::string(32, 'z'))),
            "unknown  ");
  EXPECT_EQ(judge(*s, scan::FindingKind::UpstashToken, "AXpp"), "unknown  ");
}

}  // namespace
}  // namespace kw::proxy
