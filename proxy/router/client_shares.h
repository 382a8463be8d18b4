// Per-client shares of the pools every client draws from (README, Limits and shares): open SSE
// streams and requests at (or queued for) the upstream. Counted here, in front of either upstream,
// so both upstream modes enforce the same shares and nothing of a refused request is sent.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>

namespace kw::proxy {

enum class ShareKind : uint8_t { Subscriptions, InFlight };

// A refusal: 429 at the client's own share, 503 at the whole pool; `message` names the limit.
struct ShareRefusal {
  int status = 429;
  std::string reason;  // access-log reason
  std::string message;
};

class ShareLedger {
 public:
  // Holds one unit of a share until destroyed (it may outlive the ledger).
  class Ticket;
  using TicketPtr = std::shared_ptr<Ticket>;

  ShareLedger();
  // One unit for `client`, unless it already holds `client_limit` or all clients together hold
  // `pool_limit` (0 = no pool limit here: the upstream's own bound answers 503). With an
  // `identity` (a JWT sub), that identity may hold at most half of the client's share, so one
  // user of a client cannot take all of it from the others (attack round 19: one `sub`'s slow
  // requests had another's plain GET refused 429 for 3 s).
  std::variant<TicketPtr, ShareRefusal> acquire(ShareKind kind, const std::string& client,
                                                uint64_t client_limit, uint64_t pool_limit,
                                                const std::string& identity = {});
  [[nodiscard]] uint64_t held(ShareKind kind, const std::string& client) const;
  [[nodiscard]] uint64_t total(ShareKind kind) const;

  struct State {
    std::mutex mu;  // every worker's router acquires from one ledger; tickets end on any thread
    std::unordered_map<std::string, std::array<uint64_t, 2>> per_client;
    std::array<uint64_t, 2> total{};
  };

 private:
  std::shared_ptr<State> state_;
};

class ShareLedger::Ticket {
 public:
  Ticket(std::shared_ptr<State> s, ShareKind k, std::string client, std::string identity_key)
      : state_(std::move(s)),
        kind_(k),
        client_(std::move(client)),
        identity_key_(std::move(identity_key)) {}
  ~Ticket();
  Ticket(const Ticket&) = delete;
  Ticket& operator=(const Ticket&) = delete;

 private:
  std::shared_ptr<State> state_;
  ShareKind kind_;
  std::string client_;
  std::string identity_key_;  // "client\nsub", or empty
};

}  // namespace kw::proxy
