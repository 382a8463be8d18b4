// The client listener: binds listen.address, accepts (TLS or plaintext), owns the connections.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "conf/config.h"
#include "policy/result.h"
#include "proxy/io/event_loop.h"

namespace kw::proxy {

class RequestRouter;

class ClientConnection;

class GatewayServer {
 public:
  // `tls_ctx` null = plaintext. The router must outlive the server.
  static Result<std::unique_ptr<GatewayServer>> create(event_base* base,
                                                       const conf::ListenConfig& listen,
                                                       RequestRouter& router, SslCtxPtr tls_ctx);
  ~GatewayServer();
  GatewayServer(const GatewayServer&) = delete;
  GatewayServer& operator=(const GatewayServer&) = delete;

  // A new request id (X-Request-Id, access records): 32 lowercase hex characters, a random
  // per-process prefix and a counter, so ids never repeat within a process and two replicas'
  // ids do not collide.
  [[nodiscard]] std::string nextRequestId();

  // "host:port" actually bound (the real port when the config said :0).
  [[nodiscard]] const std::string& boundAddress() const { return bound_; }
  [[nodiscard]] bool tls() const { return tls_ctx_ != nullptr; }
  [[nodiscard]] size_t connectionCount() const { return connections_.size(); }

  // Stops accepting and closes idle connections; `on_drained` runs (from the loop) once the
  // last connection is gone.
  void beginDrain(std::function<void()> on_drained);
  // New connections use `ctx` (reload of listen.tls certificates); existing ones keep theirs.
  // Ignored for a plaintext listener.
  void setTlsContext(SslCtxPtr ctx) {
    if (tls_ctx_ && ctx) tls_ctx_ = std::move(ctx);
  }
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
  enum class BodyReserve : uint8_t { Ok, TotalFull, ClientShareFull };
  [[nodiscard]] BodyReserve reserveBody(uint64_t bytes, const std::string& client);
  void releaseBody(uint64_t bytes, const std::string& client);
  [[nodiscard]] uint64_t bufferedBytes() const { return buffered_bytes_; }
  // clients[].limits.max_connections: a connection counts for the client it last authenticated
  // as. False when `client` already has `limit` connections.
  [[nodiscard]] bool attachClient(const std::string& client, uint64_t limit);
  void detachClient(const std::string& client);
  [[nodiscard]] uint64_t clientConnections(const std::string& client) const;
  // listen.max_output_bytes: unsent response bytes in all connections' output buffers (kept
  // exact by each connection's evbuffer callback). Over the bound, a deferred pass closes the
  // biggest holders, stalled readers first, until the total fits (never from inside a write).
  void noteOutput(size_t added, size_t deleted);
  [[nodiscard]] uint64_t outputBytes() const { return output_bytes_; }
  [[nodiscard]] uint64_t outputShed() const { return output_shed_; }
  // listen.max_unauthenticated_per_address: a connection is anonymous from accept until it first
  // counts for a client; accept() refuses one more from an address (IPv4, IPv6 /64) at the
  // bound. A connection gives its place back here, once, by the key accept() handed it.
  void leaveAnonymous(const std::string& key);
  [[nodiscard]] uint64_t anonymousRefused() const { return anonymous_refused_; }
  // Client connections taken on (each a TCP accept that became a connection).
  [[nodiscard]] uint64_t accepted() const { return accepted_; }

 private:
  GatewayServer(event_base* base, const conf::ListenConfig& listen, RequestRouter& router,
                SslCtxPtr tls_ctx);
  uint64_t request_id_prefix_ = 0;
  uint64_t request_counter_ = 0;
  static void onAccept(evconnlistener* l, int fd, sockaddr* addr, int len, void* arg);
  static void onAcceptError(evconnlistener* l, void* arg);
  void accept(int fd, sockaddr* addr, int len);
  void reap();
  void shedOutput();

  event_base* base_;
  conf::ListenConfig listen_;
  RequestRouter& router_;
  SslCtxPtr tls_ctx_;
  ListenerPtr listener_;
  std::string bound_;
  uint64_t buffered_bytes_ = 0;
  uint64_t output_bytes_ = 0;
  uint64_t output_shed_ = 0;  // connections closed by shedOutput()
  std::unordered_map<std::string, uint64_t> client_connections_;    // only clients with some
  std::unordered_map<std::string, uint64_t> anonymous_by_address_;  // only addresses with some
  std::unordered_map<std::string, uint64_t> buffered_by_client_;    // only clients with some
  uint64_t anonymous_refused_ = 0;
  uint64_t accepted_ = 0;
  std::unordered_map<ClientConnection*, std::unique_ptr<ClientConnection>> connections_;
  std::vector<std::unique_ptr<ClientConnection>> graveyard_;
  Timer reaper_;
  Timer shed_;          // runs shedOutput() from the loop
  Timer accept_retry_;  // re-enables the listener after EMFILE/ENFILE
  bool draining_ = false;
  std::function<void()> on_drained_;
};

}  // namespace kw::proxy
