// The real keyward binary's stdout/stderr never carry a token, the upstream password, a value or a
// key name, and every request leaves exactly one access record with its status (README, Operating
// it).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "tests/proxy/binary_test_support.h"

namespace {

namespace fs = std::filesystem;
using namespace kw::testing;  // NOLINT(google-build-using-namespace)

TEST(LogSecrets, AccessRecordsCarryNoTokenPasswordValueOrKeyName) {
  std::string keyward = std::string(KW_BINARY_DIR) + "/proxy/keyward";
  ASSERT_TRUE(fs::exists(keyward)) << "build the keyward target first: " << keyward;
  char tmpl[] = "/tmp/kw-logsecrets-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;

  const std::string password = "upstream-pass-7f3a9c2e51d84b06";
  int redis_port = freePort();
  {
    std::ofstream rc(dir + "/redis.conf");
    rc << "bind 127.0.0.1\nport " << redis_port << "\nsave \"\"\nappendonly no\nrequirepass "
       << password << "\n";
  }
  Child redis;
  redis.spawn({"redis-server", dir + "/redis.conf"}, {});
  ASSERT_GT(redis.pid, 0);

  // A key from `keyward token new` (first line key, second line its sha256: reference).
  Child gen;
  gen.spawn({keyward, "token", "new", "--client", "app"}, {});
  std::smatch km;
  ASSERT_TRUE(gen.waitFor(std::regex("(kw_[A-Za-z0-9_-]{43})\n(sha256:[0-9a-f]{64})\n"), km,
                          std::chrono::seconds(20)))
      << gen.out_text << gen.err_text;
  const std::string key = km[1].str();
  const std::string ref = km[2].str();

  {
    std::ofstream cfg(dir + "/kw.yaml");
    cfg << "listen:\n  address: \"127.0.0.1:0\"\n  allow_query_token: true\n"
        << "admin:\n  address: \"127.0.0.1:" << freePort() << "\"\n"
        << "upstream:\n  url: \"redis://127.0.0.1:" << redis_port << "\"\n"
        << "  token_env: KW_LOGTEST_UPSTREAM_TOKEN\n  timeout: 5s\n"
        << "clients:\n  - name: app\n    api_keys: [\"" << ref << "\"]\n"
        << "    commands: [\"+@read\", \"+@write\"]\n    keys: [\"secretkey:*\"]\n";
  }
  Child kw;
  kw.spawn({keyward, "serve", "--config", dir + "/kw.yaml"},
           {"KW_LOGTEST_UPSTREAM_TOKEN=" + password});
  std::smatch lm;
  const std::regex listening_re(
      R"re(\{[^\n]*"event":"listening","address":"127\.0\.0\.1:(\d+)")re");
  ASSERT_TRUE(kw.waitFor(listening_re, lm, std::chrono::seconds(20))) << kw.out_text << kw.err_text;
  int port = std::stoi(lm[1].str());

  const std::string wrong = "kw_WRONGWRONGWRONGWRONGWRONGWRONGWRONGWRONGWRO";
  std::vector<int> expected;
  auto check = [&](const std::string& resp, int status) {
    EXPECT_EQ(statusOf(resp), status) << resp;
    expected.push_back(status);
  };
  check(post(port, "/", key, R"(["set","secretkey:AAA","VALUE-BBB"])"), 200);
  check(roundTrip(port, "GET /get/secretkey:AAA?_token=" + key +
                            " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        200);
  check(post(port, "/", wrong, R"(["get","secretkey:AAA"])"), 401);
  check(
      post(port, "/pipeline", key, R"([["get","secretkey:AAA"],["set","other:CCC","VALUE-DDD"]])"),
      200);
  check(post(port, "/", key, R"(["set","other:CCC","VALUE-DDD"])"), 403);
  check(post(port, "/", key, R"x(["set","secretkey:EEE", "VALUE-FFF")x"), 400);  // bad JSON
  check(post(port, "/multi-exec", key, R"([["set","secretkey:GGG","VALUE-HHH"],["get","x"]])"),
        403);

  int status = kw.stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  redis.stop();

  const std::string all = kw.out_text + "\n" + kw.err_text;
  for (const std::string& secret :
       {key, ref.substr(7), wrong, password, std::string("secretkey:AAA"), std::string("VALUE-BBB"),
        std::string("other:CCC"), std::string("VALUE-DDD"), std::string("secretkey:EEE"),
        std::string("VALUE-FFF"), std::string("secretkey:GGG"), std::string("VALUE-HHH")}) {
    EXPECT_EQ(all.find(secret), std::string::npos) << "log holds '" << secret << "':\n" << all;
  }
  // One access record per request, in order, each with its status; every line is one object.
  std::vector<int> logged;
  std::regex status_re(R"("status":(\d+))");
  size_t pos = 0;
  while (pos < kw.out_text.size()) {
    size_t nl = kw.out_text.find('\n', pos);
    if (nl == std::string::npos) nl = kw.out_text.size();
    std::string line = kw.out_text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    EXPECT_EQ(line.front(), '{') << line;
    EXPECT_EQ(line.back(), '}') << line;
    if (line.find("\"event\":\"access\"") == std::string::npos) continue;
    std::smatch sm;
    ASSERT_TRUE(std::regex_search(line, sm, status_re)) << line;
    logged.push_back(std::stoi(sm[1].str()));
    EXPECT_NE(line.find("\"time\":\""), std::string::npos) << line;
  }
  EXPECT_EQ(logged, expected) << kw.out_text;
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
