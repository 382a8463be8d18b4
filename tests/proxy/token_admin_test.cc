// mintTokenRequest / revokeTokenRequest: request validation, signed output, atomic file append.
#include "proxy/admin/token_admin.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>

#include "conf/loader.h"
#include "policy/credentials.h"
#include "policy/jwt.h"

namespace kw::proxy {
namespace {

constexpr int64_t kNow = 1'800'000'000;

class TokenAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kw-tokadmin-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    snapshot_ = load("  revoked_file: revoked.txt\n");
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  conf::SnapshotConstSharedPtr load(const std::string& signing_extra) {
    const std::string yaml =
        "listen:\n  address: 127.0.0.1:0\nupstream:\n  url: redis://127.0.0.1:6379\n"
        "clients:\n  - name: tenant\n    commands: [\"+get\"]\n    keys: [\"sess:{sub}:*\"]\n"
        "signing:\n  max_ttl: 1h\n" +
        signing_extra + "  keys:\n    - id: hs\n      alg: HS256\n      secret_env: KW_TA_HS\n";
    auto cfg = conf::loadConfigText(yaml, "<test>", dir_, [](std::string_view name) {
      return name == "KW_TA_HS" ? std::optional<std::string>(std::string(48, 'q'))
                                : std::optional<std::string>();
    });
    EXPECT_TRUE(cfg) << cfg.error().message;
    if (!cfg) return nullptr;
    auto snap = conf::buildSnapshot(std::move(*cfg));
    EXPECT_TRUE(snap) << snap.error().message;
    return snap ? *snap : nullptr;
  }
  std::string readRevoked() {
    std::ifstream in(dir_ + "/revoked.txt");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
  conf::SnapshotConstSharedPtr snapshot_;
};

TEST_F(TokenAdminTest, MintsAVerifiableTokenWithTtlAndRandomJti) {
  ASSERT_NE(snapshot_, nullptr);
  auto r = mintTokenRequest(*snapshot_, R"({"client":"tenant","sub":"u1","ttl":"5m"})", kNow);
  ASSERT_EQ(r.status, 200) << r.body;
  std::smatch m;
  ASSERT_TRUE(std::regex_match(
      r.body, m, std::regex(R"re(\{"token":"([^"]+)","expires_at":(\d+),"jti":"([^"]+)"\})re")))
      << r.body;
  EXPECT_EQ(std::stoll(m[2].str()), kNow + 300);
  auto claims = policy::verifyJwt(m[1].str(), snapshot_->jwtKeys(), snapshot_->jwtRules(), kNow);
  ASSERT_TRUE(claims) << claims.error().message;
  EXPECT_EQ(claims->client, "tenant");
  EXPECT_EQ(claims->sub, "u1");
  EXPECT_EQ(claims->jti, m[3].str());
  EXPECT_EQ(claims->exp, kNow + 300);
  // Default ttl 15m; two mints have different jti values.
  auto d = mintTokenRequest(*snapshot_, R"({"client":"tenant"})", kNow);
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_NE(d.body.find("\"expires_at\":" + std::to_string(kNow + 900)), std::string::npos);
  EXPECT_EQ(d.body.find(m[3].str()), std::string::npos);
}

TEST_F(TokenAdminTest, RefusesBadMintRequests) {
  ASSERT_NE(snapshot_, nullptr);
  for (const char* body :
       {"", "[]", "not json", R"({"sub":"u1"})", R"({"client":"nobody"})", R"({"client":7})",
        R"({"client":"tenant","ttl":"2h"})", R"({"client":"tenant","ttl":"0s"})",
        R"({"client":"tenant","ttl":"soon"})", R"({"client":"tenant","sub":"a b"})"}) {
    auto r = mintTokenRequest(*snapshot_, body, kNow);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
    EXPECT_EQ(r.body.find("token\":"), std::string::npos) << r.body;
  }
}

TEST_F(TokenAdminTest, RevokeAppendsToTheFileKeepingItsLines) {
  ASSERT_NE(snapshot_, nullptr);
  auto r = revokeTokenRequest(*snapshot_, R"({"jti":"j-1"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(readRevoked(), "j-1\n");
  std::ofstream(dir_ + "/revoked.txt", std::ios::app) << "# note without newline";
  r = revokeTokenRequest(*snapshot_, R"({"jti":"j-2"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(readRevoked(), "j-1\n# note without newline\nj-2\n");
  auto list = conf::loadRevokedFile(dir_ + "/revoked.txt");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 2U);
  EXPECT_TRUE(list->count("j-2"));
  // No temp file left behind.
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1U);
}

TEST_F(TokenAdminTest, RefusesBadRevokeRequests) {
  ASSERT_NE(snapshot_, nullptr);
  for (const char* body : {"", R"({})", R"({"jti":""})", R"({"jti":"a b"})", R"({"jti":"#x"})",
                           R"({"jti":1})", R"({"jti":"a\nb"})"}) {
    EXPECT_EQ(revokeTokenRequest(*snapshot_, body).status, 400) << body;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/revoked.txt"));
  auto no_file = load("");
  ASSERT_NE(no_file, nullptr);
  EXPECT_EQ(revokeTokenRequest(*no_file, R"({"jti":"j"})").status, 400);
  EXPECT_TRUE(policy::isSafeJti("550e8400-e29b-41d4-a716-446655440000"));
  EXPECT_TRUE(policy::isSafeJti(std::string(128, 'a')));
  EXPECT_FALSE(policy::isSafeJti(std::string(129, 'a')));
  for (const char* j : {"#abc", " abc", "abc ", "a/b", "a\tb", "", "a\"b"}) {
    EXPECT_FALSE(policy::isSafeJti(j)) << j;
    EXPECT_EQ(revokeTokenRequest(*snapshot_, std::string(R"({"jti":)") + "\"" + j + "\"}").status,
              400)
        << j;
  }
}

}  // namespace
}  // namespace kw::proxy
