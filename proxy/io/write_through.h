// writeThrough: write a bufferevent's bytes now, not on its next writability event.
//
// libevent 2.1 bufferevents (socket and OpenSSL alike) never write from bufferevent_write(): they
// arm EV_WRITE, write when epoll reports the socket writable, then disarm it. That is two
// epoll_ctl calls and one more loop turn per response per socket. When nothing is queued ahead,
// writeThrough hands the bytes to the socket (or SSL_write) at once; whatever the socket does not
// take goes to the bufferevent's output, which finishes it the usual way, in order.
#pragma once

#include <event2/bufferevent.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

namespace kw::proxy {

// bev: a socket bufferevent or an OpenSSL socket bufferevent whose handshake is done (a TLS
// bufferevent still handshaking just gets bufferevent_write()). A write error is left to the
// bufferevent, which meets it again and reports it through its event callback.
void writeThrough(bufferevent* bev, std::string_view bytes);

// writeThrough for bytes many connections send (one pub/sub message fanned out to a client's
// streams): what the socket does not take now is queued by reference (evbuffer_add_reference),
// never copied, and `bytes` lives until the last connection has sent it.
void writeThroughShared(bufferevent* bev, std::shared_ptr<const std::string> bytes);

// The SSL_CTX modes writeThrough relies on: when SSL_write would block, the bufferevent retries
// the same bytes from its own buffer (another address), which OpenSSL allows only with
// SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER.
void enableWriteThrough(SSL_CTX* ctx);

}  // namespace kw::proxy
