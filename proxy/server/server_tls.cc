// Builds the listener's server SSL_CTX (certificate, key, versions, ciphers, ALPN).
#include "proxy/server/server_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>
#include <string>

#include "proxy/io/write_through.h"

namespace kw::proxy {

namespace {

std::string lastSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

constexpr unsigned char kAlpnHttp11[] = {'h', 't', 't', 'p', '/', '1', '.', '1'};

int selectAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void* /*arg*/) {
  // The client's list: length-prefixed protocol names. Pick http/1.1 when offered.
  unsigned int i = 0;
  while (i < inlen) {
    unsigned int n = in[i];
    if (i + 1 + n > inlen) break;
    if (n == sizeof kAlpnHttp11 && std::memcmp(in + i + 1, kAlpnHttp11, n) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(n);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  // No http/1.1 offered (e.g. h2 only): continue without ALPN rather than fail the handshake.
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

Result<SslCtxPtr> makeServerTlsContext(const conf::TlsConfig& tls) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Error{ErrorCode::Tls, "SSL_CTX_new: " + lastSslError()};
  SSL_CTX* c = ctx.get();
  int min = tls.min_version == conf::TlsConfig::MinVersion::Tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(c, min) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1) {
    return Error{ErrorCode::Tls, "cannot set TLS versions: " + lastSslError()};
  }
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 |
                             SSL_OP_NO_TLSv1_1);
  // TLS 1.2: forward-secret AEAD suites only.
  if (SSL_CTX_set_cipher_list(c,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
    return Error{ErrorCode::Tls, "cannot set cipher list: " + lastSslError()};
  }
  if (SSL_CTX_set_ciphersuites(
          c, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1) {
    return Error{ErrorCode::Tls, "cannot set TLS 1.3 cipher suites: " + lastSslError()};
  }
  if (SSL_CTX_use_certificate_chain_file(c, tls.cert_file.c_str()) != 1) {
    return Error{ErrorCode::Tls,
                 "cannot load certificate " + tls.cert_file + ": " + lastSslError()};
  }
  if (SSL_CTX_use_PrivateKey_file(c, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Error{ErrorCode::Tls, "cannot load private key " + tls.key_file + ": " + lastSslError()};
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    return Error{ErrorCode::Tls,
                 "private key " + tls.key_file + " does not match certificate " + tls.cert_file};
  }
  if (!tls.client_ca_file.empty()) {
    // mTLS: every client must present a certificate that chains to client_ca_file.
    if (SSL_CTX_load_verify_locations(c, tls.client_ca_file.c_str(), nullptr) != 1) {
      return Error{ErrorCode::Tls,
                   "cannot load client CA " + tls.client_ca_file + ": " + lastSslError()};
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(c, names);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    static const unsigned char kSessionContext[] = "keyward";
    SSL_CTX_set_session_id_context(c, kSessionContext, sizeof(kSessionContext) - 1);
  }
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  enableWriteThrough(c);
  SSL_CTX_set_alpn_select_cb(c, selectAlpn, nullptr);
  return ctx;
}

}  // namespace kw::proxy
