// Per-connection HTTP/1.1 state machine: parse, route, respond, keep-alive, stream, time out.
#include "proxy/server/client_connection.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>
#include <utility>

#include "policy/ascii.h"
#include "proxy/codec/reply_json.h"
#include "proxy/io/tls_read_ahead.h"
#include "proxy/io/write_through.h"
#include "proxy/router/request_router.h"
#include "proxy/server/gateway_server.h"

namespace kw::proxy {

namespace {

constexpr size_t kBusyInputLimit = 64 * 1024;      // pipelined bytes buffered while busy
constexpr size_t kStreamHighWater = 1024 * 1024;   // pause the subscription above this
constexpr size_t kStreamLowWater = 256 * 1024;     // resume at or below this
constexpr size_t kStreamInputLimit = 16 * 1024;    // bytes a streaming client may send
constexpr size_t kLingerBytes = 16 * 1024 * 1024;  // discarded at most after the last response
constexpr Milliseconds kLingerTime{2000};          // and for at most this long
// After refusing a request whose body was never read: discarded (never buffered) so that a
// client still sending usually reads the refusal before the close resets the connection; a
// bound, not the body's megabytes (README, Limits and shares). Kept within kLingerTime as well.
constexpr size_t kRefusedLingerBytes = 1024 * 1024;
// Unsent response bytes above which the connection stops reading (and so serving) pipelined
// requests; it resumes at or below the low-water mark. A client that never reads is closed
// after idle_timeout.
constexpr size_t kOutputHighWater = 1024 * 1024;
constexpr size_t kOutputLowWater = 256 * 1024;
constexpr size_t kCoalesceBytes = 16 * 1024;  // a body up to this is sent with its head
// Over listen.max_output_bytes, a connection none of whose output was sent for this long is shed
// before any connection whose client is reading.
constexpr std::chrono::milliseconds kOutputStallTime{500};
// How often a connection whose reader is still taking its answer is checked for progress.
constexpr std::chrono::milliseconds kProgressCheck{500};

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

codec::HttpParserLimits limitsFor(const conf::ListenConfig& listen) {
  codec::HttpParserLimits l;
  l.max_body_bytes = listen.max_body_bytes;
  return l;
}

}  // namespace

ClientConnection::ClientConnection(GatewayServer& server, BufferEventPtr bev, PeerInfo peer,
                                   std::string anonymous_key,
                                   std::optional<UnauthenticatedList::iterator> unauthenticated_at)
    : server_(server),
      bev_(std::move(bev)),
      peer_(std::move(peer)),
      parser_(limitsFor(server.listen())),
      anonymous_key_(std::move(anonymous_key)),
      unauthenticated_at_(unauthenticated_at),
      timer_(server.base(), [this] { onTimeout(); }) {}

ClientConnection::~ClientConnection() {
  detachOutput();
  quota_wait_.reset();
  pending_.cancel();
  source_.reset();
  releaseBody();
  if (!client_.empty()) server_.detachClient(client_);
  leaveAnonymous();
}

void ClientConnection::leaveAnonymous() {
  if (unauthenticated_at_) server_.forgetUnauthenticated(*std::exchange(unauthenticated_at_, {}));
  if (anonymous_key_.empty()) return;
  server_.leaveAnonymous(anonymous_key_);
  anonymous_key_.clear();
}

void ClientConnection::start() {
  output_cb_ = evbuffer_add_cb(bufferevent_get_output(bev_.get()), onOutputChange, this);
  bufferevent_setcb(bev_.get(), onRead, onWrite, onEvent, this);
  if (bufferevent_openssl_get_ssl(bev_.get()) == nullptr) {
    direct_read_.reset(event_new(server_.base(), bufferevent_getfd(bev_.get()),
                                 EV_READ | EV_PERSIST, &ClientConnection::onSocketReadable, this));
  }
  bufferevent_enable(bev_.get(), direct_read_ ? EV_WRITE : EV_READ | EV_WRITE);
  readOn();
  timer_.arm(server_.listen().header_timeout);
}

void ClientConnection::readOn() {
  if (!bev_) return;
  if (direct_read_) {
    event_add(direct_read_.get(), nullptr);
  } else {
    bufferevent_enable(bev_.get(), EV_READ);
  }
}

void ClientConnection::readOff() {
  if (!bev_) return;
  if (direct_read_) {
    event_del(direct_read_.get());
  } else {
    bufferevent_disable(bev_.get(), EV_READ);
  }
}

void ClientConnection::onSocketReadable(int fd, short /*what*/, void* arg) noexcept {
  auto* self = static_cast<ClientConnection*>(arg);
  // As much as libevent reads per turn: one busy client cannot hold the loop.
  constexpr size_t kReadPerTurn = 16 * 1024;
  evbuffer* in = bufferevent_get_input(self->bev_.get());
  // A bufferevent keeps its input's end frozen outside its own reads; this is one of them.
  evbuffer_unfreeze(in, 0);
  evbuffer_iovec space;
  ssize_t got = -1;
  errno = ENOMEM;
  if (evbuffer_reserve_space(in, kReadPerTurn, &space, 1) == 1) {
    do {
      got = ::read(fd, space.iov_base, std::min(space.iov_len, kReadPerTurn));
    } while (got < 0 && errno == EINTR);
    if (got > 0) {
      space.iov_len = static_cast<size_t>(got);
      evbuffer_commit_space(in, &space, 1);
    }
  }
  const int err = errno;
  evbuffer_freeze(in, 0);
  if (got > 0) {
    self->processInput();
    return;
  }
  if (got < 0 && (err == EAGAIN || err == EWOULDBLOCK)) return;
  self->closeNow();  // end of stream or a socket error: as the bufferevent's EOF/ERROR would
}

void ClientConnection::drain() {
  draining_ = true;
  if ((state_ == State::Reading && awaiting_bytes_) || state_ == State::Lingering) {
    closeNow();
  } else if (state_ == State::Streaming) {
    endStream();
  }  // Relaying finishes its body; completeRequest() then closes (draining_).
}

void ClientConnection::onRead(bufferevent* /*bev*/, void* arg) {
  static_cast<ClientConnection*>(arg)->processInput();
}

void ClientConnection::onWrite(bufferevent* bev, void* arg) {
  auto* self = static_cast<ClientConnection*>(arg);
  size_t pending = evbuffer_get_length(bufferevent_get_output(bev));
  if (self->state_ == State::Closing && pending == 0) {
    self->linger();
  } else if (self->output_blocked_ && pending <= kOutputLowWater) {
    self->output_blocked_ = false;
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    if (self->state_ == State::Reading) {
      self->readOn();
      self->armForNextRequest();
      self->processInput();
    }
  } else if ((self->state_ == State::Streaming || self->state_ == State::Relaying) &&
             self->paused_ && pending <= kStreamLowWater) {
    self->paused_ = false;
    self->timer_.cancel();
    if (self->source_) self->source_->resume();
  }
}

void ClientConnection::onOutputChange(evbuffer* /*buf*/, const evbuffer_cb_info* info, void* arg) {
  auto* self = static_cast<ClientConnection*>(arg);
  if (info->n_deleted != 0 || (info->orig_size == 0 && info->n_added != 0)) {
    self->output_progress_ = std::chrono::steady_clock::now();
  }
  // Shared bytes (by reference) are added only inside streamWriteShared, and leave the front.
  const size_t shared_added = self->adding_shared_ ? info->n_added : 0;
  if (shared_added != 0) {
    self->shared_ranges_.emplace_back(self->output_added_, self->output_added_ + shared_added);
  }
  self->output_added_ += info->n_added;
  const uint64_t from = self->output_deleted_;
  self->output_deleted_ += info->n_deleted;
  size_t shared_deleted = 0;
  auto& ranges = self->shared_ranges_;
  while (!ranges.empty() && ranges.front().first < self->output_deleted_) {
    const uint64_t lo = std::max(ranges.front().first, from);
    const uint64_t hi = std::min(ranges.front().second, self->output_deleted_);
    if (hi > lo) shared_deleted += static_cast<size_t>(hi - lo);
    if (ranges.front().second > self->output_deleted_) break;
    ranges.pop_front();
  }
  const size_t added = info->n_added - shared_added;
  const size_t deleted = info->n_deleted - shared_deleted;
  self->output_held_ += added;
  self->output_held_ -= std::min(deleted, self->output_held_);
  self->server_.noteOutput(added, deleted);
}

void ClientConnection::detachOutput() {
  if (output_cb_ == nullptr) return;
  if (bev_) evbuffer_remove_cb_entry(bufferevent_get_output(bev_.get()), output_cb_);
  output_cb_ = nullptr;
  server_.noteOutput(0, output_held_);
  output_held_ = 0;
}

bool ClientConnection::outputStalled(std::chrono::steady_clock::time_point now) const {
  return output_held_ != 0 && now - output_progress_ >= kOutputStallTime;
}

void ClientConnection::shed() {
  if (record_.reason.empty()) record_.reason = "max_output_bytes";
  if (state_ == State::Relaying) {
    relayAbort();  // its access record is written; the paused upstream reply is released
  } else {
    closeNow();
  }
}

void ClientConnection::evict() {
  closeNow("evicted_unauthenticated");  // a head still arriving or a refusal unsent: nothing ran
}

void ClientConnection::onEvent(bufferevent* /*bev*/, short what, void* arg) {
  auto* self = static_cast<ClientConnection*>(arg);
  if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) != 0) {
    self->closeNow();
  } else if ((what & BEV_EVENT_CONNECTED) != 0) {
    // The handshake is done: a request that came with its last flight may already be read.
    self->processInput();
  }
}

size_t ClientConnection::unsentBytes() const {
  if (!bev_) return 0;
  const size_t held = evbuffer_get_length(bufferevent_get_output(bev_.get()));
  if (held == 0) return 0;  // the common case costs no syscall
  int queued = 0;           // what the kernel has not sent yet
  if (::ioctl(bufferevent_getfd(bev_.get()), SIOCOUTQ, &queued) != 0 || queued < 0) queued = 0;
  return held + static_cast<size_t>(queued);
}

void ClientConnection::armIdle(std::optional<Milliseconds> delay) {
  timer_.arm(delay.value_or(server_.listen().idle_timeout));
  armed_at_ = std::chrono::steady_clock::now();
  unsent_at_arm_ = unsentBytes();
}

bool ClientConnection::outputMoved() const {
  const size_t unsent = unsentBytes();
  return unsent != 0 && (unsent < unsent_at_arm_ || output_progress_ > armed_at_);
}

void ClientConnection::onTimeout() {
  // A client still taking its answer is not idle, however slowly it reads: the kernel only
  // reports room to write once a third of a full send buffer has drained, which can take longer
  // than idle_timeout (attack round 12: a 5 MB reply read at 78 KB/s was cut off at 4.1 MB).
  const bool idle_wait = (state_ == State::Reading && (awaiting_bytes_ || output_blocked_)) ||
                         state_ == State::Closing ||
                         ((state_ == State::Streaming || state_ == State::Relaying) && paused_);
  if (idle_wait && outputMoved()) {
    // Checked again soon, not after a whole idle_timeout: the peer's kernel takes bytes for a
    // while after its reader stopped, and that must not buy a stalled reader another period.
    armIdle(std::min<Milliseconds>(server_.listen().idle_timeout, kProgressCheck));
    return;
  }
  if (state_ == State::Relaying && paused_) {
    relayAbort();  // the client stopped reading: free the upstream connection it holds
  } else if (state_ == State::Reading || state_ == State::Closing || state_ == State::Lingering ||
             (state_ == State::Streaming && paused_)) {
    closeNow();
  }
}

void ClientConnection::armForNextRequest() {
  evbuffer* in = bufferevent_get_input(bev_.get());
  awaiting_bytes_ = evbuffer_get_length(in) == 0;
  if (awaiting_bytes_) {
    armIdle();
  } else {
    timer_.arm(server_.listen().header_timeout);
  }
}

void ClientConnection::processInput() {
  if (in_process_ || !bev_) return;
  in_process_ = true;
  evbuffer* in = bufferevent_get_input(bev_.get());
  size_t pull_budget = kTlsPullPerTurn;
  while (bev_ != nullptr) {
    if (state_ == State::Busy || state_ == State::Relaying) {
      if (evbuffer_get_length(in) > kBusyInputLimit) readOff();
      break;
    }
    if (state_ == State::Streaming) {
      // The SSE client has nothing more to say; discard (bounded) what it sends.
      if (evbuffer_get_length(in) > kStreamInputLimit) {
        closeNow();
        break;
      }
      evbuffer_drain(in, evbuffer_get_length(in));
      break;
    }
    if (state_ != State::Reading) {
      lingered_bytes_ += evbuffer_get_length(in);  // Closing or Lingering
      evbuffer_drain(in, evbuffer_get_length(in));
      if (lingered_bytes_ > (linger_limit_ != 0 ? linger_limit_ : kLingerBytes)) closeNow();
      break;
    }
    if (!parser_.headComplete() && outputBlocked()) break;
    size_t avail = evbuffer_get_length(in);
    if (avail == 0) avail = pullTlsBuffered(bev_.get(), &pull_budget);  // OpenSSL read ahead
    if (avail == 0) break;
    if (awaiting_bytes_) {
      awaiting_bytes_ = false;
      // The first head shares the timer armed at accept with the TLS handshake; later heads
      // get header_timeout from their first byte. Never re-armed while the head trickles in.
      if (!first_head_) timer_.arm(server_.listen().header_timeout);
      first_head_ = false;
    }
    evbuffer_iovec vec;
    if (evbuffer_peek(in, -1, nullptr, &vec, 1) < 1) break;
    size_t used = 0;
    bool was_head = parser_.headComplete();
    codec::ParseStatus st =
        parser_.feed(static_cast<const char*>(vec.iov_base), vec.iov_len, &used);
    evbuffer_drain(in, used);
    if (st == codec::ParseStatus::Error) {
      record_ = AccessRecord{};
      record_.request_id = server_.nextRequestId();
      linger_limit_ = kRefusedLingerBytes;  // e.g. a 413: its body is not read either
      record_.method = parser_.headComplete() ? codec::methodName(parser_.method()) : "";
      record_.source_ip = peer_.ip;
      record_.reason = "bad_request";
      HttpResponse r = errorResponse(parser_.errorStatus(), parser_.errorMessage());
      r.close = true;
      respond(std::move(r));
      break;
    }
    if (!was_head && parser_.headComplete() && onHead(st)) continue;
    if (st == codec::ParseStatus::Complete) {
      serveRequest();
      continue;
    }
    if (used == 0 && st != codec::ParseStatus::HeadComplete) break;
  }
  in_process_ = false;
}

bool ClientConnection::onHead(codec::ParseStatus st) {
  record_ = AccessRecord{};
  record_pending_ = true;
  record_.started = std::chrono::steady_clock::now();
  record_.request_id = server_.nextRequestId();
  // A client's own id is kept (logged, never sent back) only when it is 1-64 characters of
  // [A-Za-z0-9._-]: anything else could forge log fields or carry data.
  if (auto id = parser_.header("x-request-id");
      id && parser_.headerCount("x-request-id") == 1 && !id->empty() && id->size() <= 64 &&
      id->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
          std::string_view::npos) {
    record_.client_request_id = std::string(*id);
  }
  admission_ = server_.router().admit(parser_, peer_, record_);
  if (!admission_.refusal && admission_.entry != nullptr) {
    admission_.refusal = attributeTo(*admission_.entry->config);
  }
  const bool body_follows = st == codec::ParseStatus::HeadComplete;
  if (!admission_.refusal && body_follows) {
    const uint64_t want = parser_.contentLength().value_or(server_.listen().max_body_bytes);
    const uint64_t total = server_.listen().max_buffered_bytes;
    switch (server_.reserveBody(want, client_)) {
      case GatewayServer::BodyReserve::Ok:
        reserved_body_ = want;
        reserved_for_ = client_;
        break;
      case GatewayServer::BodyReserve::TotalFull:
        record_.reason = "max_buffered_bytes";
        admission_.refusal =
            errorResponse(503, "ERR too many request bodies in flight (listen.max_buffered_bytes " +
                                   std::to_string(total) + "), retry later");
        break;
      case GatewayServer::BodyReserve::ClientShareFull:
        record_.reason = "max_buffered_bytes";
        record_.decision = "deny";
        admission_.refusal = errorResponse(
            429,
            "ERR too many request bodies of this client in flight (its share, half of "
            "listen.max_buffered_bytes " +
                std::to_string(total) + "), retry later");
        break;
    }
    if (admission_.refusal) admission_.refusal->headers.emplace_back("Retry-After", "1");
  }
  if (admission_.refusal) {
    // Answered from the head alone; a body that follows is never read (nor 100 Continue sent).
    timer_.cancel();
    state_ = State::Busy;
    keep_alive_ = !body_follows && parser_.keepAlive() && !draining_;
    head_request_ = parser_.method() == codec::HttpMethod::Head;
    HttpResponse r = std::move(*admission_.refusal);
    admission_ = Admission{};
    if (body_follows) {
      r.close = true;
      linger_limit_ = kRefusedLingerBytes;
    }
    respond(std::move(r));
    return true;
  }
  if (body_follows) {
    // The body has idle_timeout in total (from the end of the head, never re-armed by progress).
    timer_.arm(server_.listen().idle_timeout);
    if (parser_.expectContinue()) {
      static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
      writeThrough(bev_.get(), k100);
    }
  }
  return false;
}

std::optional<HttpResponse> ClientConnection::attributeTo(const conf::ClientConfig& client) {
  const std::string& name = client.spec.name;
  if (name == client_) return std::nullopt;
  // Default share: half of the listener's connections, so one client never takes them all.
  uint64_t limit = client.limits.max_connections;
  if (limit == 0) limit = std::max<uint64_t>(1, server_.listen().max_connections / 2);
  if (!server_.attachClient(name, limit)) {
    record_.reason = "max_connections";
    record_.decision = "deny";
    HttpResponse r = errorResponse(429,
                                   "ERR too many connections for this client "
                                   "(limits.max_connections " +
                                       std::to_string(limit) + ")");
    r.headers.emplace_back("Retry-After", "1");
    r.close = true;
    return r;
  }
  // A connection counts for the client it last authenticated as (a backend may send several
  // clients' credentials over one pooled connection).
  if (!client_.empty()) server_.detachClient(client_);
  client_ = name;
  leaveAnonymous();
  return std::nullopt;
}

void ClientConnection::releaseBody() {
  if (reserved_body_ == 0) return;
  server_.releaseBody(reserved_body_, reserved_for_);
  reserved_body_ = 0;
  reserved_for_.clear();
}

bool ClientConnection::outputBlocked() {
  if (output_blocked_) return true;
  if (evbuffer_get_length(bufferevent_get_output(bev_.get())) <= kOutputHighWater) return false;
  output_blocked_ = true;
  readOff();
  bufferevent_setwatermark(bev_.get(), EV_WRITE, kOutputLowWater, 0);
  armIdle();  // a client that never reads is closed
  return true;
}

void ClientConnection::serveRequest() {
  timer_.cancel();
  state_ = State::Busy;
  keep_alive_ = parser_.keepAlive() && !draining_;
  head_request_ = parser_.method() == codec::HttpMethod::Head;
  // The head was admitted before its body arrived, maybe long ago: a credential revoked,
  // expired or removed, or a grant narrowed, meanwhile must not act. Admitted again from the
  // same head when anything the decision relied on changed.
  const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  if (admission_.entry != nullptr && !server_.router().admissionCurrent(admission_, now_s)) {
    admission_ = server_.router().admit(parser_, peer_, record_);
    if (!admission_.refusal && admission_.entry != nullptr) {
      admission_.refusal = attributeTo(*admission_.entry->config);
    }
    if (admission_.refusal) {
      HttpResponse r = std::move(*admission_.refusal);
      admission_ = Admission{};
      respond(std::move(r));
      return;
    }
  }
  server_.router().route(parser_, std::move(admission_), *this);
  admission_ = Admission{};
}

std::string ClientConnection::headFor(const HttpResponse& resp, std::optional<uint64_t> length,
                                      bool keep_alive, bool chunked, size_t room) {
  if (record_.request_id.empty()) record_.request_id = server_.nextRequestId();  // before any head
  const std::string sync = server_.router().nextSyncToken(record_.client);
  // Appended piece by piece into one buffer: a head built from temporaries allocated about ten
  // times per response (measured).
  std::string head;
  head.reserve(256 + resp.content_type.size() + room);
  const auto line = [&head](std::string_view name, std::string_view value) {
    head.append(name).append(": ").append(value).append("\r\n");
  };
  head.append("HTTP/1.1 ").append(std::to_string(resp.status)).append(" ");
  head.append(reasonPhrase(resp.status)).append("\r\n");
  if (!resp.content_type.empty()) line("Content-Type", resp.content_type);
  if (length) line("Content-Length", std::to_string(*length));
  if (chunked) head.append("Transfer-Encoding: chunked\r\n");
  // Both modes: the client's own counter (an upstream's token never reaches a client).
  line("upstash-sync-token", sync);
  line("X-Request-Id", record_.request_id);
  for (const auto& [k, v] : resp.headers) line(k, v);
  head.append(keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
  return head;
}

void ClientConnection::finishRecord(int status, size_t bytes_out) {
  record_pending_ = false;
  record_.status = status;
  record_.bytes_out = bytes_out;
  if (record_.source_ip.empty()) record_.source_ip = peer_.ip;
  writeAccessRecord(record_);
  server_.router().audit(record_);
  server_.router().noteResponse(record_);
}

void ClientConnection::respond(HttpResponse resp) {
  if (!bev_ || state_ == State::Closed || state_ == State::Closing) return;
  // A response no client's CORS headers went on (a 401, a 413, a refusal before the credential
  // was read) still carries them for an Origin some client allows (attack round 21: a browser
  // saw an expired token's 401 as a network error, and its SDK retried it five times).
  if (parser_.headComplete() &&
      std::none_of(resp.headers.begin(), resp.headers.end(), [](const auto& h) {
        return ascii::equalsIgnoreCase(h.first, "access-control-allow-origin");
      })) {
    for (auto& h : server_.router().corsHeaders(parser_)) resp.headers.push_back(std::move(h));
  }
  // A 401, and any refusal of a request no client was admitted for, ends its connection: each
  // answer is logged and audited, and a refused connection that went on being served turned
  // 10.4 MB of pipelined requests into 127 MiB of audit and access lines in 5 s (attack round
  // 24). A new connection costs a handshake and counts against its address's
  // listen.max_unauthenticated_per_address. An admitted client's refusals (its 403s, its quota)
  // and an unauthenticated preflight keep the connection.
  const bool refused_unknown = resp.status == 401 || (resp.status >= 400 && record_.client.empty());
  bool keep = keep_alive_ && !resp.close && !draining_ && !refused_unknown;
  bool with_length = resp.status != 204 && resp.status != 304;
  const bool with_body = !head_request_ && with_length && !resp.body.empty();
  const bool coalesce = with_body && resp.body.size() <= kCoalesceBytes;
  std::string out =
      headFor(resp, with_length ? std::optional<uint64_t>(resp.body.size()) : std::nullopt, keep,
              /*chunked=*/false, coalesce ? resp.body.size() : 0);
  // One write (one TLS record) for a small response; a large body is not copied.
  if (coalesce) out += resp.body;
  writeThrough(bev_.get(), out);
  if (with_body && !coalesce) writeThrough(bev_.get(), resp.body);
  finishRecord(resp.status, resp.body.size());
  completeRequest(keep);
}

void ClientConnection::completeRequest(bool keep) {
  if (!keep) {
    closeAfterFlush();
    return;
  }
  releaseBody();
  parser_.reset();
  scratch_.trim();
  state_ = State::Reading;
  readOn();
  armForNextRequest();
  if (!in_process_) processInput();
}

void ClientConnection::holdRequest(RequestHandle handle) { pending_ = std::move(handle); }

void ClientConnection::holdSource(StreamSourcePtr sub) {
  source_ = std::move(sub);
  if (!source_ && state_ == State::Busy) {
    respond(errorResponse(503, "ERR too many subscriptions"));
  }
}

void ClientConnection::beginStream(HttpResponse head) {
  if (!bev_ || state_ != State::Busy) return;
  state_ = State::Streaming;
  writeThrough(bev_.get(), headFor(head, std::nullopt, false));
  finishRecord(head.status, 0);
  bufferevent_setwatermark(bev_.get(), EV_WRITE, kStreamLowWater, 0);
  readOn();
}

void ClientConnection::streamWrite(std::string_view bytes) {
  if (!bev_ || state_ != State::Streaming) return;
  writeThrough(bev_.get(), bytes);
  noteOutput();
}

void ClientConnection::streamWriteShared(std::shared_ptr<const std::string> bytes) {
  if (!bev_ || state_ != State::Streaming) return;
  // A reference costs a buffer chain and a holder, a few hundred bytes: for a small message a
  // copy is smaller (attack round 25: 1-byte messages to 1,000 stalled streams by reference
  // grew keyward to 3.3 GB while each stream's output counted 20 bytes a message).
  if (bytes->size() < kSharedWriteBytes) return streamWrite(*bytes);
  adding_shared_ = true;
  writeThroughShared(bev_.get(), std::move(bytes));
  adding_shared_ = false;
  noteOutput();
}

void ClientConnection::relayBegin(HttpResponse head, std::optional<uint64_t> length) {
  if (!bev_ || state_ != State::Busy) return;
  state_ = State::Relaying;
  relay_keep_ = keep_alive_ && !head.close && !draining_;
  relay_chunked_ = !length.has_value();
  writeThrough(bev_.get(), headFor(head, length, relay_keep_, relay_chunked_));
  record_.status = head.status;
  bufferevent_setwatermark(bev_.get(), EV_WRITE, kStreamLowWater, 0);
}

void ClientConnection::relayWrite(std::string_view bytes) {
  if (!bev_ || state_ != State::Relaying || bytes.empty()) return;
  record_.bytes_out += bytes.size();
  if (head_request_) return;  // HEAD: the head only, the body is counted but never sent
  if (relay_chunked_) {
    char size_line[24];
    int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", bytes.size());
    std::string chunk;
    chunk.reserve(static_cast<size_t>(n) + bytes.size() + 2);
    chunk.append(size_line, static_cast<size_t>(n)).append(bytes).append("\r\n");
    writeThrough(bev_.get(), chunk);
  } else {
    writeThrough(bev_.get(), bytes);
  }
  noteOutput();
}

void ClientConnection::noteOutput() {
  if (!paused_ && evbuffer_get_length(bufferevent_get_output(bev_.get())) > kStreamHighWater) {
    paused_ = true;
    if (source_) source_->pause();
    // A stream or relay whose client stops reading is closed after idle_timeout without
    // progress (the paused source, perhaps a pooled upstream connection, is released).
    armIdle();
  }
}

void ClientConnection::relayEnd() {
  if (!bev_ || state_ != State::Relaying) return;
  if (relay_chunked_ && !head_request_) writeThrough(bev_.get(), "0\r\n\r\n");
  source_.reset();
  paused_ = false;
  bufferevent_setwatermark(bev_.get(), EV_WRITE, 0, 0);
  finishRecord(record_.status, record_.bytes_out);
  state_ = State::Busy;
  completeRequest(relay_keep_);
}

void ClientConnection::relayAbort() {
  if (state_ != State::Relaying) return;
  finishRecord(record_.status, record_.bytes_out);
  closeNow();
}

void ClientConnection::endStream() {
  if (state_ != State::Streaming) return;
  if (source_) source_->close();
  closeAfterFlush();
}

void ClientConnection::closeAfterFlush() {
  if (!bev_) return;
  state_ = State::Closing;
  // Keep reading (and discarding) while the response flushes: unread input at close() makes
  // the kernel reset the connection, and the client may then never see the response.
  readOn();
  bufferevent_setwatermark(bev_.get(), EV_WRITE, 0, 0);
  if (evbuffer_get_length(bufferevent_get_output(bev_.get())) == 0) {
    linger();
    return;
  }
  // A client that never reads must not hold the connection forever.
  armIdle();
}

void ClientConnection::linger() {
  if (!bev_ || state_ == State::Closed) return;
  state_ = State::Lingering;
  releaseBody();
  evutil_socket_t fd = bufferevent_getfd(bev_.get());
  if (fd < 0 || ::shutdown(fd, SHUT_WR) != 0) {
    closeNow();
    return;
  }
  readOn();
  timer_.arm(kLingerTime);
}

void ClientConnection::closeNow(const char* reason) {
  if (state_ == State::Closed) return;
  // The client left before its answer (or mid-relay): the request may have run upstream, so it
  // is recorded all the same (found by the attack run: an early close hid writes from the audit).
  if (record_pending_) {
    record_.reason = reason;
    finishRecord(kClientClosedStatus, record_.bytes_out);
  }
  state_ = State::Closed;
  timer_.cancel();
  releaseBody();
  if (!client_.empty()) server_.detachClient(client_);
  client_.clear();
  leaveAnonymous();
  quota_wait_.reset();
  pending_.cancel();
  if (source_) source_->close();
  detachOutput();
  direct_read_.reset();
  if (bev_) {
    bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
    bufferevent_setcb(bev_.get(), nullptr, nullptr, nullptr, nullptr);
    bev_.reset();
  }
  server_.release(this);
}

}  // namespace kw::proxy
