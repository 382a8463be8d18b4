// writeThrough: see the header.
#include "proxy/io/write_through.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace kw::proxy {

namespace {
// libevent's default largest single SSL_write (MAX_SINGLE_WRITE_DEFAULT). When a direct SSL_write
// of one such piece blocks, OpenSSL has taken it and must be called again with at least those
// bytes: the bufferevent's next SSL_write covers up to this many bytes from the front of its
// output, so pieces never exceed it.
constexpr size_t kPiece = 16384;

// Bytes written directly over TLS; *retry = the length of a piece SSL_write took but could not
// finish (it must lead the bufferevent's next SSL_write), else 0.
size_t writeTls(SSL* ssl, std::string_view bytes, size_t* retry) {
  size_t done = 0;
  while (done < bytes.size()) {
    const size_t n = std::min(kPiece, bytes.size() - done);
    ERR_clear_error();
    const int r = SSL_write(ssl, bytes.data() + done, static_cast<int>(n));
    if (r <= 0) {
      const int err = SSL_get_error(ssl, r);
      if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) *retry = n;
      ERR_clear_error();  // the bufferevent meets (and reports) a hard error on its own write
      break;
    }
    done += static_cast<size_t>(r);  // r == n: SSL_MODE_ENABLE_PARTIAL_WRITE is never set
  }
  return done;
}

size_t writePlain(evutil_socket_t fd, std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t r =
        ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r > 0) {
      done += static_cast<size_t>(r);
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // EAGAIN: the bufferevent waits for writability; an error: it reports it
    }
  }
  return done;
}

// What the socket takes of `bytes` now, when nothing is queued ahead of them; *retry as
// writeTls sets it.
size_t writeNow(bufferevent* bev, std::string_view bytes, size_t* retry) {
  if (evbuffer_get_length(bufferevent_get_output(bev)) != 0) return 0;  // they queue behind
  if (SSL* ssl = bufferevent_openssl_get_ssl(bev); ssl != nullptr) {
    return SSL_is_init_finished(ssl) != 0 ? writeTls(ssl, bytes, retry) : 0;
  }
  const evutil_socket_t fd = bufferevent_getfd(bev);
  return fd >= 0 ? writePlain(fd, bytes) : 0;
}

void releaseShared(const void* /*data*/, size_t /*len*/, void* holder) {
  delete static_cast<std::shared_ptr<const std::string>*>(holder);
}
}  // namespace

void writeThrough(bufferevent* bev, std::string_view bytes) {
  if (bytes.empty()) return;
  size_t retry = 0;
  const size_t done = writeNow(bev, bytes, &retry);
  if (done == bytes.size()) return;
  bufferevent_write(bev, bytes.data() + done, bytes.size() - done);
  // The piece OpenSSL holds must come first and whole in the bufferevent's next SSL_write.
  if (retry != 0) evbuffer_pullup(bufferevent_get_output(bev), static_cast<ev_ssize_t>(retry));
}

void writeThroughShared(bufferevent* bev, std::shared_ptr<const std::string> bytes) {
  if (!bytes || bytes->empty()) return;
  size_t retry = 0;
  // At most one piece now: one message goes to many streams in one loop pass, and what each
  // socket would take at once (MiBs on a fresh connection) encrypted for every stream held the
  // loop (attack round 24). The rest goes as the sockets drain, a piece per write event.
  const size_t done = writeNow(bev, std::string_view(*bytes).substr(0, kPiece), &retry);
  if (done == bytes->size()) return;
  evbuffer* out = bufferevent_get_output(bev);
  const char* rest = bytes->data() + done;
  const size_t len = bytes->size() - done;
  auto* holder = new std::shared_ptr<const std::string>(std::move(bytes));
  if (evbuffer_add_reference(out, rest, len, releaseShared, holder) != 0) {
    delete holder;
    return;  // out of memory: the stream is cut short, as a failed bufferevent_write would
  }
  if (retry != 0) evbuffer_pullup(out, static_cast<ev_ssize_t>(retry));
}

void enableWriteThrough(SSL_CTX* ctx) {
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

}  // namespace kw::proxy
