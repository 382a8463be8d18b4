// QuotaLedger: the quota step of the gateway around policy::QuotaBook (which counts and
// decides, time passed in): it reads the clock, and in store mode (quota.store_url) leases
// day/month budget in batches from the shared store (proxy/quota_store), holding the requests
// that wait for a lease. In embedded mode the owner saves state() to quota.state_file. Thread-safe:
// all workers share one ledger.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conf/config.h"
#include "policy/quota.h"
#include "policy/quota_book.h"
#include "policy/quota_state.h"

namespace kw::proxy {

using policy::BudgetShares;
using policy::budgetShares;
using policy::identityKey;
using policy::QuotaAsk;
using policy::QuotaRefusal;

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
  // Granted (while its callback runs): what it asked and what was taken, for a refund.
  [[nodiscard]] const QuotaAsk& ask() const { return ask_; }
  [[nodiscard]] const policy::QuotaReceipt& receipt() const { return receipt_; }

 private:
  friend class QuotaLedger;
  QuotaLedger* ledger_;  // null once finished or the ledger is gone
  QuotaAsk ask_;
  policy::QuotaReceipt receipt_;
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
  explicit QuotaLedger(const conf::BudgetConfig& budget);
  ~QuotaLedger();
  QuotaLedger(const QuotaLedger&) = delete;
  QuotaLedger& operator=(const QuotaLedger&) = delete;

  void setBudget(const conf::BudgetConfig& budget);
  // Store mode from now on: day/month budgets come from `source` (not owned; outlives this).
  void useLeases(QuotaLeaseSource* source) {
    source_ = source;
    book_.useLeases();
  }

  struct Charge {
    std::optional<QuotaRefusal> refused;  // set: 429
    QuotaWaitPtr wait;                    // set: decided later, through wait->onDone
    policy::QuotaReceipt receipt;         // granted now: what was taken
  };
  // Neither set: granted, every counter taken.
  Charge charge(const QuotaAsk& ask);
  // Gives back a granted charge whose request was never sent (policy::QuotaBook::refund).
  void refund(const QuotaAsk& ask, const policy::QuotaReceipt& receipt);

  // Embedded mode: counters to save, and counters loaded at start.
  [[nodiscard]] policy::QuotaState state() const {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    return book_.state();
  }
  void restore(const policy::QuotaState& state) {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    book_.restore(state);
  }
  // The counters when they changed since the last call (marked saved in the same step, so a
  // charge on another worker in between is never lost from the next save).
  [[nodiscard]] std::optional<policy::QuotaState> takeChangedState() {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    if (!book_.dirty()) return std::nullopt;
    policy::QuotaState s = book_.state();
    book_.markSaved();
    return s;
  }

  // Store mode: hands unused leases back (shutdown); `done` runs when the store answered.
  void returnLeases(std::function<void()> done);
  // Unused lease held now, summed over scopes (metrics, tests).
  [[nodiscard]] uint64_t leaseHeld() const {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    return book_.leaseHeld();
  }

  struct Stats {
    uint64_t store_fetches = 0;
    uint64_t store_failures = 0;
    uint64_t refused = 0;
    uint64_t refunded = 0;  // commands given back: charged, never sent
  };
  [[nodiscard]] Stats stats() const {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    return stats_;
  }

 private:
  friend class QuotaWait;
  static policy::QuotaTime now();
  void fetch();
  void finish(QuotaWait* w, const std::optional<QuotaRefusal>& r);
  void forget(QuotaWait* w);

  // Every worker charges this one ledger (README, Workers), so it is locked; recursive because a
  // lease answer (store mode: one worker) finishes waits whose callbacks may charge again.
  mutable std::recursive_mutex mu_;
  policy::QuotaBook book_;
  QuotaLeaseSource* source_ = nullptr;
  std::list<QuotaWait*> waiting_;
  bool fetching_ = false;
  int64_t store_down_until_ms_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  Stats stats_;
};

}  // namespace kw::proxy
