// TLS read-ahead on a libevent 2.1 OpenSSL bufferevent, and the pull that makes it safe.
//
// Without read-ahead OpenSSL reads every record with two read(2) calls (its 5-byte header, then
// the body). With it, one read takes whatever the socket holds, but OpenSSL may then hold whole
// records libevent has not asked for: libevent stops at the end of the current record
// (SSL_pending), and epoll does not report bytes that already left the socket. So every read
// handler of such a bufferevent calls pullTlsBuffered() whenever its input runs dry, and on
// BEV_EVENT_CONNECTED (a request can arrive in the same segment as the handshake's last flight).
#pragma once

#include <event2/bufferevent.h>
#include <openssl/ssl.h>

#include <cstddef>

namespace kw::proxy {

// Turns read-ahead on for one connection (its read handlers must pull; see above).
void enableTlsReadAhead(SSL* ssl);

// What one turn of a read handler may pull in all.
constexpr size_t kTlsPullPerTurn = 64 * 1024;

// Moves records OpenSSL holds into bev's input, at most *budget bytes (the turn's budget, which
// it lowers); returns the bytes added (0 for a plain-socket bufferevent). When the budget runs
// out with records still held, bev's read callback is scheduled again (deferred), so one busy
// peer cannot hold the loop. A TLS error met here is reported through bev's event callback, as
// libevent would.
size_t pullTlsBuffered(bufferevent* bev, size_t* budget);

// True when OpenSSL holds bytes bev's input does not show yet.
bool tlsBuffered(bufferevent* bev);

}  // namespace kw::proxy
