// QuotaLedger: every quota counter of the gateway (CONTRACT.md §2 limits and budget, §3 quotas),
// and the all-or-nothing decision for one request.
//
// Counted in billed commands: a request of N allowed commands takes N from each of
//   - the client's token bucket (limits.rate / limits.burst),
//   - the identity's token bucket (limits.per_identity_rate: per JWT sub, else per source IP,
//     IPv6 by /64), burst = its count,
//   - the client's UTC day and month budgets (limits.per_day / per_month),
//   - the global budget (budget.per_second as a token bucket, per_day, per_month).
// A request that would exceed any of them takes nothing from any (429, naming the limit).
//
// Day and month budgets live either here (embedded: saved to quota.state_file by the owner) or
// in a shared store (quota.store_url) from which this replica leases batches (proxy/quota_store).
// Rate limits are always local to the replica.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conf/config.h"
#include "policy/quota.h"
#include "policy/quota_state.h"

namespace kw::proxy {

// A refused request: status 429 (CONTRACT.md §5) and what its headers say.
struct QuotaRefusal {
  std::string message;  // "ERR ..." naming the limit hit
  std::string reason;   // access-log reason
  std::string policy;   // RateLimit policy name: "rate", "identity", "day", ...
  int64_t retry_after_s = 1;
  uint64_t limit = 0;  // the limit hit, in commands per window
  uint64_t window_s = 1;
};

// What one request asks for. Owned copies: an ask may wait for the store.
struct QuotaAsk {
  std::string client;
  conf::LimitsConfig limits;
  std::string identity;  // "sub:<sub>" or "ip:<address>"; see identityKey()
  uint64_t commands = 0;
  // Other clients share the plan's budget: a limit this client leaves unset defaults to half of
  // the budget's (CONTRACT.md §8), see budgetShares().
  bool budget_shared = false;
};

// Which of a client's limits are its default share of the plan's budget.
struct BudgetShares {
  bool rate = false;
  bool day = false;
  bool month = false;
};
// `limits` with every unset rate/per_day/per_month that the plan's budget bounds set to half of
// it (at least 1), when `shared`; `shares` says which were set.
conf::LimitsConfig budgetShares(const conf::LimitsConfig& limits, const conf::BudgetConfig& budget,
                                bool shared, BudgetShares& shares);

// "sub:<sub>" when the JWT has one, else "ip:<v4>" or "ip6:<first 64 bits>" (one IPv6 host has
// a whole /64, so per address would be no limit at all).
std::string identityKey(std::string_view sub, const std::array<uint8_t, 16>& ip16);

// One budget counter for one window (a UTC day or month).
struct WindowCounter {
  int64_t window = -1;
  uint64_t used = 0;         // taken in `window` by this process (embedded: the whole truth)
  uint64_t lease = 0;        // store mode: leased from the store for `window`, not yet taken
  int64_t dry_until_ms = 0;  // store mode: the store had nothing left (re-asked after this)
};

class QuotaLedger;

// A request waiting for a store lease. Destroying it cancels the wait (its callback never runs).
class QuotaWait {
 public:
  using Done = std::function<void(const std::optional<QuotaRefusal>&)>;  // nullopt = granted
  QuotaWait(QuotaLedger* ledger, QuotaAsk ask) : ledger_(ledger), ask_(std::move(ask)) {}
  ~QuotaWait();
  QuotaWait(const QuotaWait&) = delete;
  QuotaWait& operator=(const QuotaWait&) = delete;
  // Set once, right after charge() returned this wait.
  void onDone(Done done) { done_ = std::move(done); }

 private:
  friend class QuotaLedger;
  QuotaLedger* ledger_;  // null once finished or the ledger is gone
  QuotaAsk ask_;
  Done done_;
  int fetches_ = 0;  // store round trips this ask has waited for
};
using QuotaWaitPtr = std::unique_ptr<QuotaWait>;

// Where shared budgets come from in store mode (implemented by proxy/quota_store).
class QuotaLeaseSource {
 public:
  struct Want {
    std::string key;  // store key naming the scope and window
    uint64_t limit = 0;
    uint64_t need = 0;  // the lease must cover at least this much to serve the waiting asks
    int64_t ttl_s = 0;
  };
  struct Grant {
    uint64_t granted = 0;
    uint64_t remaining = 0;  // in the store after this grant
  };
  // A grant is at most max(need, kLeaseChunk) and never above the limit; a source answering
  // more is not trusted (the ledger treats the answer as a store failure).
  static constexpr uint64_t kLeaseChunk = 1000;
  using Granted = std::function<void(bool ok, const std::vector<Grant>& grants)>;
  virtual ~QuotaLeaseSource() = default;
  virtual void lease(const std::vector<Want>& wants, Granted done) = 0;
  struct Return {
    std::string key;
    uint64_t amount = 0;
  };
  virtual void giveBack(const std::vector<Return>& returns, std::function<void()> done) = 0;
};

class QuotaLedger {
 public:
  explicit QuotaLedger(const conf::BudgetConfig& budget) : budget_(budget) { resetGlobalRate(); }
  ~QuotaLedger();
  QuotaLedger(const QuotaLedger&) = delete;
  QuotaLedger& operator=(const QuotaLedger&) = delete;

  void setBudget(const conf::BudgetConfig& budget);
  // Store mode from now on: day/month budgets come from `source` (not owned; outlives this).
  void useLeases(QuotaLeaseSource* source) { source_ = source; }

  struct Charge {
    std::optional<QuotaRefusal> refused;  // set: 429
    QuotaWaitPtr wait;                    // set: decided later, through wait->onDone
  };
  // Neither set: granted, every counter taken.
  Charge charge(QuotaAsk ask);

  // Embedded mode: counters to save, and counters loaded at start.
  [[nodiscard]] policy::QuotaState state() const;
  void restore(const policy::QuotaState& state);
  // True when counters changed since the last markSaved().
  [[nodiscard]] bool dirty() const { return dirty_; }
  void markSaved() { dirty_ = false; }

  // Store mode: hands unused leases back (shutdown); `done` runs when the store answered.
  void returnLeases(std::function<void()> done);
  // Unused lease held now, summed over scopes (metrics, tests).
  [[nodiscard]] uint64_t leaseHeld() const;

  struct Stats {
    uint64_t store_fetches = 0;
    uint64_t store_failures = 0;
    uint64_t refused = 0;
  };
  [[nodiscard]] const Stats& stats() const { return stats_; }

 private:
  friend class QuotaWait;
  struct Budgets {
    WindowCounter day, month;
  };
  struct Now {
    int64_t mono_ms;
    int64_t unix_s;
    int64_t day;
    int64_t month;
  };
  // One day/month budget an ask must fit.
  struct Scope {
    WindowCounter* counter;
    uint64_t limit;
    bool day;  // else month
    bool global;
  };
  static Now now();
  void resetGlobalRate();
  // Decides `ask`: a refusal; or it fits (taken when `take`); or, in store mode, some budgets
  // need a lease first (`missing` filled, nothing taken).
  std::optional<QuotaRefusal> decide(const QuotaAsk& ask, const Now& t, bool take,
                                     std::vector<Scope>* missing);
  static std::string storeKey(bool global, std::string_view client, bool day, int64_t window);
  void fetch();
  void finish(QuotaWait* w, const std::optional<QuotaRefusal>& r);
  void forget(QuotaWait* w);
  policy::TokenBucket& bucket(std::unordered_map<std::string, policy::TokenBucket>& m,
                              const std::string& key, policy::Rate rate, uint64_t burst,
                              int64_t now_ms);
  policy::TokenBucket* identityBucket(const QuotaAsk& ask, int64_t now_ms);

  conf::BudgetConfig budget_;
  QuotaLeaseSource* source_ = nullptr;
  Budgets global_;
  std::optional<policy::TokenBucket> global_rate_;
  std::unordered_map<std::string, Budgets> clients_;
  std::unordered_map<std::string, policy::TokenBucket> rate_buckets_;
  std::unordered_map<std::string, policy::TokenBucket> identity_buckets_;
  std::unordered_map<std::string, policy::TokenBucket> overflow_buckets_;  // per client
  std::list<QuotaWait*> waiting_;
  bool fetching_ = false;
  int64_t store_down_until_ms_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool dirty_ = false;
  Stats stats_;
};

}  // namespace kw::proxy
