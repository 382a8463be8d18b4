// The client listener: binds listen.address, accepts (TLS or plaintext), owns the connections.
#pragma once

#include <openssl/evp.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "conf/config.h"
#include "policy/result.h"
#include "proxy/io/event_loop.h"
#include "proxy/server/client_connection.h"
#include "proxy/server/listener_ledger.h"

namespace kw::proxy {

class RequestRouter;

class ClientConnection;

class GatewayServer {
 public:
  // One worker's listener: binds `port` (0: any; the real one is boundAddress()), with
  // SO_REUSEPORT when `reuse_port` (every worker binds the same port). The router and the
  // ledger (shared by all workers) must outlive the server.
  static Result<std::unique_ptr<GatewayServer>> create(event_base* base,
                                                       const conf::ListenConfig& listen,
                                                       RequestRouter& router,
                                                       ListenerLedger& ledger, uint16_t port,
                                                       bool reuse_port);
  // One worker alone on listen.address. `tls_ctx` null = plaintext.
  static Result<std::unique_ptr<GatewayServer>> create(event_base* base,
                                                       const conf::ListenConfig& listen,
                                                       RequestRouter& router, SslCtxPtr tls_ctx);
  ~GatewayServer();
  GatewayServer(const GatewayServer&) = delete;
  GatewayServer& operator=(const GatewayServer&) = delete;

  // A new request id (X-Request-Id, access records): 32 lowercase hex characters, a random
  // per-worker prefix and a counter encrypted together under a random key (AES, one block), so
  // ids never repeat within a worker, do not collide across workers and replicas, and tell a
  // client nothing: not which worker answered (attack round 15 kept its idle connections on one
  // worker that way), nor how many requests others sent in between.
  [[nodiscard]] std::string nextRequestId();

  // "host:port" actually bound (the real port when the config said :0).
  [[nodiscard]] const std::string& boundAddress() const { return bound_; }
  [[nodiscard]] uint16_t boundPort() const { return bound_port_; }
  [[nodiscard]] bool tls() const { return ledger_.tls(); }
  // This worker's connections (ledger().connections(): the process's).
  [[nodiscard]] size_t connectionCount() const { return connections_.size(); }
  [[nodiscard]] ListenerLedger& ledger() { return ledger_; }
  [[nodiscard]] const ListenerLedger& ledger() const { return ledger_; }

  // Stops accepting and closes idle connections; `on_drained` runs (from the loop) once the
  // last connection is gone.
  void beginDrain(std::function<void()> on_drained);
  // New connections use `ctx` (reload of listen.tls certificates); existing ones keep theirs.
  // Ignored for a plaintext listener. Shared: every worker on the same ledger takes it.
  void setTlsContext(SslCtxPtr ctx) { ledger_.setTlsContext(std::move(ctx)); }
  // Closes every connection at once.
  void closeAll();

  // For ClientConnection.
  RequestRouter& router() { return router_; }
  event_base* base() const { return base_; }
  const conf::ListenConfig& listen() const { return listen_; }
  void release(ClientConnection* conn);  // deferred delete

  // listen.max_buffered_bytes: request bodies held at once across connections. A body is
  // reserved whole (its Content-Length, or max_body_bytes when chunked) before it is read.
  // Each client may hold at most half of it (README, Limits and shares); the result says which
  // bound refused.
  using BodyReserve = ListenerLedger::BodyReserve;
  [[nodiscard]] BodyReserve reserveBody(uint64_t bytes, const std::string& client) {
    return ledger_.reserveBody(bytes, client);
  }
  void releaseBody(uint64_t bytes, const std::string& client) {
    ledger_.releaseBody(bytes, client);
  }
  [[nodiscard]] uint64_t bufferedBytes() const { return ledger_.bufferedBytes(); }
  // clients[].limits.max_connections: a connection counts for the client it last authenticated
  // as. False when `client` already has `limit` connections.
  [[nodiscard]] bool attachClient(const std::string& client, uint64_t limit) {
    return ledger_.attachClient(client, limit);
  }
  void detachClient(const std::string& client) { ledger_.detachClient(client); }
  [[nodiscard]] uint64_t clientConnections(const std::string& client) const {
    return ledger_.clientConnections(client);
  }
  // listen.max_output_bytes: unsent response bytes in all connections' output buffers (kept
  // exact by each connection's evbuffer callback). Over the bound, a deferred pass closes the
  // biggest holders, stalled readers first, until the total fits (never from inside a write).
  void noteOutput(size_t added, size_t deleted);
  // From the loop: a shed pass soon when the process's output is over max_output_bytes (another
  // worker asked, ListenerLedger::askWorkersToShed).
  void checkOutput();
  [[nodiscard]] uint64_t outputBytes() const { return ledger_.outputBytes(); }
  [[nodiscard]] uint64_t outputShed() const { return ledger_.outputShed(); }
  // listen.max_unauthenticated_per_address: a connection is anonymous from accept until it first
  // counts for a client; accept() refuses one more from an address (IPv4, IPv6 /64) at the
  // bound. A connection gives its place back here, once, by the key accept() handed it.
  void leaveAnonymous(const std::string& key) { ledger_.leaveAnonymous(key); }
  [[nodiscard]] uint64_t anonymousRefused() const { return ledger_.anonymousRefused(); }
  // A connection that has not counted for a client yet is in a list, oldest first: at
  // listen.max_connections a new connection closes the process's oldest (accept()). It leaves
  // the list once, when it first counts for a client or closes.
  void forgetUnauthenticated(UnauthenticatedList::iterator at);
  // Multi-worker: this server is worker `index` of its ledger (ListenerLedger::addWorker).
  void setWorkerIndex(uint32_t index) { worker_ = static_cast<int32_t>(index); }
  // A connection another worker accepted and could not make room for (ListenerLedger::handOff).
  void adopt(std::shared_ptr<HandedConnection> h);
  // Client connections taken on (each a TCP accept that became a connection), by this worker.
  [[nodiscard]] uint64_t accepted() const { return accepted_; }

 private:
  GatewayServer(event_base* base, const conf::ListenConfig& listen, RequestRouter& router,
                std::unique_ptr<ListenerLedger> owned, ListenerLedger& ledger);
  Status bind(uint16_t port, bool reuse_port);
  uint64_t request_id_prefix_ = 0;
  struct CipherFree {
    void operator()(EVP_CIPHER_CTX* c) const;
  };
  std::unique_ptr<EVP_CIPHER_CTX, CipherFree> request_id_cipher_;
  uint64_t request_counter_ = 0;
  static void onAccept(evconnlistener* l, int fd, sockaddr* addr, int len, void* arg);
  static void onAcceptError(evconnlistener* l, void* arg);
  void accept(int fd, sockaddr* addr, int len);
  // A place under listen.max_connections, made by closing this worker's oldest unauthenticated
  // connection when there is none.
  [[nodiscard]] bool takeConnection();
  // Serves an accepted socket that holds a place (and its anonymous place, when keyed).
  void startConnection(int fd, PeerInfo peer, std::string anonymous_key);
  // Tells the ledger when this worker's oldest unauthenticated connection arrived.
  void publishOldest();
  void reap();
  void shedOutput();
  // A shed pass soon (deferred, once) when `total` is over listen.max_output_bytes.
  void shedIfOver(uint64_t total);

  event_base* base_;
  conf::ListenConfig listen_;
  RequestRouter& router_;
  std::unique_ptr<ListenerLedger> owned_ledger_;  // the one-worker create()'s
  ListenerLedger& ledger_;
  ListenerPtr listener_;
  std::string bound_;
  uint16_t bound_port_ = 0;
  uint64_t accepted_ = 0;
  uint64_t output_bytes_ = 0;  // this worker's part of ledger_.outputBytes()
  // Declared before the connections, which leave it as they go.
  UnauthenticatedList unauthenticated_;
  int32_t worker_ = -1;  // index in the ledger's workers; -1: alone
  std::unordered_map<ClientConnection*, std::unique_ptr<ClientConnection>> connections_;
  std::vector<std::unique_ptr<ClientConnection>> graveyard_;
  Timer reaper_;
  Timer shed_;          // runs shedOutput() from the loop
  Timer accept_retry_;  // re-enables the listener after EMFILE/ENFILE
  bool draining_ = false;
  std::function<void()> on_drained_;
};

}  // namespace kw::proxy
