// The TLS listener of the real binary: protocol floor (1.2 / 1.3), ALPN http/1.1, a verified
// certificate, and requests over TLS (openssl s_client and curl as independent clients).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/proxy/binary_test_support.h"

namespace {

using namespace kw::testing;  // NOLINT(google-build-using-namespace)

constexpr const char* kClients =
    "  - name: app\n"
    "    api_keys: [\"@REF@\"]\n"
    "    commands: [\"+@read\", \"+@write\"]\n"
    "    keys: [\"app:*\"]\n";

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// A CA and a localhost/127.0.0.1 server certificate in `dir` (EC P-256).
void makeCerts(const std::string& dir) {
  std::string d = "'" + dir + "'";
  run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=test-ca -addext basicConstraints=critical,CA:TRUE -keyout " +
      d + "/ca.key -out " + d + "/ca.crt");
  run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost "
      "-keyout " +
      d + "/server.key -out " + d + "/server.csr");
  run("printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > " + d + "/ext");
  run("openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.crt -CAkey " + d +
      "/ca.key -CAcreateserial -days 2 -extfile " + d + "/ext -out " + d + "/server.crt");
}

class TlsListener : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kw-tls-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    certs_ = tmpl;
    makeCerts(certs_);
    ASSERT_TRUE(std::filesystem::exists(certs_ + "/server.crt"));
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(certs_, ec);
  }
  std::string tlsBlock(const char* min_version) const {
    return "  tls:\n    cert_file: " + certs_ + "/server.crt\n    key_file: " + certs_ +
           "/server.key\n    min_version: \"" + min_version + "\"\n";
  }
  std::string sClient(int port, const std::string& flags) const {
    return run("echo | timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
               " -CAfile '" + certs_ + "/ca.crt' " + flags);
  }
  std::string certs_;
};

TEST_F(TlsListener, Tls12FloorAlpnAndVerifiedRequests) {
  Stack s;
  ASSERT_TRUE(s.start(kClients, tlsBlock("1.2"))) << s.kw.out_text << s.kw.err_text;
  EXPECT_NE(s.kw.out_text.find("\"tls\":true"), std::string::npos) << s.kw.out_text;

  std::string v13 = sClient(s.port, "-tls1_3 -alpn http/1.1");
  EXPECT_NE(v13.find("New, TLSv1.3,"), std::string::npos) << v13;
  EXPECT_NE(v13.find("ALPN protocol: http/1.1"), std::string::npos) << v13;
  EXPECT_NE(v13.find("Verify return code: 0 (ok)"), std::string::npos) << v13;
  std::string v12 = sClient(s.port, "-tls1_2");
  EXPECT_NE(v12.find("New, TLSv1.2,"), std::string::npos) << v12;
  EXPECT_NE(v12.find("ECDHE"), std::string::npos) << v12;  // forward secrecy
  std::string v11 = sClient(s.port, "-tls1_1 -cipher DEFAULT@SECLEVEL=0");
  EXPECT_EQ(v11.find("New, TLSv1.1,"), std::string::npos) << v11;
  EXPECT_NE(v11.find("alert"), std::string::npos) << v11;

  std::string curl =
      run("curl -s -w ' %{http_code}' --cacert '" + certs_ + "/ca.crt' -H 'Authorization: Bearer " +
          s.key + "' https://localhost:" + std::to_string(s.port) + "/set/app:tls/v");
  EXPECT_EQ(curl, "{\"result\":\"OK\"} 200");
  EXPECT_EQ(s.redisCli("GET app:tls"), "v\n");
  // Plaintext HTTP to the TLS port is never answered as HTTP.
  std::string plain = roundTrip(s.port, "GET /get/app:tls HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(plain.rfind("HTTP/1.1 200", 0), std::string::npos) << plain;
}

TEST_F(TlsListener, MinVersion13RefusesTls12) {
  Stack s;
  ASSERT_TRUE(s.start(kClients, tlsBlock("1.3"))) << s.kw.out_text << s.kw.err_text;
  std::string v12 = sClient(s.port, "-tls1_2");
  EXPECT_EQ(v12.find("New, TLSv1.2,"), std::string::npos) << v12;
  EXPECT_NE(v12.find("alert"), std::string::npos) << v12;
  std::string v13 = sClient(s.port, "-tls1_3");
  EXPECT_NE(v13.find("New, TLSv1.3,"), std::string::npos) << v13;
}

TEST_F(TlsListener, ClientCaFileRequiresAVerifiedClientCertificate) {
  std::string d = "'" + certs_ + "'";
  run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=client "
      "-keyout " +
      d + "/client.key -out " + d + "/client.csr");
  run("printf 'extendedKeyUsage=clientAuth\\n' > " + d + "/cext");
  run("openssl x509 -req -in " + d + "/client.csr -CA " + d + "/ca.crt -CAkey " + d +
      "/ca.key -CAcreateserial -days 2 -extfile " + d + "/cext -out " + d + "/client.crt");
  ASSERT_TRUE(std::filesystem::exists(certs_ + "/client.crt"));
  Stack s;
  std::string block = tlsBlock("1.2") + "    client_ca_file: " + certs_ + "/ca.crt\n";
  ASSERT_TRUE(s.start(kClients, block)) << s.kw.out_text << s.kw.err_text;
  std::string base = "curl -s -w ' %{http_code}' --cacert " + d +
                     "/ca.crt -H 'Authorization: Bearer " + s.key +
                     "' https://localhost:" + std::to_string(s.port) + "/set/app:mtls/v";
  std::string without = run(base);
  EXPECT_EQ(without.find("200"), std::string::npos) << without;
  EXPECT_EQ(s.redisCli("EXISTS app:mtls"), "0\n");
  std::string with = run(base + " --cert " + d + "/client.crt --key " + d + "/client.key");
  EXPECT_EQ(with, "{\"result\":\"OK\"} 200");
}

}  // namespace
