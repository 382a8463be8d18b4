// The real keyward binary: `keyward token mint` tokens bind `{sub}` templates end to end against a
// real redis-server; expired, revoked and garbage tokens get 401 WRONGPASS (README, Command line;
// Credentials).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/proxy/binary_test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace kw::testing;  // NOLINT(google-build-using-namespace)

std::string privatePem() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* p = nullptr;
  const long n = BIO_get_mem_data(b, &p);
  std::string out(p, static_cast<size_t>(n));
  BIO_free(b);
  EVP_PKEY_free(k);
  return out;
}

// Runs `keyward token mint ...`; the exit status and stdout.
std::pair<int, std::string> mint(const std::string& keyward, const std::string& config,
                                 const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {keyward, "token", "mint", "--config", config};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Child c;
  c.spawn(argv, {});
  int status = c.waitExit(std::chrono::seconds(30));
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return {code, c.out_text};
}

TEST(JwtBinary, MintedTokensBindSubAndBadTokensGet401) {
  std::string keyward = std::string(KW_BINARY_DIR) + "/proxy/keyward";
  ASSERT_TRUE(fs::exists(keyward)) << "build the keyward target first: " << keyward;
  char tmpl[] = "/tmp/kw-jwtbin-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;

  int redis_port = freePort();
  {
    std::ofstream rc(dir + "/redis.conf");
    rc << "bind 127.0.0.1\nport " << redis_port << "\nsave \"\"\nappendonly no\n";
  }
  Child redis;
  redis.spawn({"redis-server", dir + "/redis.conf"}, {});
  ASSERT_GT(redis.pid, 0);

  std::ofstream(dir + "/sign.pem") << privatePem();
  std::ofstream(dir + "/revoked.txt") << "# revoked jti values\njti-revoked\n";
  {
    std::ofstream cfg(dir + "/kw.yaml");
    cfg << "listen:\n  address: \"127.0.0.1:0\"\n"
        << "admin:\n  address: \"127.0.0.1:" << freePort() << "\"\n"
        << "upstream:\n  url: \"redis://127.0.0.1:" << redis_port << "\"\n  timeout: 5s\n"
        << "clients:\n  - name: tenant\n    commands: [\"+get\", \"+set\"]\n"
        << "    keys: [\"sess:{sub}:*\"]\n"
        << "signing:\n  max_ttl: 1h\n  leeway: 0s\n  revoked_file: revoked.txt\n"
        << "  keys:\n    - id: k1\n      alg: EdDSA\n      private_key_file: sign.pem\n";
  }
  const std::string config = dir + "/kw.yaml";

  auto [rc1, out1] = mint(keyward, config, {"--client", "tenant", "--sub", "u1"});
  ASSERT_EQ(rc1, 0) << out1;
  const std::regex jwt_re(R"(^([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\n$)");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(out1, m, jwt_re)) << out1;
  const std::string token_u1 = m[1].str();
  auto [rc2, out2] = mint(keyward, config, {"--client", "tenant", "--sub", "u2", "--ttl", "10m"});
  ASSERT_EQ(rc2, 0);
  ASSERT_TRUE(std::regex_match(out2, m, jwt_re)) << out2;
  const std::string token_u2 = m[1].str();
  auto [rc4, out4] =
      mint(keyward, config, {"--client", "tenant", "--sub", "u1", "--jti", "jti-revoked"});
  ASSERT_EQ(rc4, 0);
  ASSERT_TRUE(std::regex_match(out4, m, jwt_re)) << out4;
  const std::string token_revoked = m[1].str();
  // Refusals: ttl above signing.max_ttl, unknown client; nothing on stdout.
  auto [rc5, out5] = mint(keyward, config, {"--client", "tenant", "--ttl", "2h"});
  EXPECT_NE(rc5, 0);
  EXPECT_EQ(out5, "");
  auto [rc6, out6] = mint(keyward, config, {"--client", "nobody"});
  EXPECT_NE(rc6, 0);
  EXPECT_EQ(out6, "");

  Child kw;
  kw.spawn({keyward, "serve", "--config", config}, {});
  std::smatch lm;
  const std::regex listening_re(
      R"re(\{[^\n]*"event":"listening","address":"127\.0\.0\.1:(\d+)")re");
  ASSERT_TRUE(kw.waitFor(listening_re, lm, std::chrono::seconds(20))) << kw.out_text << kw.err_text;
  int port = std::stoi(lm[1].str());

  std::string r = post(port, "/", token_u1, R"(["set","sess:u1:cart","apple"])");
  EXPECT_EQ(statusOf(r), 200) << r;
  r = post(port, "/", token_u1, R"(["get","sess:u1:cart"])");
  EXPECT_EQ(statusOf(r), 200) << r;
  EXPECT_NE(r.find("\"result\":\"apple\""), std::string::npos) << r;
  // Another sub's keys: 403 NOPERM, and the value stays unread.
  r = post(port, "/", token_u2, R"(["get","sess:u1:cart"])");
  EXPECT_EQ(statusOf(r), 403) << r;
  EXPECT_NE(r.find("NOPERM"), std::string::npos) << r;
  EXPECT_EQ(r.find("apple"), std::string::npos) << r;
  r = post(port, "/", token_u1, R"(["set","sess:u2:cart","pear"])");
  EXPECT_EQ(statusOf(r), 403) << r;
  r = post(port, "/", token_u2, R"(["set","sess:u2:cart","pear"])");
  EXPECT_EQ(statusOf(r), 200) << r;
  // Path-style route with the token too.
  r = roundTrip(port, "GET /get/sess:u2:cart HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                          token_u2 + "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(statusOf(r), 200) << r;
  EXPECT_NE(r.find("pear"), std::string::npos) << r;

  // Revoked jti, garbage, a tampered signature, no token: 401 WRONGPASS.
  std::string tampered = token_u1;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  for (const std::string& bad :
       {token_revoked, std::string("garbage"), std::string("a.b.c"), tampered, std::string()}) {
    r = post(port, "/", bad, R"(["get","sess:u1:cart"])");
    EXPECT_EQ(statusOf(r), 401) << bad << "\n" << r;
    EXPECT_NE(r.find("WRONGPASS"), std::string::npos) << r;
  }
  // A 3 s token works, then expires (leeway 0s). Minted now so that startup time does not count.
  const auto minted_at = std::chrono::system_clock::now();
  auto [rc3, out3] = mint(keyward, config, {"--client", "tenant", "--sub", "u1", "--ttl", "3s"});
  ASSERT_EQ(rc3, 0);
  ASSERT_TRUE(std::regex_match(out3, m, jwt_re)) << out3;
  const std::string token_short = m[1].str();
  r = post(port, "/", token_short, R"(["get","sess:u1:cart"])");
  EXPECT_EQ(statusOf(r), 200) << r;
  std::this_thread::sleep_until(minted_at + std::chrono::milliseconds(4500));
  r = post(port, "/", token_short, R"(["get","sess:u1:cart"])");
  EXPECT_EQ(statusOf(r), 401) << r;
  EXPECT_NE(r.find("WRONGPASS"), std::string::npos) << r;

  int status = kw.stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  redis.stop();
  // Tokens never reach the logs.
  const std::string all = kw.out_text + "\n" + kw.err_text;
  for (const std::string& t : {token_u1, token_u2, token_revoked}) {
    EXPECT_EQ(all.find(t.substr(t.rfind('.'))), std::string::npos) << all;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// The admin listener mints tokens (POST /v1/tokens) and revokes them (POST /v1/tokens/revoke):
// the revocation takes effect at once and lands in signing.revoked_file.
TEST(JwtBinary, AdminMintsAndRevokesTokens) {
  std::string keyward = std::string(KW_BINARY_DIR) + "/proxy/keyward";
  ASSERT_TRUE(fs::exists(keyward)) << "build the keyward target first: " << keyward;
  char tmpl[] = "/tmp/kw-jwtadmin-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  int redis_port = freePort();
  {
    std::ofstream rc(dir + "/redis.conf");
    rc << "bind 127.0.0.1\nport " << redis_port << "\nsave \"\"\nappendonly no\n";
  }
  Child redis;
  redis.spawn({"redis-server", dir + "/redis.conf"}, {});
  ASSERT_GT(redis.pid, 0);
  std::ofstream(dir + "/sign.pem") << privatePem();
  const std::string admin_token = "admin-token-5c1e9a7b3d";
  int admin_port = freePort();
  {
    std::ofstream cfg(dir + "/kw.yaml");
    cfg << "listen:\n  address: \"127.0.0.1:0\"\n"
        << "admin:\n  address: \"127.0.0.1:" << admin_port << "\"\n"
        << "  token_env: KW_JWTADMIN_TOKEN\n"
        << "upstream:\n  url: \"redis://127.0.0.1:" << redis_port << "\"\n  timeout: 5s\n"
        << "clients:\n  - name: tenant\n    commands: [\"+get\", \"+set\"]\n"
        << "    keys: [\"sess:{sub}:*\"]\n"
        << "signing:\n  max_ttl: 1h\n  revoked_file: revoked.txt\n"
        << "  keys:\n    - id: k1\n      alg: EdDSA\n      private_key_file: sign.pem\n";
  }
  Child kw;
  kw.spawn({keyward, "serve", "--config", dir + "/kw.yaml"}, {"KW_JWTADMIN_TOKEN=" + admin_token});
  std::smatch lm;
  const std::regex listening_re(
      R"re(\{[^\n]*"event":"listening","address":"127\.0\.0\.1:(\d+)")re");
  ASSERT_TRUE(kw.waitFor(listening_re, lm, std::chrono::seconds(20))) << kw.out_text << kw.err_text;
  int port = std::stoi(lm[1].str());
  const std::regex admin_re(
      "\"listener\":\"admin\",\"address\":\"127\\.0\\.0\\.1:" + std::to_string(admin_port) + "\"");
  ASSERT_TRUE(kw.waitFor(admin_re, lm, std::chrono::seconds(20))) << kw.out_text << kw.err_text;

  // Without the admin token: 401; bad requests: 400.
  std::string r = post(admin_port, "/v1/tokens", "", R"({"client":"tenant","sub":"u9"})");
  EXPECT_EQ(statusOf(r), 401) << r;
  EXPECT_EQ(statusOf(post(admin_port, "/v1/tokens", admin_token, R"({"client":"nobody"})")), 400);
  EXPECT_EQ(
      statusOf(post(admin_port, "/v1/tokens", admin_token, R"({"client":"tenant","ttl":"2h"})")),
      400);
  EXPECT_EQ(statusOf(post(admin_port, "/v1/tokens", admin_token, "not json")), 400);

  r = post(admin_port, "/v1/tokens", admin_token, R"({"client":"tenant","sub":"u9","ttl":"5m"})");
  ASSERT_EQ(statusOf(r), 200) << r;
  std::smatch tm;
  ASSERT_TRUE(std::regex_search(
      r, tm, std::regex(R"re("token":"([A-Za-z0-9_.-]+)","expires_at":(\d+),"jti":"([^"]+)")re")))
      << r;
  const std::string token = tm[1].str();
  const std::string jti = tm[3].str();
  const int64_t exp = std::stoll(tm[2].str());
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  EXPECT_GE(exp, now + 290);
  EXPECT_LE(exp, now + 310);

  r = post(port, "/", token, R"(["set","sess:u9:k","v"])");
  EXPECT_EQ(statusOf(r), 200) << r;
  r = post(port, "/", token, R"(["set","sess:u8:k","v"])");
  EXPECT_EQ(statusOf(r), 403) << r;

  EXPECT_EQ(statusOf(post(admin_port, "/v1/tokens/revoke", admin_token, R"({"jti":""})")), 400);
  r = post(admin_port, "/v1/tokens/revoke", admin_token, "{\"jti\":\"" + jti + "\"}");
  EXPECT_EQ(statusOf(r), 200) << r;
  r = post(port, "/", token, R"(["get","sess:u9:k"])");
  EXPECT_EQ(statusOf(r), 401) << r;
  EXPECT_NE(r.find("WRONGPASS"), std::string::npos) << r;
  {
    std::ifstream in(dir + "/revoked.txt");
    std::string line, all;
    while (std::getline(in, line)) all += line + "\n";
    EXPECT_EQ(all, jti + "\n");
  }
  // The revocation survives a reload (it is in the file).
  r = post(admin_port, "/v1/reload", admin_token, "");
  EXPECT_EQ(statusOf(r), 200) << r;
  EXPECT_EQ(statusOf(post(port, "/", token, R"(["get","sess:u9:k"])")), 401);

  int status = kw.stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  redis.stop();
  const std::string all = kw.out_text + "\n" + kw.err_text;
  EXPECT_EQ(all.find(token.substr(token.rfind('.'))), std::string::npos) << all;
  EXPECT_EQ(all.find(admin_token), std::string::npos) << all;
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
