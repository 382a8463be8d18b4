// Binds the client listener, accepts connections (TLS or plaintext) and tracks them to drain.
#include "proxy/server/gateway_server.h"

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

#include "policy/ascii.h"
#include "proxy/io/access_log.h"
#include "proxy/io/tls_read_ahead.h"
#include "proxy/quota/quota_ledger.h"
#include "proxy/router/request_router.h"
#include "proxy/server/client_connection.h"

namespace kw::proxy {

namespace {

PeerInfo peerFrom(const sockaddr* addr) {
  PeerInfo p;
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    p.ip16[10] = 0xff;
    p.ip16[11] = 0xff;
    std::memcpy(p.ip16.data() + 12, &in->sin_addr, 4);
  } else if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    std::memcpy(p.ip16.data(), &in6->sin6_addr, 16);
  }
  p.ip = buf;
  return p;
}

}  // namespace

GatewayServer::GatewayServer(event_base* base, const conf::ListenConfig& listen,
                             RequestRouter& router, std::unique_ptr<ListenerLedger> owned,
                             ListenerLedger& ledger)
    : base_(base),
      listen_(listen),
      router_(router),
      owned_ledger_(std::move(owned)),
      ledger_(ledger),
      reaper_(base, [this] { reap(); }),
      shed_(base, [this] { shedOutput(); }),
      accept_retry_(base, [this] {
        if (listener_) evconnlistener_enable(listener_.get());
      }) {
  unsigned char key[16] = {};
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&request_id_prefix_),
                 sizeof request_id_prefix_) != 1 ||
      RAND_bytes(key, sizeof key) != 1) {
    request_id_prefix_ = static_cast<uint64_t>(
        std::chrono::system_clock::now().time_since_epoch().count());  // still unique per process
  }
  request_id_cipher_.reset(EVP_CIPHER_CTX_new());
  if (!request_id_cipher_ ||
      EVP_EncryptInit_ex(request_id_cipher_.get(), EVP_aes_128_ecb(), nullptr, key, nullptr) != 1) {
    throw std::bad_alloc();  // no cipher context: out of memory
  }
  EVP_CIPHER_CTX_set_padding(request_id_cipher_.get(), 0);
  OPENSSL_cleanse(key, sizeof key);
}

void GatewayServer::CipherFree::operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }

std::string GatewayServer::nextRequestId() {
  uint64_t block[2] = {request_id_prefix_, ++request_counter_};
  unsigned char out[32];
  int n = 0;
  if (EVP_EncryptUpdate(request_id_cipher_.get(), out, &n, reinterpret_cast<unsigned char*>(block),
                        sizeof block) != 1 ||
      n != sizeof block) {
    std::memcpy(out, block, sizeof block);  // never: AES-ECB on one whole block
  }
  // 32 lowercase hex digits (once per request: no printf).
  std::string id(32, '0');
  for (size_t i = 0; i < sizeof block; ++i) {
    id[2 * i] = "0123456789abcdef"[out[i] >> 4];
    id[2 * i + 1] = "0123456789abcdef"[out[i] & 0xf];
  }
  return id;
}

GatewayServer::~GatewayServer() {
  listener_.reset();
  closeAll();
}

Result<std::unique_ptr<GatewayServer>> GatewayServer::create(event_base* base,
                                                             const conf::ListenConfig& listen,
                                                             RequestRouter& router,
                                                             SslCtxPtr tls_ctx) {
  auto owned = std::make_unique<ListenerLedger>(listen, std::move(tls_ctx));
  ListenerLedger& ledger = *owned;
  std::unique_ptr<GatewayServer> s(
      new GatewayServer(base, listen, router, std::move(owned), ledger));
  if (Status st = s->bind(listen.address.port, false); !st) return st.error();
  return s;
}

Result<std::unique_ptr<GatewayServer>> GatewayServer::create(event_base* base,
                                                             const conf::ListenConfig& listen,
                                                             RequestRouter& router,
                                                             ListenerLedger& ledger, uint16_t port,
                                                             bool reuse_port) {
  std::unique_ptr<GatewayServer> s(new GatewayServer(base, listen, router, nullptr, ledger));
  if (Status st = s->bind(port, reuse_port); !st) return st.error();
  return s;
}

Status GatewayServer::bind(uint16_t port_number, bool reuse_port) {
  const conf::ListenConfig& listen = listen_;
  std::string host = listen.address.host.empty() ? "0.0.0.0" : listen.address.host;
  evutil_addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG;
  evutil_addrinfo* res = nullptr;
  std::string port = std::to_string(port_number);
  unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
  if (reuse_port) flags |= LEV_OPT_REUSEABLE_PORT;
  if (evutil_getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return Error{ErrorCode::Io, "cannot resolve listen address " + listen.address.text};
  }
  evconnlistener* l = nullptr;
  int last_errno = 0;
  for (evutil_addrinfo* ai = res; ai != nullptr && l == nullptr; ai = ai->ai_next) {
    l = evconnlistener_new_bind(base_, onAccept, this, flags, 1024, ai->ai_addr,
                                static_cast<int>(ai->ai_addrlen));
    if (l == nullptr) last_errno = errno;
  }
  evutil_freeaddrinfo(res);
  if (l == nullptr) {
    return Error{ErrorCode::Io,
                 "cannot listen on " + listen.address.text + ": " + std::strerror(last_errno)};
  }
  listener_.reset(l);
  evconnlistener_set_error_cb(l, onAcceptError);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(evconnlistener_get_fd(l), reinterpret_cast<sockaddr*>(&ss), &len);
  PeerInfo bound = peerFrom(reinterpret_cast<sockaddr*>(&ss));
  uint16_t bport = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                            : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  bound_ = ascii::hostPort(bound.ip, bport);
  bound_port_ = bport;
  return Ok{};
}

void GatewayServer::onAccept(evconnlistener* /*l*/, int fd, sockaddr* addr, int len, void* arg) {
  static_cast<GatewayServer*>(arg)->accept(fd, addr, len);
}

void GatewayServer::onAcceptError(evconnlistener* l, void* arg) {
  // Out of descriptors (or another accept failure): pause accepting briefly instead of spinning.
  auto* self = static_cast<GatewayServer*>(arg);
  int err = EVUTIL_SOCKET_ERROR();
  evconnlistener_disable(l);
  self->accept_retry_.arm(Milliseconds(100));
  logEvent("accept_error", {{"error", evutil_socket_error_to_string(err)}});
}

bool GatewayServer::takeConnection() {
  if (ledger_.takeConnection()) return true;
  // Full. Connections that never authenticate must not lock every client out (attack round 14:
  // a few addresses, each within max_unauthenticated_per_address, held all the slots with idle
  // TCP connections): the one that has gone longest without counting for a client makes room
  // (accept() hands the newcomer to the worker holding it when that is not this one). A client's
  // handshake and first head take milliseconds, so the oldest is nearly always a holder's, and
  // a holder that keeps opening connections closes its own. Connections that authenticated are
  // never closed for a newcomer; at most one is closed per accept.
  if (unauthenticated_.empty()) return false;
  ClientConnection* oldest = unauthenticated_.front().conn;
  oldest->evict();  // leaves the list and gives its place back
  ledger_.noteEvicted();
  return ledger_.takeConnection();  // another worker may have taken the place meanwhile
}

void GatewayServer::accept(int fd, sockaddr* addr, int /*len*/) {
  if (draining_) {
    evutil_closesocket(fd);
    return;
  }
  PeerInfo peer = peerFrom(addr);
  // Before a connection belongs to a client, nothing but its address tells holders apart: one
  // address may not hold more than its share of the slots with handshakes and unfinished heads.
  // Checked first, so an address over its share never closes another's connection.
  std::string anonymous_key;
  if (!router_.isTrustedProxy(peer)) {
    uint64_t limit = listen_.max_unauthenticated_per_address;
    if (limit == 0) limit = std::max<uint64_t>(1, listen_.max_connections / 2);
    // Counted per IPv4 address or IPv6 /64, as per_identity_rate counts anonymous callers.
    anonymous_key = identityKey({}, peer.ip16);
    if (!ledger_.enterAnonymous(anonymous_key, limit)) {
      evutil_closesocket(fd);
      return;
    }
  }
  if (!ledger_.takeConnection()) {
    // Full. When the process's oldest unauthenticated connection is another worker's, that
    // worker closes it and serves this one (or, with none left by then, closes this one):
    // otherwise idle connections kept on one worker would have newcomers on another close each
    // other's handshakes (attack round 15).
    const int64_t mine = unauthenticated_.empty() ? ListenerLedger::kNoneUnauthenticated
                                                  : unauthenticated_.front().since_us;
    auto handed = std::make_shared<HandedConnection>(ledger_, fd, addr, std::move(anonymous_key));
    if (worker_ >= 0 && ledger_.handOff(static_cast<uint32_t>(worker_), handed, mine)) return;
    if (!takeConnection()) return;  // `handed` closes the socket, gives its anonymous place back
    fd = handed->take();
    anonymous_key = std::move(handed->anonymous_key);
  }
  startConnection(fd, std::move(peer), std::move(anonymous_key));
}

void GatewayServer::adopt(std::shared_ptr<HandedConnection> h) {
  if (draining_ || !takeConnection()) return;  // h closes the socket and gives back its place
  const PeerInfo peer = peerFrom(reinterpret_cast<const sockaddr*>(&h->addr));
  const int fd = h->take();
  startConnection(fd, peer, std::move(h->anonymous_key));
}

void GatewayServer::startConnection(int fd, PeerInfo peer, std::string anonymous_key) {
  // Every early return below gives back what was taken.
  auto giveBack = [&] {
    if (!anonymous_key.empty()) leaveAnonymous(anonymous_key);
    ledger_.dropConnection();
    evutil_closesocket(fd);
  };
  evutil_make_socket_nonblocking(fd);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bufferevent* bev = nullptr;
  if (ledger_.tls()) {
    SslPtr ssl = ledger_.newSsl();
    if (ssl == nullptr) return giveBack();
    enableTlsReadAhead(ssl.get());  // ClientConnection pulls what OpenSSL holds
    bev = bufferevent_openssl_socket_new(base_, fd, ssl.get(), BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev == nullptr) return giveBack();
    (void)ssl.release();  // the bufferevent owns it now
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  } else {
    bev = bufferevent_socket_new(base_, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == nullptr) return giveBack();
  }
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  // A trusted proxy's connection (no anonymous key) carries many clients' requests: a flood of
  // newcomers must not close it (attack round 16), so it is not in the list.
  std::optional<UnauthenticatedList::iterator> at;
  if (!anonymous_key.empty()) {
    at = unauthenticated_.insert(unauthenticated_.end(), {nullptr, now_us});  // the newest
  }
  auto conn = std::make_unique<ClientConnection>(*this, BufferEventPtr(bev), std::move(peer),
                                                 std::move(anonymous_key), at);
  ClientConnection* raw = conn.get();
  if (at) {
    (*at)->conn = raw;
    if (unauthenticated_.size() == 1) publishOldest();
  }
  connections_.emplace(raw, std::move(conn));
  ++accepted_;
  ledger_.noteAccepted();
  raw->start();
}

void GatewayServer::forgetUnauthenticated(UnauthenticatedList::iterator at) {
  const bool oldest = at == unauthenticated_.begin();
  unauthenticated_.erase(at);
  if (oldest) publishOldest();
}

void GatewayServer::publishOldest() {
  if (worker_ < 0) return;
  ledger_.noteOldestUnauthenticated(static_cast<uint32_t>(worker_),
                                    unauthenticated_.empty() ? ListenerLedger::kNoneUnauthenticated
                                                             : unauthenticated_.front().since_us);
}

void GatewayServer::release(ClientConnection* conn) {
  auto it = connections_.find(conn);
  if (it == connections_.end()) return;
  graveyard_.push_back(std::move(it->second));
  connections_.erase(it);
  ledger_.dropConnection();
  reaper_.arm(Milliseconds(0));
}

void GatewayServer::noteOutput(size_t added, size_t deleted) {
  output_bytes_ += added;
  output_bytes_ -= std::min<uint64_t>(deleted, output_bytes_);
  const uint64_t total = ledger_.noteOutput(added, deleted);
  shedIfOver(total);
}

void GatewayServer::checkOutput() { shedIfOver(ledger_.outputBytes()); }

void GatewayServer::shedIfOver(uint64_t total) {
  if (total > listen_.max_output_bytes && !shed_.armed()) shed_.arm(Milliseconds(0));
}

// Over the process's bound, each worker closes its own biggest holders while it holds more than
// its part of the bound (max_output_bytes / workers): a worker whose few small replies are not
// the cause keeps them.
void GatewayServer::shedOutput() {
  const uint64_t before = ledger_.outputBytes();
  const uint64_t part = listen_.max_output_bytes / ledger_.workers();
  uint64_t closed = 0;
  const auto now = std::chrono::steady_clock::now();
  while (ledger_.outputBytes() > listen_.max_output_bytes && output_bytes_ > part) {
    // The biggest holder among stalled readers; when none is stalled, the biggest holder.
    ClientConnection* victim = nullptr;
    bool victim_stalled = false;
    for (auto& [p, c] : connections_) {
      if (c->closed() || c->outputHeld() == 0) continue;
      const bool stalled = c->outputStalled(now);
      if (victim == nullptr || (stalled && !victim_stalled) ||
          (stalled == victim_stalled && c->outputHeld() > victim->outputHeld())) {
        victim = p;
        victim_stalled = stalled;
      }
    }
    if (victim == nullptr) break;  // nothing left to close (the total is then 0)
    victim->shed();
    ++closed;
  }
  ledger_.noteShed(closed);
  // Still over: the bytes over the bound are another worker's.
  if (ledger_.outputBytes() > listen_.max_output_bytes) ledger_.askWorkersToShed();
  if (closed != 0) {
    const uint64_t after = ledger_.outputBytes();
    logEvent("output_shed", {{"connections", std::to_string(closed)},
                             {"freed_bytes", std::to_string(before - std::min(before, after))},
                             {"held_bytes", std::to_string(after)},
                             {"max_output_bytes", std::to_string(listen_.max_output_bytes)}});
  }
}

void GatewayServer::reap() {
  auto dead = std::move(graveyard_);
  graveyard_.clear();
  dead.clear();
  if (draining_ && connections_.empty() && on_drained_) {
    auto cb = std::move(on_drained_);
    on_drained_ = nullptr;
    cb();
  }
}

void GatewayServer::beginDrain(std::function<void()> on_drained) {
  draining_ = true;
  on_drained_ = std::move(on_drained);
  listener_.reset();
  std::vector<ClientConnection*> all;
  all.reserve(connections_.size());
  for (auto& [p, c] : connections_) all.push_back(p);
  for (ClientConnection* c : all) c->drain();
  reaper_.arm(Milliseconds(0));
}

void GatewayServer::closeAll() {
  for (size_t n = connections_.size(); n != 0; --n) ledger_.dropConnection();
  connections_.clear();
  graveyard_.clear();
}

}  // namespace kw::proxy
