// Tests for secret fields (_env / _file forms, literals refused), upstream, admin and signing.
#include <gtest/gtest.h>

#include "conf/loader.h"
#include "conf_test_util.h"

namespace kw::conf {
namespace {

using testing::defaultEnv;
using testing::fakeEnv;
using testing::load;
using testing::loadError;
using testing::minimalConfig;
using testing::TempDir;

const char kListen[] = "listen:\n  address: \":1\"\n";
const char kClients[] = "clients:\n  - name: app\n    commands: [\"+get\"]\n";

std::string withUpstream(const std::string& upstream_body) {
  return std::string(kListen) + "upstream:\n" + upstream_body + kClients;
}

TEST(SecretsTest, UpstreamFromEnv) {
  auto r = load(withUpstream("  url_env: U\n  token_env: T\n"),
                fakeEnv({{"U", "https://x.upstash.io"}, {"T", "tok-123"}}));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->upstream.url, "https://x.upstash.io");
  EXPECT_EQ(r->upstream.token, "tok-123");
}

TEST(SecretsTest, UnsetEnvironmentVariable) {
  EXPECT_EQ(loadError(withUpstream("  url_env: U\n  token_env: MISSING_TOKEN\n"),
                      fakeEnv({{"U", "https://x.io"}})),
            "kw.yaml:5:14: upstream.token_env: environment variable MISSING_TOKEN is not set");
}

TEST(SecretsTest, EmptyEnvironmentVariable) {
  EXPECT_EQ(loadError(withUpstream("  url_env: U\n  token_env: T\n"),
                      fakeEnv({{"U", "https://x.io"}, {"T", ""}})),
            "kw.yaml:5:14: upstream.token: the secret is empty");
}

TEST(SecretsTest, BadEnvironmentVariableName) {
  EXPECT_EQ(loadError(withUpstream("  url_env: U\n  token_env: \"A-B\"\n"),
                      fakeEnv({{"U", "https://x.io"}})),
            "kw.yaml:5:14: upstream.token_env: expected an environment variable name, got \"A-B\"");
}

TEST(SecretsTest, LiteralSecretsAreRefusedAndNeverEchoed) {
  const std::string err =
      loadError(withUpstream("  url: https://x.io\n  token: AXsupersecretvalue\n"));
  EXPECT_EQ(err,
            "kw.yaml:5:10: upstream.token: secrets never sit in the config file; use token_env or "
            "token_file");
  EXPECT_EQ(err.find("supersecret"), std::string::npos);
  EXPECT_EQ(loadError(minimalConfig("admin:\n  token: verysecretadmintoken\n")),
            "kw.yaml:7:10: admin.token: secrets never sit in the config file; use token_env or "
            "token_file");
  EXPECT_EQ(loadError(minimalConfig(
                "signing:\n  keys:\n    - id: k\n      alg: HS256\n      secret: abc\n")),
            "kw.yaml:10:15: signing.keys[0].secret: secrets never sit in the config file; use "
            "secret_env or secret_file");
}

TEST(SecretsTest, OnlyOneForm) {
  EXPECT_EQ(loadError(withUpstream("  url: https://x.io\n  token_env: T\n  token_file: t\n"),
                      fakeEnv({{"T", "x"}})),
            "kw.yaml:6:15: upstream.token: set only one of token, token_env, token_file");
}

TEST(SecretsTest, FromFileTrimsTrailingNewline) {
  TempDir dir;
  dir.write("secrets/upstream-token", "tok-from-file\n");
  dir.write("url", "https://file.upstash.io\r\n");
  auto r = load(withUpstream("  url_file: url\n  token_file: secrets/upstream-token\n"),
                fakeEnv({}), dir.path());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->upstream.token, "tok-from-file");
  EXPECT_EQ(r->upstream.host, "file.upstash.io");
}

TEST(SecretsTest, MissingAndEmptyFiles) {
  TempDir dir;
  dir.write("empty", "\n");
  const std::string missing =
      loadError(withUpstream("  url: https://x.io\n  token_file: nope\n"), fakeEnv({}), dir.path());
  EXPECT_EQ(missing, "kw.yaml:5:15: upstream.token_file: cannot read " + dir.path() +
                         "/nope: No such file or directory");
  EXPECT_EQ(loadError(withUpstream("  url: https://x.io\n  token_file: empty\n"), fakeEnv({}),
                      dir.path()),
            "kw.yaml:5:15: upstream.token: the secret is empty");
}

TEST(SecretsTest, SecretFileSizeIsBounded) {
  TempDir dir;
  dir.write("big", std::string(kMaxSecretFileBytes + 1, 'a'));
  const std::string err =
      loadError(withUpstream("  url: https://x.io\n  token_file: big\n"), fakeEnv({}), dir.path());
  EXPECT_NE(err.find("larger than 65536 bytes"), std::string::npos) << err;
}

TEST(SecretsTest, UpstreamUrlRequired) {
  EXPECT_EQ(loadError(withUpstream("  token_env: T\n"), fakeEnv({{"T", "x"}})),
            "kw.yaml:4:3: upstream: missing required key \"url\" (or url_env / url_file)");
}

TEST(SecretsTest, RestUpstreamNeedsToken) {
  EXPECT_EQ(loadError(withUpstream("  url: https://x.io\n")),
            "kw.yaml:4:3: upstream: missing required key \"token_env\" (or token_file): the REST "
            "API needs a token");
}

TEST(SecretsTest, RestTokenMustBeHeaderSafe) {
  EXPECT_EQ(loadError(withUpstream("  url: https://x.io\n  token_env: T\n"),
                      fakeEnv({{"T", "a b\r\nX-Evil: 1"}})),
            "kw.yaml:5:14: upstream.token: the upstream token must be visible ASCII characters (no "
            "spaces), at most 4096");
}

TEST(SecretsTest, RedisUpstreamWithoutAuthAndWithPassword) {
  auto plain = load(withUpstream("  url: redis://127.0.0.1:6390/2\n"));
  ASSERT_TRUE(plain.has_value()) << plain.error().message;
  EXPECT_EQ(plain->upstream.kind, UpstreamKind::Redis);
  EXPECT_EQ(plain->upstream.token, "");
  EXPECT_EQ(plain->upstream.db, 2u);
  auto pw = load(withUpstream("  url: redis://127.0.0.1:6390\n  token_env: P\n"),
                 fakeEnv({{"P", "redis pass with spaces"}}));
  ASSERT_TRUE(pw.has_value()) << pw.error().message;
  EXPECT_EQ(pw->upstream.token, "redis pass with spaces");
  auto in_url = load(withUpstream("  url_env: U\n"), fakeEnv({{"U", "rediss://:pw1@r.io:6380"}}));
  ASSERT_TRUE(in_url.has_value()) << in_url.error().message;
  EXPECT_EQ(in_url->upstream.token, "pw1");
  EXPECT_EQ(loadError(withUpstream("  url_env: U\n  token_env: P\n"),
                      fakeEnv({{"U", "redis://:pw1@r.io"}, {"P", "pw2"}})),
            "kw.yaml:5:14: upstream.token: the upstream URL already carries a password; keep only "
            "one of them");
}

TEST(SecretsTest, BadUpstreamUrlIsNotEchoed) {
  const std::string err =
      loadError(withUpstream("  url_env: U\n"), fakeEnv({{"U", "redis://:hunter2@host:notaport"}}));
  EXPECT_EQ(err, "kw.yaml:4:12: upstream.url: upstream URL has a bad port (1-65535)");
  EXPECT_EQ(err.find("hunter2"), std::string::npos);
}

TEST(SecretsTest, UpstreamTuning) {
  auto r = load(withUpstream("  url: http://127.0.0.1:8079\n  token_env: T\n  timeout: 250ms\n"
                             "  connections: 64\n  ca_file: ca.pem\n"),
                fakeEnv({{"T", "t"}}), "/k");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->upstream.kind, UpstreamKind::RestHttp);
  EXPECT_EQ(r->upstream.timeout.count(), 250);
  EXPECT_EQ(r->upstream.connections, 64u);
  EXPECT_EQ(r->upstream.ca_file, "/k/ca.pem");
  EXPECT_EQ(loadError(withUpstream("  url: http://a\n  token_env: T\n  connections: 5000\n"),
                      fakeEnv({{"T", "t"}})),
            "kw.yaml:6:16: upstream.connections: 5000 is out of range 1..1024");
}

TEST(SecretsTest, AdminTokenRules) {
  auto ok =
      load(minimalConfig("admin:\n  address: \"[::1]:9999\"\n  token_env: KEYWARD_ADMIN_TOKEN\n"));
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->admin.address.host, "::1");
  EXPECT_EQ(ok->admin.token, "admin-token-0123456789abcdef");
  EXPECT_EQ(loadError(minimalConfig("admin:\n  token_env: A\n"),
                      fakeEnv({{"UPSTASH_REDIS_REST_URL", "https://a.io"},
                               {"UPSTASH_REDIS_REST_TOKEN", "t"},
                               {"A", "short"}})),
            "kw.yaml:7:14: admin.token: the admin token must be 16-4096 visible ASCII characters "
            "(no spaces)");
}

std::string signing(const std::string& keys_body, const std::string& more = "") {
  return minimalConfig("signing:\n" + more + "  keys:\n" + keys_body);
}

TEST(SigningTest, KeysAndRules) {
  TempDir dir;
  dir.write("hs.key", std::string(40, 's') + "\n");
  auto r = load(signing("    - id: a\n      alg: EdDSA\n      public_key_file: keys/a.pub\n"
                        "    - id: b\n      alg: HS256\n      secret_file: hs.key\n",
                        "  issuer: https://auth.example.com\n  audience: \"\"\n  max_ttl: 1h\n"
                        "  leeway: 0s\n  revoked_file: revoked.txt\n"),
                defaultEnv(), dir.path());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->signing.issuer, "https://auth.example.com");
  EXPECT_EQ(r->signing.audience, "");
  EXPECT_EQ(r->signing.max_ttl.count(), 3600000);
  EXPECT_EQ(r->signing.leeway.count(), 0);
  EXPECT_EQ(r->signing.revoked_file, dir.path() + "/revoked.txt");
  EXPECT_EQ(r->signing.keys[0].public_key_file, dir.path() + "/keys/a.pub");
  EXPECT_EQ(r->signing.keys[1].secret, std::string(40, 's'));
}

TEST(SigningTest, KeyErrors) {
  EXPECT_EQ(loadError(signing("    - id: a\n      alg: RS256\n      public_key_file: p\n")),
            "kw.yaml:9:12: signing.keys[0].alg: expected EdDSA or HS256, got \"RS256\"");
  EXPECT_EQ(
      loadError(signing("    - id: a\n      alg: EdDSA\n")),
      "kw.yaml:8:7: signing.keys[0]: an EdDSA key needs public_key_file (or private_key_file)");
  EXPECT_EQ(loadError(signing("    - id: a\n      alg: HS256\n      public_key_file: p\n")),
            "kw.yaml:10:24: signing.keys[0]: an HS256 key takes secret_env or secret_file, not key "
            "files");
  EXPECT_EQ(loadError(signing("    - id: a\n      alg: HS256\n")),
            "kw.yaml:8:7: signing.keys[0]: an HS256 key needs secret_env or secret_file");
  EXPECT_EQ(
      loadError(signing("    - id: a\n      alg: HS256\n      secret_env: KEYWARD_ADMIN_TOKEN\n")),
      "kw.yaml:10:19: signing.keys[0].secret: an HS256 secret must be at least 32 bytes");
  EXPECT_EQ(loadError(signing("    - id: a\n      alg: EdDSA\n      public_key_file: p\n"
                              "    - id: a\n      alg: EdDSA\n      public_key_file: q\n")),
            "kw.yaml:11:7: signing.keys[1]: duplicate key id \"a\"");
  EXPECT_EQ(loadError(signing("    - alg: EdDSA\n      public_key_file: p\n")),
            "kw.yaml:8:7: signing.keys[0]: missing required key \"id\"");
  EXPECT_EQ(loadError(minimalConfig("signing:\n  max_ttl: 500ms\n")),
            "kw.yaml:7:12: signing.max_ttl: must be at least 1000ms");
}

TEST(LoadFileTest, ResolvesAgainstTheFilesDirectory) {
  TempDir dir;
  const std::string path =
      dir.write("etc/kw.yaml",
                "listen:\n  address: \":1\"\n  tls:\n    cert_file: c.crt\n    key_file: k.key\n"
                "upstream:\n  url: http://127.0.0.1:1\n  token_file: ../token\n" +
                    std::string(kClients));
  dir.write("token", "file-token");
  auto r = loadConfigFile(path, fakeEnv({}));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->source, path);
  EXPECT_EQ(r->listen.tls->cert_file, dir.path() + "/etc/c.crt");
  EXPECT_EQ(r->upstream.token, "file-token");
}

TEST(LoadFileTest, MissingFile) {
  auto r = loadConfigFile("/nonexistent/kw.yaml", fakeEnv({}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Config);
  EXPECT_EQ(r.error().message,
            "/nonexistent/kw.yaml:1:1: cannot read the config file: No such file or directory");
}

TEST(LoadFileTest, ErrorsNameTheFile) {
  TempDir dir;
  const std::string path = dir.write("bad.yaml", "listen:\n  adress: x\n");
  auto r = loadConfigFile(path, fakeEnv({}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message.rfind(path + ":1:1: missing required key \"upstream\"", 0), 0u);
  EXPECT_NE(r.error().message.find(path + ":2:3: listen: unknown key \"adress\""),
            std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace kw::conf

namespace kw::conf {
namespace {

TEST(SecretsTest, LiteralUrlsMayNotCarryPasswords) {
  const std::string err = testing::loadError(
      "listen:\n  address: \":1\"\nupstream:\n  url: redis://:hunter2@r:6379\nclients:\n"
      "  - name: a\n");
  EXPECT_EQ(err,
            "kw.yaml:4:8: upstream.url: the URL carries a password, and secrets never sit in the "
            "config file; use url_env or url_file, or token_env / token_file for the password");
  EXPECT_EQ(err.find("hunter2"), std::string::npos);
  EXPECT_EQ(testing::loadError(testing::minimalConfig("quota:\n  store_url: redis://:pw@q\n")),
            "kw.yaml:7:14: quota.store_url: the URL carries a password, and secrets never sit in "
            "the config file; use store_url_env or store_url_file");
  auto user_only = testing::load(
      "listen:\n  address: \":1\"\nupstream:\n  url: redis://app@r:6379\n  token_env: P\n"
      "clients:\n  - name: a\n",
      testing::fakeEnv({{"P", "pw"}}));
  ASSERT_TRUE(user_only.has_value()) << user_only.error().message;
  EXPECT_EQ(user_only->upstream.username, "app");
  EXPECT_EQ(user_only->upstream.token, "pw");
}

}  // namespace
}  // namespace kw::conf
