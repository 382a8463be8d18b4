// Verified client TLS contexts (system or configured CA, hostname check, SNI) for upstreams.
#include "proxy/io/tls_client.h"

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <array>

#include "proxy/io/tls_read_ahead.h"
#include "proxy/io/write_through.h"

namespace kw::proxy {

namespace {
std::string lastOpensslError() {
  const unsigned long err = ERR_get_error();
  ERR_clear_error();
  if (err == 0) {
    return "unknown error";
  }
  std::array<char, 256> buf{};
  ERR_error_string_n(err, buf.data(), buf.size());
  return std::string(buf.data());
}
}  // namespace

bool isIpLiteral(std::string_view host) {
  const std::string h(host);
  in6_addr a6{};
  in_addr a4{};
  return inet_pton(AF_INET, h.c_str(), &a4) == 1 || inet_pton(AF_INET6, h.c_str(), &a6) == 1;
}

Result<SslCtxPtr> makeClientTlsContext(const std::string& ca_file) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    return makeError(ErrorCode::Tls, "SSL_CTX_new: " + lastOpensslError());
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  enableWriteThrough(ctx.get());
  if (!ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
      return makeError(ErrorCode::Tls,
                       "cannot load upstream CA file " + ca_file + ": " + lastOpensslError());
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    return makeError(ErrorCode::Tls, "cannot load the system CA store: " + lastOpensslError());
  }
  return ctx;
}

Result<SslPtr> makeClientSsl(ssl_ctx_st* ctx, const std::string& host) {
  ERR_clear_error();
  SslPtr ssl(SSL_new(ctx));
  if (!ssl) {
    return makeError(ErrorCode::Tls, "SSL_new: " + lastOpensslError());
  }
  // OpenSSL 3: SSL_set1_host matches an IP literal against IP SANs, a name against DNS SANs.
  if (SSL_set1_host(ssl.get(), host.c_str()) != 1) {
    return makeError(ErrorCode::Tls, "cannot set the expected upstream host name");
  }
  SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (!isIpLiteral(host) && SSL_set_tlsext_host_name(ssl.get(), host.c_str()) != 1) {
    return makeError(ErrorCode::Tls, "cannot set SNI: " + lastOpensslError());
  }
  return ssl;
}

std::string describeTlsFailure(bufferevent* bev) {
  unsigned long err = 0;
  for (unsigned long e = bufferevent_get_openssl_error(bev); e != 0;
       e = bufferevent_get_openssl_error(bev)) {
    err = e;  // the last one names the cause
  }
  SSL* ssl = bufferevent_openssl_get_ssl(bev);
  const long verify = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
  return err != 0 || verify != X509_V_OK ? describeTlsError(err, verify) : std::string();
}

std::string describeTlsError(unsigned long err, long verify_result) {
  std::string out;
  if (verify_result != X509_V_OK) {
    out = "certificate verify failed: ";
    out += X509_verify_cert_error_string(verify_result);
    return out;
  }
  if (err != 0) {
    std::array<char, 256> buf{};
    ERR_error_string_n(err, buf.data(), buf.size());
    return std::string("TLS error: ") + buf.data();
  }
  return "TLS handshake failed";
}

Result<BufferEventPtr> newClientBufferevent(event_base* base, ssl_ctx_st* tls_ctx,
                                            const std::string& host, bool read_ahead) {
  const int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
  BufferEventPtr bev;
  if (tls_ctx != nullptr) {
    auto ssl = makeClientSsl(tls_ctx, host);
    if (!ssl) return ssl.error();
    if (read_ahead) enableTlsReadAhead(ssl->get());
    bev.reset(
        bufferevent_openssl_socket_new(base, -1, ssl->get(), BUFFEREVENT_SSL_CONNECTING, opts));
    if (bev) {
      (void)ssl->release();  // the bufferevent owns it now (BEV_OPT_CLOSE_ON_FREE)
      bufferevent_openssl_set_allow_dirty_shutdown(bev.get(), 1);
    }
  } else {
    bev.reset(bufferevent_socket_new(base, -1, opts));
  }
  if (!bev) return makeError(ErrorCode::Io, "cannot create the upstream connection");
  return bev;
}

bool connectClient(bufferevent* bev, const std::string& host, uint16_t port, std::string& why) {
  if (bufferevent_socket_connect_hostname(bev, nullptr, AF_UNSPEC, host.c_str(), port) == 0) {
    return true;
  }
  why = "cannot connect to upstream " + host;
  if (const int dns = bufferevent_socket_get_dns_error(bev); dns != 0) {
    why += ": ";
    why += evutil_gai_strerror(dns);
  }
  return false;
}

void setNoDelay(bufferevent* bev) {
  const evutil_socket_t fd = bufferevent_getfd(bev);
  if (fd < 0) return;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace kw::proxy
