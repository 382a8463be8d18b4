// ListenerLedger: the listen.* bounds of the whole process. Every worker accepts on its own
// socket (README, Workers), but max_connections, max_unauthenticated_per_address,
// max_buffered_bytes (and each client's half of it), clients' max_connections and
// max_output_bytes count what all workers hold together, so spreading connections over workers
// never multiplies a bound. The TLS context lives here too: a reload's certificate serves the
// next handshake on every worker at once.
#pragma once

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "conf/config.h"
#include "proxy/io/event_loop.h"

namespace kw::proxy {

class ListenerLedger;

// A connection accepted by a worker that could not make room for it at listen.max_connections,
// on its way to the worker holding the process's oldest unauthenticated connection. It owns the
// socket and the connection's anonymous place: unless taken, both are given back when it goes.
struct HandedConnection {
  HandedConnection(ListenerLedger& ledger, int fd, const sockaddr* addr, std::string anonymous_key);
  ~HandedConnection();
  HandedConnection(const HandedConnection&) = delete;
  HandedConnection& operator=(const HandedConnection&) = delete;
  // The socket (the caller owns it and the anonymous place from now on).
  int take();

  ListenerLedger& ledger;
  int fd;
  sockaddr_storage addr{};
  std::string anonymous_key;
  bool handed = false;  // counted in the ledger's hand-offs on their way
};

class ListenerLedger {
 public:
  // `tls_ctx` null = plaintext.
  ListenerLedger(const conf::ListenConfig& listen, SslCtxPtr tls_ctx);
  ListenerLedger(const ListenerLedger&) = delete;
  ListenerLedger& operator=(const ListenerLedger&) = delete;

  // listen.max_connections: false when the process holds that many.
  [[nodiscard]] bool takeConnection();
  void dropConnection();
  [[nodiscard]] uint64_t connections() const { return connections_.load(); }

  // listen.max_unauthenticated_per_address: false (and counted as refused) when the address
  // `key` already holds `limit` anonymous connections.
  [[nodiscard]] bool enterAnonymous(const std::string& key, uint64_t limit);
  void leaveAnonymous(const std::string& key);
  [[nodiscard]] uint64_t anonymousRefused() const { return anonymous_refused_.load(); }
  // Unauthenticated connections closed to make room at max_connections (GatewayServer::accept).
  void noteEvicted() { ++evicted_; }
  [[nodiscard]] uint64_t evicted() const { return evicted_.load(); }

  // At max_connections a new connection closes the process's oldest unauthenticated one, on
  // whichever worker holds it (attack round 15: with room made only on the accepting worker, an
  // attacker who kept its idle connections on one worker had every connection landing on the
  // other refused). Each worker registers how to hand it a connection (a post to its loop)
  // before any starts, and publishes when its oldest unauthenticated connection arrived.
  using Adopt = std::function<void(std::shared_ptr<HandedConnection>)>;
  [[nodiscard]] uint32_t addWorker(Adopt adopt);
  static constexpr int64_t kNoneUnauthenticated = std::numeric_limits<int64_t>::max();
  void noteOldestUnauthenticated(uint32_t worker, int64_t since_us) {
    oldest_unauthenticated_[worker].store(since_us);
  }
  // Hands `h` to the worker other than `from` whose oldest unauthenticated connection is the
  // oldest, when that one arrived before `older_than` (steady microseconds); false (h untouched)
  // when no other worker holds one that old, or kMaxHandOffs are already on their way (each
  // holds a socket outside max_connections until its worker's loop takes it).
  static constexpr uint32_t kMaxHandOffs = 256;
  [[nodiscard]] bool handOff(uint32_t from, std::shared_ptr<HandedConnection>& h,
                             int64_t older_than);
  void handOffDone() { handed_.fetch_sub(1); }

  enum class BodyReserve : uint8_t { Ok, TotalFull, ClientShareFull };
  [[nodiscard]] BodyReserve reserveBody(uint64_t bytes, const std::string& client);
  void releaseBody(uint64_t bytes, const std::string& client);
  [[nodiscard]] uint64_t bufferedBytes() const;

  [[nodiscard]] bool attachClient(const std::string& client, uint64_t limit);
  void detachClient(const std::string& client);
  [[nodiscard]] uint64_t clientConnections(const std::string& client) const;

  // listen.max_output_bytes: returns the process's total after the change.
  uint64_t noteOutput(size_t added, size_t deleted);
  [[nodiscard]] uint64_t outputBytes() const { return output_bytes_.load(); }
  void noteShed(uint64_t connections) { output_shed_ += connections; }
  [[nodiscard]] uint64_t outputShed() const { return output_shed_.load(); }

  void noteAccepted() { ++accepted_; }
  [[nodiscard]] uint64_t accepted() const { return accepted_.load(); }

  // Over max_output_bytes, a worker sheds only its own holders, and only above its part of the
  // bound; when the bytes over it are held by another worker that has not noticed (its own output
  // did not change since), that worker is asked to look. Each worker registers how to reach it
  // (a post to its loop) before any starts.
  void onShedWanted(std::function<void()> wake) { shed_wakers_.push_back(std::move(wake)); }
  // Asks every worker to check the output total (at most once per 5 ms).
  void askWorkersToShed();

  // How many workers share the bounds (each sheds output only above its part of the bound).
  void setWorkers(uint32_t n) { workers_ = n == 0 ? 1 : n; }
  [[nodiscard]] uint32_t workers() const { return workers_; }

  // A new server-side SSL from the current context (null for plaintext or on failure).
  [[nodiscard]] SslPtr newSsl();
  [[nodiscard]] bool tls() const { return tls_; }
  // Ignored for a plaintext listener.
  void setTlsContext(SslCtxPtr ctx);

 private:
  const conf::ListenConfig listen_;
  const bool tls_;
  uint32_t workers_ = 1;   // set before any worker starts
  mutable std::mutex mu_;  // the maps, the buffered total and the TLS context
  SslCtxPtr tls_ctx_;
  std::unordered_map<std::string, uint64_t> client_connections_;    // only clients with some
  std::unordered_map<std::string, uint64_t> anonymous_by_address_;  // only addresses with some
  std::unordered_map<std::string, uint64_t> buffered_by_client_;    // only clients with some
  uint64_t buffered_bytes_ = 0;
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> output_bytes_{0};
  std::atomic<uint64_t> output_shed_{0};
  std::atomic<uint64_t> anonymous_refused_{0};
  std::atomic<uint64_t> evicted_{0};
  std::atomic<uint32_t> handed_{0};  // hand-offs on their way
  std::atomic<uint64_t> accepted_{0};
  std::vector<std::function<void()>> shed_wakers_;  // set before the workers start
  std::vector<Adopt> adopters_;                     // the same, by worker index
  std::array<std::atomic<int64_t>, 64>
      oldest_unauthenticated_;  // per worker (listen.workers <= 64)
  std::atomic<int64_t> last_shed_ask_ms_{0};
};

}  // namespace kw::proxy
