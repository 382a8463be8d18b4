// Tests for checkConfigFile (`keyward check`): every error at once, named files, certificates,
// signing keys, client policies.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "conf/loader.h"
#include "conf_test_util.h"

namespace kw::conf {
namespace {

using testing::fakeEnv;
using testing::TempDir;

std::string pemKey(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

std::string pemCert(EVP_PKEY* key) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, key, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  X509_free(x);
  return out;
}

class CheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    EVP_PKEY* other = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    ASSERT_NE(key, nullptr);
    ASSERT_NE(other, nullptr);
    dir_.write("certs/server.crt", pemCert(key));
    dir_.write("certs/server.key", pemKey(key));
    dir_.write("certs/other.key", pemKey(other));
    dir_.write("certs/ca.crt", pemCert(other));
    dir_.write("keys/sign.pem", pemKey(key));
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
  }

  std::string writeConfig(const std::string& tls_body, const std::string& extra = "",
                          const std::string& clients = "  - name: a\n    commands: [\"+get\"]\n") {
    return dir_.write("kw.yaml", "listen:\n  address: \":1\"\n  tls:\n" + tls_body +
                                     "upstream:\n  url: redis://127.0.0.1:6379\n" + extra +
                                     "clients:\n" + clients);
  }

  std::vector<std::string> check(const std::string& path) {
    return checkConfigFile(path, fakeEnv({}));
  }

  TempDir dir_;
};

TEST_F(CheckTest, ValidConfigHasNoErrors) {
  const std::string path = writeConfig(
      "    cert_file: certs/server.crt\n    key_file: certs/server.key\n"
      "    client_ca_file: certs/ca.crt\n",
      "signing:\n  keys:\n    - id: k\n      alg: EdDSA\n      private_key_file: keys/sign.pem\n"
      "  revoked_file: state/revoked.txt\n");
  std::filesystem::create_directories(dir_.path() + "/state");
  const auto errors = check(path);
  EXPECT_TRUE(errors.empty()) << errors[0];
}

TEST_F(CheckTest, MissingFilesAreNamedAtTheirField) {
  const std::string path =
      writeConfig("    cert_file: certs/nope.crt\n    key_file: certs/server.key\n",
                  "  ca_file: certs/gone-ca.crt\n"
                  "signing:\n  revoked_file: nodir/revoked.txt\n");
  const auto errors = check(path);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], path + ":4:16: listen.tls.cert_file: " + dir_.path() +
                           "/certs/nope.crt does not exist");
  EXPECT_EQ(errors[1],
            path + ":8:12: upstream.ca_file: " + dir_.path() + "/certs/gone-ca.crt does not exist");
  EXPECT_EQ(errors[2], path + ":10:17: signing.revoked_file: directory " + dir_.path() +
                           "/nodir does not exist");
}

TEST_F(CheckTest, AuditFileDirectoryMustExist) {
  const std::string path =
      writeConfig("    cert_file: certs/server.crt\n    key_file: certs/server.key\n",
                  "audit:\n  file: logs/audit.jsonl\n");
  const auto errors = check(path);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            path + ":9:9: audit.file: directory " + dir_.path() + "/logs does not exist");
  std::filesystem::create_directories(dir_.path() + "/logs");
  EXPECT_TRUE(check(path).empty());
}

TEST_F(CheckTest, KeyMustMatchCertificate) {
  const auto errors =
      check(writeConfig("    cert_file: certs/server.crt\n    key_file: certs/other.key\n"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("listen.tls.key_file: " + dir_.path() +
                           "/certs/other.key does not match the certificate"),
            std::string::npos)
      << errors[0];
}

TEST_F(CheckTest, NotPem) {
  dir_.write("certs/junk", "hello\n");
  const auto errors = check(writeConfig("    cert_file: certs/junk\n    key_file: certs/junk\n"));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("holds no PEM certificate"), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("holds no PEM private key"), std::string::npos) << errors[1];
}

TEST_F(CheckTest, LoaderAndPolicyErrorsTogether) {
  const auto errors = check(writeConfig(
      "    cert_file: certs/server.crt\n    key_file: certs/server.key\n    colour: red\n", "",
      "  - name: a\n    commands: [\"+get\", \"+frobnicate\"]\n  - name: b\n"
      "    keys: [\"ok\", \"\"]\n"));
  ASSERT_EQ(errors.size(), 3u) << errors[0];
  EXPECT_NE(errors[0].find(":6:5: listen.tls: unknown key \"colour\""), std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find(":11:24: clients[0].commands[1]: "), std::string::npos) << errors[1];
  EXPECT_NE(errors[2].find(":13:18: clients[1].keys[1]: "), std::string::npos) << errors[2];
}

TEST_F(CheckTest, SigningKeyFileProblems) {
  dir_.write("keys/bad.pub", "junk\n");
  const auto errors = check(writeConfig(
      "    cert_file: certs/server.crt\n    key_file: certs/server.key\n",
      "signing:\n  keys:\n    - id: k1\n      alg: EdDSA\n      public_key_file: keys/missing.pub\n"
      "    - id: k2\n      alg: EdDSA\n      private_key_file: keys/sign.pem\n"
      "      public_key_file: keys/bad.pub\n"));
  ASSERT_EQ(errors.size(), 2u);
  // In file order.
  EXPECT_NE(
      errors[0].find(":10:7: signing.keys[0]: cannot read " + dir_.path() + "/keys/missing.pub"),
      std::string::npos)
      << errors[0];
  // The public file is loaded beside the private one (they must be one pair).
  EXPECT_NE(errors[1].find(":13:7: signing.keys[1]: " + dir_.path() + "/keys/bad.pub: key k2"),
            std::string::npos)
      << errors[1];
}

// The policy never forwards these classes whatever the rules: naming one grants nothing, and
// `keyward check` says so (a warning; the config stays valid).
TEST_F(CheckTest, GrantsOfNeverForwardedCommandsWarn) {
  const char* rules[] = {"+get",    "+script|debug", "+WAIT",        "+acl|whoami",
                         "+select", "+cluster",      "+@connection", "-debug",
                         "+client", "+script",       "+shutdown"};
  std::string clients = "  - name: a\n    commands:\n";
  for (const char* r : rules) clients += std::string("      - \"") + r + "\"\n";
  const std::string path =
      writeConfig("    cert_file: certs/server.crt\n    key_file: certs/server.key\n", "", clients);
  std::vector<std::string> warnings;
  const auto errors = checkConfigFile(path, fakeEnv({}), &warnings);
  EXPECT_TRUE(errors.empty()) << errors[0];
  // commands[i] is on line 11 + i, its scalar at column 9; in file order.
  const std::vector<std::string> want = {
      path + ":12:9: warning: +script|debug is never forwarded (connection_state)",
      path + ":13:9: warning: +WAIT is never forwarded (blocking)",
      path + ":14:9: warning: +acl|whoami is never forwarded (introspection)",
      path + ":15:9: warning: +select is never forwarded (connection_state)",
      path + ":16:9: warning: +cluster is never forwarded (unsupported)",
      path + ":21:9: warning: +shutdown is never forwarded (unsupported)",
  };
  EXPECT_EQ(warnings, want);
  // Without the out-parameter the result is the errors alone.
  EXPECT_TRUE(check(path).empty());
}

TEST_F(CheckTest, NoWarningsForGrantsThatCanBeForwarded) {
  const std::string path =
      writeConfig("    cert_file: certs/server.crt\n    key_file: certs/server.key\n", "",
                  "  - name: a\n    commands: [\"+@all\", \"-@dangerous\", \"+client|help\", "
                  "\"+xread\", \"-select\", \"+object|encoding\", \"+@blocking\"]\n");
  std::vector<std::string> warnings;
  const auto errors = checkConfigFile(path, fakeEnv({}), &warnings);
  EXPECT_TRUE(errors.empty()) << errors[0];
  EXPECT_TRUE(warnings.empty()) << warnings[0];
}

// A wildcard script or function grant runs any code the client sends, which reaches keys outside
// the grants and other databases: valid, but said.
TEST_F(CheckTest, WildcardCodeGrantsWarn) {
  const std::string path =
      writeConfig("    cert_file: certs/server.crt\n    key_file: certs/server.key\n", "",
                  "  - name: a\n    commands: [\"+evalsha\", \"+fcall\"]\n    keys: [\"app:*\"]\n"
                  "    scripts: [\"0123456789abcdef0123456789abcdef01234567\", \"*\"]\n"
                  "    functions: [\"*\"]\n");
  std::vector<std::string> warnings;
  const auto errors = checkConfigFile(path, fakeEnv({}), &warnings);
  EXPECT_TRUE(errors.empty()) << errors[0];
  const std::string tail =
      " runs any code the client sends: it can reach keys outside its grants and other "
      "databases; list what it may run instead";
  const std::vector<std::string> want = {
      path + ":12:59: warning: scripts \"*\"" + tail,
      path + ":13:17: warning: functions \"*\"" + tail,
  };
  EXPECT_EQ(warnings, want);
}

// Scripts are checked by their declared keys only: with encrypted patterns, one that names none
// can read ciphertext or write plaintext under them (attack-run finding).
TEST_F(CheckTest, CodeGrantsBesideEncryptedPatternsWarn) {
  const std::string path = writeConfig(
      "    cert_file: certs/server.crt\n    key_file: certs/server.key\n",
      "encryption:\n  keys:\n    - { id: v1, secret_env: VK }\n  patterns: [\"sess:*\"]\n",
      "  - name: a\n    commands: [\"+evalsha\"]\n"
      "    scripts: [\"0123456789abcdef0123456789abcdef01234567\"]\n"
      "  - name: b\n    commands: [\"+get\"]\n");
  std::vector<std::string> warnings;
  const auto errors = checkConfigFile(
      path, fakeEnv({{"VK", "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="}}), &warnings);
  EXPECT_TRUE(errors.empty()) << errors[0];
  const std::vector<std::string> want = {
      path +
      ":15:15: warning: scripts can reach keys under encryption.patterns without naming "
      "them: they would read ciphertext or write plaintext there"};
  EXPECT_EQ(warnings, want);
}

TEST_F(CheckTest, WarningsBesideErrorsKeepFileOrder) {
  const std::string path =
      writeConfig("    cert_file: certs/nope.crt\n    key_file: certs/server.key\n", "",
                  "  - name: a\n    commands: [\"+monitor\", \"+frobnicate\"]\n");
  std::vector<std::string> warnings;
  const auto errors = checkConfigFile(path, fakeEnv({}), &warnings);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find(":4:16: listen.tls.cert_file: "), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find(":10:28: clients[0].commands[1]: "), std::string::npos) << errors[1];
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], path + ":10:16: warning: +monitor is never forwarded (connection_state)");
}

TEST_F(CheckTest, UnreadableConfig) {
  const auto errors = check(dir_.path() + "/none.yaml");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], dir_.path() +
                           "/none.yaml:1:1: cannot read the config file: No such file "
                           "or directory");
}

}  // namespace
}  // namespace kw::conf
