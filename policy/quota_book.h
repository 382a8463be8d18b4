// QuotaBook: every quota counter of the gateway and the all-or-nothing decision for one request,
// with time passed in (no clock, no I/O). proxy/quota_ledger reads the clock, waits for store
// leases and saves the state file around it.
//
// Counted in billed commands: a request of N allowed commands takes N from each of
//   - the client's token bucket (limits.rate / limits.burst),
//   - the identity's token bucket (limits.per_identity_rate: per JWT sub, else per source IP,
//     IPv6 by /64), burst = its count,
//   - the client's UTC day and month budgets (limits.per_day / per_month),
//   - the global budget (budget.per_second as a token bucket, per_day, per_month).
// A request that would exceed any of them takes nothing from any (429, naming the limit).
//
// Day and month budgets are counted here (embedded mode: the whole truth) or, in leased mode,
// spent from leases taken from a shared store; rate limits are always local.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy/quota.h"
#include "policy/quota_state.h"

namespace kw::policy {

// A client's own limits (0 = unset).
struct QuotaLimits {
  Rate rate{0, 1000};               // "50/s": count 50 per period_ms 1000
  uint64_t burst = 0;               // default: rate.count
  Rate per_identity_rate{0, 1000};  // per source IP, or per JWT sub; burst = its count
  uint64_t per_day = 0;
  uint64_t per_month = 0;
};

// The upstream plan's budget (0 = unlimited).
struct PlanBudget {
  uint64_t per_second = 10000;
  uint64_t per_day = 16000;
  uint64_t per_month = 500000;
};

// A refused request: status 429 and what its headers say.
struct QuotaRefusal {
  std::string message;  // "ERR ..." naming the limit hit
  std::string reason;   // access-log reason
  std::string policy;   // RateLimit policy name: "rate", "identity", "day", ...
  int64_t retry_after_s = 1;
  uint64_t limit = 0;  // the limit hit, in commands per window
  uint64_t window_s = 1;
};
QuotaRefusal quotaRefusal(std::string message, std::string reason, std::string policy,
                          int64_t retry_s, uint64_t limit, uint64_t window_s);

// What one request asks for. Owned copies: an ask may wait for the store.
struct QuotaAsk {
  std::string client;
  QuotaLimits limits;
  std::string identity;  // "sub:<sub>" or "ip:<address>"; see identityKey()
  uint64_t commands = 0;
  // Other clients share the plan's budget: a limit this client leaves unset defaults to half of
  // the budget's, see budgetShares().
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
QuotaLimits budgetShares(const QuotaLimits& limits, const PlanBudget& budget, bool shared,
                         BudgetShares& shares);

// "sub:<sub>" when the JWT has one, else "ip:<v4>" or "ip6:<first 64 bits>" (one IPv6 host has
// a whole /64, so per address would be no limit at all).
std::string identityKey(std::string_view sub, const std::array<uint8_t, 16>& ip16);

// The moment a decision is made: a monotonic clock for rates, wall time for UTC windows.
struct QuotaTime {
  int64_t mono_ms = 0;
  int64_t unix_s = 0;
  int64_t day = 0;    // utcDay(unix_s)
  int64_t month = 0;  // utcMonth(unix_s)
  static QuotaTime at(int64_t mono_ms, int64_t unix_s) {
    return {mono_ms, unix_s, utcDay(unix_s), utcMonth(unix_s)};
  }
};

// One budget counter for one window (a UTC day or month).
struct WindowCounter {
  int64_t window = -1;
  uint64_t used = 0;         // taken in `window` by this process (embedded: the whole truth)
  uint64_t lease = 0;        // leased mode: leased from the store for `window`, not yet taken
  int64_t dry_until_ms = 0;  // leased mode: the store had nothing left (re-asked after this)
};

// One day/month budget an ask must fit.
struct BudgetScope {
  WindowCounter* counter;
  uint64_t limit;
  bool day;  // else month
  bool global;
};

// What a granted charge took, so that it can be given back exactly (QuotaBook::refund): the
// moment (its UTC windows) and which counters.
struct QuotaReceipt {
  enum Taken : uint8_t {
    kClientRate = 1,
    kIdentityRate = 2,
    kOverflowRate = 4,  // the identity's request went to its client's shared overflow bucket
    kGlobalRate = 8,
    kGlobalDay = 16,
    kGlobalMonth = 32,
    kClientDay = 64,
    kClientMonth = 128,
  };
  QuotaTime at;
  uint8_t taken = 0;
};

struct QuotaVerdict {
  std::optional<QuotaRefusal> refused;  // set: 429, nothing taken
  // Leased mode, not refused: budgets whose lease is short (nothing taken; ask the store, then
  // decide again).
  std::vector<BudgetScope> need_lease;
  [[nodiscard]] bool granted() const { return !refused && need_lease.empty(); }
  QuotaReceipt receipt;  // granted and taken: what was taken
};

class QuotaBook {
 public:
  QuotaBook(const PlanBudget& budget, int64_t now_ms);
  QuotaBook(const QuotaBook&) = delete;
  QuotaBook& operator=(const QuotaBook&) = delete;

  void setBudget(const PlanBudget& budget, int64_t now_ms);
  [[nodiscard]] const PlanBudget& budget() const { return budget_; }
  // Leased mode from now on: day/month budgets are spent from leases (creditLease).
  void useLeases() { leased_ = true; }
  [[nodiscard]] bool leased() const { return leased_; }

  // Decides `ask` at `t`. Granted and `take`: every counter is taken. A window that has moved
  // on since a counter was last used starts afresh; a window older than a counter's (the clock
  // went back) is refused, never reopened.
  QuotaVerdict decide(const QuotaAsk& ask, const QuotaTime& t, bool take);

  // Gives back what a granted `ask` took (its verdict's receipt) when nothing of the request was
  // sent after all (README, Quotas): the buckets their tokens (never above their burst), the
  // day and month counters their count while the receipt's window is still the counter's (in
  // leased mode the count goes back to the lease). A bucket or client forgotten meanwhile gets
  // nothing (forgotten buckets were full).
  void refund(const QuotaAsk& ask, const QuotaReceipt& receipt, int64_t now_ms);

  // Leased mode: `granted` more for `counter` (from a verdict's need_lease) in `window`; a lease
  // for a window that has passed meanwhile is dropped. `dry`: the store has none left, so
  // asking it again waits until `dry_until_ms`.
  void creditLease(WindowCounter* counter, int64_t window, uint64_t granted, bool dry,
                   int64_t dry_until_ms);
  // The store key of a scope's window.
  static std::string storeKey(bool global, std::string_view client, bool day, int64_t window);
  // Every unused lease, with its store key, handed back (the counters keep none).
  struct Lease {
    std::string key;
    uint64_t amount = 0;
  };
  std::vector<Lease> takeLeases();
  [[nodiscard]] uint64_t leaseHeld() const;

  // Embedded mode: counters to save, and counters loaded at start.
  [[nodiscard]] QuotaState state() const;
  void restore(const QuotaState& state);
  // True when counters changed since the last markSaved().
  [[nodiscard]] bool dirty() const { return dirty_; }
  void markSaved() { dirty_ = false; }

 private:
  struct Budgets {
    WindowCounter day, month;
  };
  void resetGlobalRate(int64_t now_ms);
  TokenBucket& bucket(std::unordered_map<std::string, TokenBucket>& m, const std::string& key,
                      Rate rate, uint64_t burst, int64_t now_ms);
  TokenBucket* identityBucket(const QuotaAsk& ask, int64_t now_ms);

  PlanBudget budget_;
  bool leased_ = false;
  Budgets global_;
  std::optional<TokenBucket> global_rate_;
  std::unordered_map<std::string, Budgets> clients_;
  std::unordered_map<std::string, TokenBucket> rate_buckets_;
  std::unordered_map<std::string, TokenBucket> identity_buckets_;
  std::unordered_map<std::string, TokenBucket> overflow_buckets_;  // per client
  bool dirty_ = false;
};

}  // namespace kw::policy
