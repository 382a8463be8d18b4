// Tests for the listener's server SSL_CTX: versions, ALPN, certificate/key loading errors.
#include "proxy/server/server_tls.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "tests/proxy/redis_test_support.h"

namespace kw::proxy {
namespace {

using testing::makeCert;
using testing::TempDir;

TEST(ServerTls, LoadsCertAndSetsMinimumVersion) {
  TempDir dir;
  makeCert(dir, "ca", "server", "DNS:localhost,IP:127.0.0.1");
  conf::TlsConfig tls;
  tls.cert_file = dir.file("server.crt");
  tls.key_file = dir.file("server.key");
  auto ctx = makeServerTlsContext(tls);
  ASSERT_TRUE(ctx) << ctx.error().message;
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx->get()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx->get()), TLS1_3_VERSION);
  tls.min_version = conf::TlsConfig::MinVersion::Tls13;
  auto ctx13 = makeServerTlsContext(tls);
  ASSERT_TRUE(ctx13);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx13->get()), TLS1_3_VERSION);
}

TEST(ServerTls, ClientCaTurnsOnMutualTls) {
  TempDir dir;
  makeCert(dir, "ca", "server", "DNS:localhost");
  conf::TlsConfig tls;
  tls.cert_file = dir.file("server.crt");
  tls.key_file = dir.file("server.key");
  auto plain = makeServerTlsContext(tls);
  ASSERT_TRUE(plain);
  EXPECT_EQ(SSL_CTX_get_verify_mode(plain->get()), SSL_VERIFY_NONE);
  tls.client_ca_file = dir.file("ca.crt");
  auto mtls = makeServerTlsContext(tls);
  ASSERT_TRUE(mtls) << mtls.error().message;
  EXPECT_EQ(SSL_CTX_get_verify_mode(mtls->get()),
            SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  tls.client_ca_file = dir.file("nope.crt");
  auto bad = makeServerTlsContext(tls);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("nope.crt"), std::string::npos);
}

TEST(ServerTls, ErrorsNameTheFile) {
  TempDir dir;
  makeCert(dir, "ca", "server", "DNS:localhost");
  makeCert(dir, "ca", "other", "DNS:localhost");
  conf::TlsConfig tls;
  tls.cert_file = dir.file("missing.crt");
  tls.key_file = dir.file("server.key");
  auto a = makeServerTlsContext(tls);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("missing.crt"), std::string::npos) << a.error().message;
  tls.cert_file = dir.file("server.crt");
  tls.key_file = dir.file("other.key");  // does not match the certificate
  auto b = makeServerTlsContext(tls);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("other.key"), std::string::npos) << b.error().message;
}

}  // namespace
}  // namespace kw::proxy
