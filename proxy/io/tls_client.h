// Client-side TLS for upstream connections: verified SSL_CTX, per-connection SSL with SNI.
#pragma once

#include <string>
#include <string_view>

#include "policy/result.h"
#include "proxy/io/event_loop.h"

namespace kw::proxy {

// A client SSL_CTX that verifies the peer (TLS 1.2+). Trust anchors: `ca_file` (PEM) when
// non-empty, otherwise the system CA store.
[[nodiscard]] Result<SslCtxPtr> makeClientTlsContext(const std::string& ca_file);

// A client SSL for one connection to `host`: the certificate must match `host` (DNS name, or
// IP SAN when `host` is an IP literal); SNI is sent for DNS names only (RFC 6066).
[[nodiscard]] Result<SslPtr> makeClientSsl(ssl_ctx_st* ctx, const std::string& host);

// The last OpenSSL error (and verify result) as text, for logs and UpstreamError messages.
[[nodiscard]] std::string describeTlsError(unsigned long err, long verify_result);

// Why an OpenSSL bufferevent's connection failed at the TLS level (its queued OpenSSL errors and
// the certificate verify result), as describeTlsError; empty when TLS reported nothing.
[[nodiscard]] std::string describeTlsFailure(bufferevent* bev);

// A bufferevent for one upstream connection to `host`, not yet connecting (set its callbacks,
// then connectClient): verified TLS with SNI when `tls_ctx` is set (OpenSSL read-ahead on when
// `read_ahead`: its read handler must pull, see tls_read_ahead.h), plain TCP otherwise. A TLS
// close without close_notify is allowed: the protocol's own framing decides completeness.
[[nodiscard]] Result<BufferEventPtr> newClientBufferevent(event_base* base, ssl_ctx_st* tls_ctx,
                                                          const std::string& host,
                                                          bool read_ahead = false);
// Starts connecting `bev` to host:port. Name resolution blocks (getaddrinfo, no evdns base); it
// runs only when a pooled connection is opened. False when it failed at once; `why` says so.
[[nodiscard]] bool connectClient(bufferevent* bev, const std::string& host, uint16_t port,
                                 std::string& why);
// TCP_NODELAY on a connected bufferevent's socket: requests are written whole.
void setNoDelay(bufferevent* bev);

// True when `host` is an IPv4 or IPv6 literal (without brackets).
[[nodiscard]] bool isIpLiteral(std::string_view host);

}  // namespace kw::proxy
