// One Redis connection over libevent (TCP or verified TLS): connect, AUTH/SELECT, framed replies.
#include "proxy/upstream/redis/redis_connection.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "proxy/codec/resp_writer.h"
#include "proxy/io/tls_client.h"
#include "proxy/io/write_through.h"

namespace kw::proxy {

namespace {

// Replies at least this large are handed over as their buffer (Handler::onReplyOwned).
constexpr size_t kOwnedReplyBytes = size_t{1} << 20;

// Writes at least this large skip the cork (after what it holds): copying them once more buys
// nothing. The cork's buffer is given back when a turn left it larger than this.
constexpr size_t kCorkBytes = 16 * 1024;

}  // namespace

std::shared_ptr<RedisConnection> RedisConnection::create(
    event_base* base, const RedisEndpoint& endpoint, ssl_ctx_st* tls_ctx,
    Milliseconds connect_timeout, const codec::RespLimits& limits, Handler* handler) {
  return std::shared_ptr<RedisConnection>(
      new RedisConnection(base, endpoint, tls_ctx, connect_timeout, limits, handler));
}

RedisConnection::RedisConnection(event_base* base, const RedisEndpoint& endpoint,
                                 ssl_ctx_st* tls_ctx, Milliseconds connect_timeout,
                                 const codec::RespLimits& limits, Handler* handler)
    : base_(base),
      endpoint_(endpoint),
      connect_timeout_(connect_timeout),
      limits_(limits),
      handler_(handler),
      connect_timer_(
          base,
          [this] {
            auto keep = shared_from_this();
            // Connected but AUTH/SELECT unanswered: the upstream is there but
            // silent, which is a timeout (504), not unreachable (502).
            fail(state_ == State::Handshaking
                     ? UpstreamError{UpstreamErrorKind::Timeout,
                                     "upstream did not answer the handshake in time"}
                     : UpstreamError{UpstreamErrorKind::Unreachable, "upstream connect timed out"});
          }),
      start_timer_(base, [this] { doStart(); }),
      resume_timer_(base, [this] { resumeAfterBuffered(); }),
      parser_(&limits_) {
  if (tls_ctx != nullptr && SSL_CTX_up_ref(tls_ctx) == 1) {
    tls_ctx_.reset(tls_ctx);
  }
}

RedisConnection::~RedisConnection() { close(); }

void RedisConnection::start() {
  if (state_ != State::Idle) {
    return;
  }
  state_ = State::Connecting;
  start_timer_.arm(Milliseconds(0));
}

void RedisConnection::doStart() {
  auto keep = shared_from_this();
  connect_timer_.arm(connect_timeout_);
  if (endpoint_.tls && !tls_ctx_) {
    fail({UpstreamErrorKind::Unreachable, "no TLS context for rediss://"});
    return;
  }
  auto bev = newClientBufferevent(base_, endpoint_.tls ? tls_ctx_.get() : nullptr, endpoint_.host);
  if (!bev) {
    fail({UpstreamErrorKind::Unreachable, bev.error().message});
    return;
  }
  bev_ = std::move(*bev);
  bufferevent_setcb(bev_.get(), &RedisConnection::onReadCb, nullptr, &RedisConnection::onEventCb,
                    this);
  bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
  std::string why;
  if (!connectClient(bev_.get(), endpoint_.host, endpoint_.port, why) &&
      state_ == State::Connecting) {
    fail({UpstreamErrorKind::Unreachable, why});
  }
}

void RedisConnection::onConnected() {
  setNoDelay(bev_.get());
  flush_.reset(event_new(base_, -1, 0, &RedisConnection::onFlush, this));
  if (!flush_) {
    fail({UpstreamErrorKind::Unreachable, "cannot watch the upstream connection"});
    return;
  }
  if (!endpoint_.tls) {
    // Nothing can have been read yet: the upstream speaks only after our first command.
    bufferevent_disable(bev_.get(), EV_READ);
    direct_read_.reset(event_new(base_, bufferevent_getfd(bev_.get()), EV_READ | EV_PERSIST,
                                 &RedisConnection::onSocketReadable, this));
    if (!direct_read_ || (!paused_ && event_add(direct_read_.get(), nullptr) != 0)) {
      fail({UpstreamErrorKind::Unreachable, "cannot watch the upstream connection"});
      return;
    }
  }
  std::string hello;
  if (!endpoint_.password.empty()) {
    const std::string_view with_user[] = {"AUTH", endpoint_.user, endpoint_.password};
    const std::string_view without[] = {"AUTH", endpoint_.password};
    codec::appendCommand(hello, endpoint_.user.empty() ? codec::CommandArgv(without)
                                                       : codec::CommandArgv(with_user));
    ++handshake_replies_;
  }
  if (endpoint_.db != 0) {
    const std::string db = std::to_string(endpoint_.db);
    const std::string_view select[] = {"SELECT", db};
    codec::appendCommand(hello, select);
    ++handshake_replies_;
  }
  if (handshake_replies_ == 0) {
    state_ = State::Ready;
    connect_timer_.cancel();
    handler_->onReady(*this);
    return;
  }
  state_ = State::Handshaking;
  bufferevent_write(bev_.get(), hello.data(), hello.size());
  OPENSSL_cleanse(hello.data(), hello.size());
}

void RedisConnection::handleHandshakeReply(std::string_view raw) {
  --handshake_replies_;
  if (raw.empty() || raw.front() != '+') {
    std::string detail(raw.substr(0, std::min<size_t>(raw.size(), 200)));
    while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) {
      detail.pop_back();
    }
    if (!detail.empty() && detail.front() == '-') {
      detail.erase(0, 1);
    } else {
      detail = "unexpected reply";
    }
    fail({UpstreamErrorKind::Auth, "upstream rejected AUTH/SELECT: " + detail});
    return;
  }
  if (handshake_replies_ == 0) {
    state_ = State::Ready;
    connect_timer_.cancel();
    handler_->onReady(*this);
  }
}

void RedisConnection::write(std::string_view bytes) {
  if (state_ != State::Ready || !bev_ || bytes.empty()) {
    return;
  }
  if (bytes.size() >= kCorkBytes) {
    flushCorked();
    writeThrough(bev_.get(), bytes);
    return;
  }
  if (corked_.empty()) {
    event_active(flush_.get(), EV_TIMEOUT, 0);
  }
  corked_.append(bytes);
}

void RedisConnection::flushCorked() {
  if (corked_.empty()) {
    return;
  }
  event_del(flush_.get());  // made active by the first write: it has nothing left to send
  writeThrough(bev_.get(), corked_);
  if (corked_.capacity() > kCorkBytes) {
    std::string().swap(corked_);
  } else {
    corked_.clear();
  }
}

void RedisConnection::onFlush(int /*fd*/, short /*what*/, void* arg) noexcept {
  static_cast<RedisConnection*>(arg)->flushCorked();
}

void RedisConnection::close() {
  handler_ = nullptr;
  state_ = State::Closed;
  connect_timer_.cancel();
  start_timer_.cancel();
  resume_timer_.cancel();
  direct_read_.reset();
  flush_.reset();
  corked_.clear();
  bev_.reset();
}

void RedisConnection::pauseReading() {
  paused_ = true;
  resume_timer_.cancel();
  if (direct_read_) {
    event_del(direct_read_.get());
  } else if (bev_) {
    bufferevent_disable(bev_.get(), EV_READ);
  }
}

void RedisConnection::resumeReading() {
  if (!paused_) {
    return;
  }
  paused_ = false;
  if (bev_ && state_ != State::Closed) {
    resume_timer_.arm(Milliseconds(0));  // deliver what is buffered, outside the caller's frame
  }
}

void RedisConnection::resumeAfterBuffered() {
  auto keep = shared_from_this();
  processInput();
  // The socket is read again only once what was buffered is handed out: read while its handler
  // paused after every few thousand deliveries, a flood of small pub/sub messages came in faster
  // than they went out, and the buffer grew by about 60 MB a second (attack round 31b: 20
  // stalled streams, 1-byte messages, keyward past 700 MB). Meanwhile Redis buffers for this
  // connection, and drops it past its own limit.
  if (paused_ || !bev_ || state_ == State::Closed) return;
  if (direct_read_) {
    event_add(direct_read_.get(), nullptr);
  } else {
    bufferevent_enable(bev_.get(), EV_READ);
  }
}

void RedisConnection::fail(const UpstreamError& error) {
  Handler* h = handler_;
  close();
  if (h != nullptr) {
    h->onClosed(*this, error);
  }
}

void RedisConnection::processInput() {
  if (processing_) {
    return;
  }
  auto keep = shared_from_this();
  processing_ = true;
  while (!paused_ && state_ != State::Closed && handler_ != nullptr) {
    size_t len = 0;
    const std::string_view rest = in_.view().substr(in_pos_);
    const codec::RespParser::Status st = parser_.scan(rest, len);
    if (st == codec::RespParser::Status::NeedMore) {
      if (state_ == State::Ready && !skipping_ &&
          !handler_->admitReply(*this, parser_.dropped() + rest.size(), parser_.values())) {
        skipping_ = true;
      }
      if (skipping_) {  // keep only the bytes the parser has not accepted yet
        const size_t n = parser_.accepted();
        parser_.discard(n);
        in_pos_ += n;
      }
      break;
    }
    if (st == codec::RespParser::Status::Invalid) {
      processing_ = false;
      fail({UpstreamErrorKind::Protocol, "upstream sent invalid RESP: " + parser_.error()});
      return;
    }
    const std::string_view raw = rest.substr(0, len);
    const uint64_t total = parser_.dropped() + len;
    const uint64_t values = parser_.values();
    const std::span<const codec::RespNode> nodes = parser_.nodes();  // until reset() below
    in_pos_ += len;
    if (state_ == State::Handshaking) {
      handleHandshakeReply(raw);
    } else if (state_ == State::Ready) {
      const bool skip = skipping_ || !handler_->admitReply(*this, total, values);
      skipping_ = false;
      if (skip) {
        handler_->onReplySkipped(*this);
      } else if (in_pos_ == len && len >= kOwnedReplyBytes) {
        // The reply starts the buffer: hand the buffer over and keep only what follows it.
        ReplyBuffer whole = std::move(in_);
        in_pos_ = 0;
        if (!in_.append(whole.view().substr(len))) {
          processing_ = false;
          fail({UpstreamErrorKind::Protocol, "out of memory for upstream replies"});
          return;
        }
        whole.truncate(len);
        handler_->onReplyOwned(*this, std::move(whole), nodes);
      } else {
        handler_->onReply(*this, raw, nodes);
      }
    } else {
      processing_ = false;
      fail({UpstreamErrorKind::Protocol, "upstream sent data before the handshake"});
      return;
    }
    parser_.reset();
  }
  processing_ = false;
  if (in_pos_ > 0) {
    in_.eraseFront(in_pos_);  // a large buffer left behind goes back (ReplyBuffer::eraseFront)
    in_pos_ = 0;
  }
  in_.shrinkIfIdle();
}

void RedisConnection::onReadCb(bufferevent* bev, void* arg) noexcept {
  auto* self = static_cast<RedisConnection*>(arg);
  evbuffer* input = bufferevent_get_input(bev);
  const size_t n = evbuffer_get_length(input);
  if (n > 0) {
    if (!self->in_.reserveTail(n)) {
      auto keep = self->shared_from_this();
      self->fail({UpstreamErrorKind::Protocol, "out of memory for upstream replies"});
      return;
    }
    const int got = evbuffer_remove(input, self->in_.tail(), n);
    self->in_.commit(static_cast<size_t>(std::max(got, 0)));
  }
  self->processInput();
}

void RedisConnection::onSocketReadable(int fd, short /*what*/, void* arg) noexcept {
  auto* self = static_cast<RedisConnection*>(arg);
  // At least 16 KiB, and whatever room a growing buffer already has (a large reply is read in
  // large pieces).
  constexpr size_t kReadAtLeast = 16 * 1024;
  if (!self->in_.reserveTail(kReadAtLeast)) {
    auto keep = self->shared_from_this();
    self->fail({UpstreamErrorKind::Protocol, "out of memory for upstream replies"});
    return;
  }
  const ssize_t got = ::read(fd, self->in_.tail(), self->in_.capacity() - self->in_.size());
  if (got > 0) {
    self->in_.commit(static_cast<size_t>(got));
    self->processInput();
    return;
  }
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  auto keep = self->shared_from_this();
  const bool before_ready = self->state_ != State::Ready;
  const std::string why =
      got == 0 ? std::string("upstream closed the connection")
               : std::string("upstream connection error: ") + evutil_socket_error_to_string(errno);
  self->fail({before_ready ? UpstreamErrorKind::Unreachable : UpstreamErrorKind::Closed, why});
}

void RedisConnection::onEventCb(bufferevent* bev, short what, void* arg) noexcept {
  auto* self = static_cast<RedisConnection*>(arg);
  auto keep = self->shared_from_this();
  if ((what & BEV_EVENT_CONNECTED) != 0) {
    self->onConnected();
    return;
  }
  if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) == 0) {
    return;
  }
  const bool before_ready = self->state_ != State::Ready;
  std::string why = self->endpoint_.tls && before_ready ? describeTlsFailure(bev) : std::string();
  if (why.empty()) {
    const int dns = bufferevent_socket_get_dns_error(bev);
    const int sock = EVUTIL_SOCKET_ERROR();
    if (dns != 0) {
      why = std::string("cannot resolve upstream host: ") + evutil_gai_strerror(dns);
    } else if ((what & BEV_EVENT_EOF) != 0) {
      why = "upstream closed the connection";
    } else {
      why = std::string("upstream connection error: ") + evutil_socket_error_to_string(sock);
    }
  }
  ERR_clear_error();
  if (before_ready) {
    self->fail({UpstreamErrorKind::Unreachable, why});
  } else {
    self->fail({UpstreamErrorKind::Closed, why});
  }
}

}  // namespace kw::proxy
