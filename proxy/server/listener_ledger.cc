// The process-wide listen.* accounting; see listener_ledger.h.
#include "proxy/server/listener_ledger.h"

#include <event2/util.h>
#include <netinet/in.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

namespace kw::proxy {

HandedConnection::HandedConnection(ListenerLedger& l, int socket, const sockaddr* a,
                                   std::string key)
    : ledger(l), fd(socket), anonymous_key(std::move(key)) {
  std::memcpy(&addr, a, a->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
}

HandedConnection::~HandedConnection() {
  if (handed) ledger.handOffDone();
  if (fd < 0) return;
  evutil_closesocket(fd);
  if (!anonymous_key.empty()) ledger.leaveAnonymous(anonymous_key);
}

int HandedConnection::take() {
  if (std::exchange(handed, false)) ledger.handOffDone();
  return std::exchange(fd, -1);
}

ListenerLedger::ListenerLedger(const conf::ListenConfig& listen, SslCtxPtr tls_ctx)
    : listen_(listen), tls_(tls_ctx != nullptr), tls_ctx_(std::move(tls_ctx)) {
  for (auto& oldest : oldest_unauthenticated_) oldest.store(kNoneUnauthenticated);
}

uint32_t ListenerLedger::addWorker(Adopt adopt) {
  adopters_.push_back(std::move(adopt));
  return static_cast<uint32_t>(adopters_.size() - 1);
}

bool ListenerLedger::handOff(uint32_t from, std::shared_ptr<HandedConnection>& h,
                             int64_t older_than) {
  size_t best = adopters_.size();
  int64_t best_since = older_than;
  for (size_t i = 0; i < adopters_.size(); ++i) {
    const int64_t since = oldest_unauthenticated_[i].load();
    if (i != from && since < best_since) {
      best = i;
      best_since = since;
    }
  }
  if (best == adopters_.size()) return false;
  if (handed_.fetch_add(1) >= kMaxHandOffs) {
    handed_.fetch_sub(1);
    return false;
  }
  h->handed = true;
  adopters_[best](std::move(h));
  return true;
}

bool ListenerLedger::takeConnection() {
  uint64_t n = connections_.load();
  do {
    if (n >= listen_.max_connections) return false;
  } while (!connections_.compare_exchange_weak(n, n + 1));
  return true;
}

void ListenerLedger::dropConnection() { connections_.fetch_sub(1); }

bool ListenerLedger::enterAnonymous(const std::string& key, uint64_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t& n = anonymous_by_address_[key];
  if (n >= limit) {
    if (n == 0) anonymous_by_address_.erase(key);
    ++anonymous_refused_;
    return false;
  }
  ++n;
  return true;
}

void ListenerLedger::leaveAnonymous(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = anonymous_by_address_.find(key);
  if (it == anonymous_by_address_.end()) return;
  if (--it->second == 0) anonymous_by_address_.erase(it);
}

ListenerLedger::BodyReserve ListenerLedger::reserveBody(uint64_t bytes, const std::string& client) {
  const uint64_t total = listen_.max_buffered_bytes;
  std::lock_guard<std::mutex> lock(mu_);
  if (bytes > total - std::min(buffered_bytes_, total)) return BodyReserve::TotalFull;
  const uint64_t share = std::max<uint64_t>(1, total / 2);
  uint64_t& mine = buffered_by_client_[client];
  if (bytes > share - std::min(mine, share)) {
    if (mine == 0) buffered_by_client_.erase(client);
    return BodyReserve::ClientShareFull;
  }
  mine += bytes;
  buffered_bytes_ += bytes;
  return BodyReserve::Ok;
}

void ListenerLedger::releaseBody(uint64_t bytes, const std::string& client) {
  std::lock_guard<std::mutex> lock(mu_);
  buffered_bytes_ -= std::min(bytes, buffered_bytes_);
  auto it = buffered_by_client_.find(client);
  if (it == buffered_by_client_.end()) return;
  it->second -= std::min(bytes, it->second);
  if (it->second == 0) buffered_by_client_.erase(it);
}

uint64_t ListenerLedger::bufferedBytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buffered_bytes_;
}

bool ListenerLedger::attachClient(const std::string& client, uint64_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t& n = client_connections_[client];
  if (n >= limit) {
    if (n == 0) client_connections_.erase(client);
    return false;
  }
  ++n;
  return true;
}

void ListenerLedger::detachClient(const std::string& client) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = client_connections_.find(client);
  if (it == client_connections_.end()) return;
  if (--it->second == 0) client_connections_.erase(it);
}

uint64_t ListenerLedger::clientConnections(const std::string& client) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = client_connections_.find(client);
  return it == client_connections_.end() ? 0 : it->second;
}

uint64_t ListenerLedger::noteOutput(size_t added, size_t deleted) {
  // Each connection's own bytes are counted exactly by its evbuffer callback, so the sum never
  // goes below zero; the clamp only guards against a miscount.
  uint64_t n = output_bytes_.load();
  uint64_t next = 0;
  do {
    next = n + added;
    next -= std::min<uint64_t>(deleted, next);
  } while (!output_bytes_.compare_exchange_weak(n, next));
  return next;
}

void ListenerLedger::askWorkersToShed() {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = last_shed_ask_ms_.load();
  if (now - last < 5 || !last_shed_ask_ms_.compare_exchange_strong(last, now)) return;
  for (const auto& wake : shed_wakers_) wake();
}

SslPtr ListenerLedger::newSsl() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!tls_ctx_) return nullptr;
  return SslPtr(SSL_new(tls_ctx_.get()));
}

void ListenerLedger::setTlsContext(SslCtxPtr ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  if (tls_ctx_ && ctx) tls_ctx_ = std::move(ctx);
}

}  // namespace kw::proxy
