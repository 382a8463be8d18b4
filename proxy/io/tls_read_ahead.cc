// TLS read-ahead: see the header.
#include "proxy/io/tls_read_ahead.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#include <algorithm>

namespace kw::proxy {

namespace {
constexpr size_t kPullSpace = 16 * 1024;  // one TLS record's plaintext at most
}  // namespace

void enableTlsReadAhead(SSL* ssl) { SSL_set_read_ahead(ssl, 1); }

bool tlsBuffered(bufferevent* bev) {
  SSL* ssl = bufferevent_openssl_get_ssl(bev);
  return ssl != nullptr && SSL_has_pending(ssl) != 0;
}

size_t pullTlsBuffered(bufferevent* bev, size_t* budget) {
  SSL* ssl = bufferevent_openssl_get_ssl(bev);
  if (ssl == nullptr || SSL_is_init_finished(ssl) == 0) return 0;
  evbuffer* in = bufferevent_get_input(bev);
  size_t pulled = 0;
  // SSL_read here also reads the socket when a record is only partly held, so a peer that keeps
  // it full could keep this loop going: the budget ends the turn.
  while (pulled < *budget && SSL_has_pending(ssl) != 0) {
    evbuffer_iovec v;
    if (evbuffer_reserve_space(in, kPullSpace, &v, 1) < 1) break;
    ERR_clear_error();
    const int r = SSL_read(ssl, v.iov_base, static_cast<int>(std::min(v.iov_len, kPullSpace)));
    if (r > 0) {
      v.iov_len = static_cast<size_t>(r);
      evbuffer_commit_space(in, &v, 1);
      pulled += static_cast<size_t>(r);
      continue;
    }
    const int err = SSL_get_error(ssl, r);
    ERR_clear_error();
    // WANT_READ: the rest of a record is still on its way; the socket's readability brings it.
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
    // The peer's close_notify or a broken record: nothing will arrive on the socket to tell
    // libevent, so the event callback hears it from here.
    bufferevent_trigger_event(bev, err == SSL_ERROR_ZERO_RETURN ? BEV_EVENT_EOF : BEV_EVENT_ERROR,
                              BEV_TRIG_DEFER_CALLBACKS);
    break;
  }
  *budget -= std::min(pulled, *budget);
  if (*budget == 0 && SSL_has_pending(ssl) != 0) {
    // Yield: the read callback runs again after the other ready events, and pulls the rest.
    bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
  }
  return pulled;
}

}  // namespace kw::proxy
