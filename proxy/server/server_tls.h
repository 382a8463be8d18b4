// Server-side TLS for the client listener: SSL_CTX from listen.tls (TLS 1.2/1.3, ALPN http/1.1).
#pragma once

#include "conf/config.h"
#include "policy/result.h"
#include "proxy/io/event_loop.h"

namespace kw::proxy {

// Loads the certificate chain and private key, sets the minimum version (1.2 or 1.3; never
// lower), modern AEAD cipher suites only, no compression/renegotiation/tickets-by-default
// weaknesses, and ALPN selecting http/1.1. With client_ca_file, clients must present a
// certificate that chains to it (mTLS). Errors name the file, never key material.
[[nodiscard]] Result<SslCtxPtr> makeServerTlsContext(const conf::TlsConfig& tls);

}  // namespace kw::proxy
