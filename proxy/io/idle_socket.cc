#include "proxy/io/idle_socket.h"

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>

namespace kw::proxy {

bool connectionQuiet(bufferevent* bev) {
  if (SSL* ssl = bufferevent_openssl_get_ssl(bev); ssl != nullptr) {
    // A fresh TLS 1.3 connection receives its session tickets after the handshake: reading
    // them is not data from the server (a MSG_PEEK saw them as such and retired every new
    // connection at its first request).
    char byte;
    ERR_clear_error();
    const int n = SSL_peek(ssl, &byte, 1);
    if (n > 0) return false;
    const int err = SSL_get_error(ssl, n);
    ERR_clear_error();
    return err == SSL_ERROR_WANT_READ;  // a close, an alert or an error: not quiet
  }
  const evutil_socket_t fd = bufferevent_getfd(bev);
  if (fd < 0) return false;
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace kw::proxy
