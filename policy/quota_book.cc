// The all-or-nothing quota decision over every counter (see the header).
#include "policy/quota_book.h"

#include <algorithm>
#include <cstdio>

namespace kw::policy {
namespace {

// Bounded memory: identity buckets beyond this share one overflow bucket per client.
constexpr size_t kMaxIdentities = 100000;
uint64_t windowSeconds(const Rate& r) { return std::max<uint64_t>(1, (r.period_ms + 999) / 1000); }

// A token-bucket refusal: never fits (n > burst) or not yet.
QuotaRefusal bucketRefusal(TokenBucket& b, uint64_t n, int64_t now_ms, std::string what,
                           std::string policy) {
  const Rate rate = b.rate();
  if (n > b.burst()) {
    return quotaRefusal("ERR request of " + std::to_string(n) + " commands exceeds the burst of " +
                            std::to_string(b.burst()) + " of the " + what,
                        "rate_limited", std::move(policy),
                        static_cast<int64_t>(windowSeconds(rate)), rate.count, windowSeconds(rate));
  }
  const int64_t wait_ms = b.msUntil(n, now_ms);
  return quotaRefusal("ERR " + what + " exceeded", "rate_limited", std::move(policy),
                      wait_ms < 0 ? 1 : (wait_ms + 999) / 1000, rate.count, windowSeconds(rate));
}

std::string windowText(bool day) { return day ? "daily" : "monthly"; }

}  // namespace

QuotaRefusal quotaRefusal(std::string message, std::string reason, std::string policy,
                          int64_t retry_s, uint64_t limit, uint64_t window_s) {
  QuotaRefusal r;
  r.message = std::move(message);
  r.reason = std::move(reason);
  r.policy = std::move(policy);
  r.retry_after_s = std::max<int64_t>(1, retry_s);
  r.limit = limit;
  r.window_s = window_s;
  return r;
}

QuotaLimits budgetShares(const QuotaLimits& limits, const PlanBudget& budget, bool shared,
                         BudgetShares& shares) {
  QuotaLimits out = limits;
  shares = {};
  if (!shared) return out;
  auto half = [](uint64_t v) { return std::max<uint64_t>(1, v / 2); };
  if (out.rate.count == 0 && budget.per_second != 0) {
    out.rate = Rate{half(budget.per_second), 1000};
    out.burst = 0;
    shares.rate = true;
  }
  if (out.per_day == 0 && budget.per_day != 0) {
    out.per_day = half(budget.per_day);
    shares.day = true;
  }
  if (out.per_month == 0 && budget.per_month != 0) {
    out.per_month = half(budget.per_month);
    shares.month = true;
  }
  return out;
}

std::string identityKey(std::string_view sub, const std::array<uint8_t, 16>& ip16) {
  if (!sub.empty()) return "sub:" + std::string(sub);
  static constexpr std::array<uint8_t, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char buf[48];
  if (std::equal(kMapped.begin(), kMapped.end(), ip16.begin())) {
    std::snprintf(buf, sizeof(buf), "ip:%u.%u.%u.%u", ip16[12], ip16[13], ip16[14], ip16[15]);
  } else {
    std::snprintf(buf, sizeof(buf), "ip6:%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64", ip16[0],
                  ip16[1], ip16[2], ip16[3], ip16[4], ip16[5], ip16[6], ip16[7]);
  }
  return buf;
}

TokenBucket& QuotaBook::bucket(std::unordered_map<std::string, TokenBucket>& m,
                               const std::string& key, Rate rate, uint64_t burst, int64_t now_ms) {
  auto it = m.find(key);
  if (it == m.end()) return m.emplace(key, TokenBucket(rate, burst, now_ms)).first->second;
  if (it->second.burst() != burst || it->second.rate().count != rate.count ||
      it->second.rate().period_ms != rate.period_ms) {
    it->second.reshape(rate, burst, now_ms);  // a reload changed the limit: keep what is spent
  }
  return it->second;
}

TokenBucket* QuotaBook::identityBucket(const QuotaAsk& ask, int64_t now_ms) {
  const Rate rate = ask.limits.per_identity_rate;
  std::string key;
  key.reserve(ask.client.size() + 1 + ask.identity.size());
  key += ask.client;
  key += '\0';
  key += ask.identity;
  if (identity_buckets_.size() >= kMaxIdentities && !identity_buckets_.contains(key)) {
    // A full bucket is the same as a fresh one: forgetting it loses nothing.
    for (auto it = identity_buckets_.begin(); it != identity_buckets_.end();) {
      it = it->second.available(now_ms) >= it->second.burst() ? identity_buckets_.erase(it)
                                                              : std::next(it);
    }
    if (identity_buckets_.size() >= kMaxIdentities) {
      // Still full: new identities share one bucket, so a flood of them is limited as one.
      return &bucket(overflow_buckets_, ask.client, rate, rate.count, now_ms);
    }
  }
  return &bucket(identity_buckets_, key, rate, rate.count, now_ms);
}

std::string QuotaBook::storeKey(bool global, std::string_view client, bool day, int64_t window) {
  std::string k = "keyward:quota:";
  if (global) {
    k += "global";
  } else {
    k += "client:";
    k += client;
  }
  k += day ? ":day:" : ":month:";
  k += std::to_string(window);
  return k;
}

QuotaVerdict QuotaBook::decide(const QuotaAsk& ask, const QuotaTime& t, bool take) {
  QuotaVerdict v;
  const uint64_t n = ask.commands;
  if (n == 0) return v;  // everything denied by policy: costs nothing
  BudgetShares shared;
  const QuotaLimits lim = budgetShares(ask.limits, budget_, ask.budget_shared, shared);

  // Rate limits (always local).
  TokenBucket* client_rate = nullptr;
  if (lim.rate.count != 0) {
    const uint64_t burst = lim.burst != 0 ? lim.burst : lim.rate.count;
    client_rate = &bucket(rate_buckets_, ask.client, lim.rate, burst, t.mono_ms);
    if (n > burst || client_rate->available(t.mono_ms) < n) {
      v.refused =
          bucketRefusal(*client_rate, n, t.mono_ms,
                        shared.rate ? "rate limit of this client (its default share: half of "
                                      "budget.per_second, limits.rate unset)"
                                    : "rate limit of this client",
                        "rate");
      return v;
    }
  }
  TokenBucket* identity_rate = nullptr;
  if (lim.per_identity_rate.count != 0) {
    identity_rate = identityBucket(ask, t.mono_ms);
    if (n > identity_rate->burst() || identity_rate->available(t.mono_ms) < n) {
      v.refused =
          bucketRefusal(*identity_rate, n, t.mono_ms, "rate limit of this identity", "identity");
      return v;
    }
  }
  if (global_rate_ && (n > global_rate_->burst() || global_rate_->available(t.mono_ms) < n)) {
    v.refused = bucketRefusal(*global_rate_, n, t.mono_ms, "per-second budget of the upstream plan",
                              "global-second");
    return v;
  }

  // Day and month budgets.
  std::array<BudgetScope, 4> scopes{};
  size_t count = 0;
  Budgets* client = nullptr;
  if (lim.per_day != 0 || lim.per_month != 0) client = &clients_[ask.client];
  if (budget_.per_day != 0) scopes[count++] = {&global_.day, budget_.per_day, true, true};
  if (budget_.per_month != 0) scopes[count++] = {&global_.month, budget_.per_month, false, true};
  if (lim.per_day != 0) scopes[count++] = {&client->day, lim.per_day, true, false};
  if (lim.per_month != 0) scopes[count++] = {&client->month, lim.per_month, false, false};
  for (size_t i = 0; i < count; ++i) {
    const BudgetScope& s = scopes[i];
    WindowCounter& c = *s.counter;
    const int64_t window = s.day ? t.day : t.month;
    if (window < c.window) {
      // The clock went back across a window: never re-open an older one (fail closed).
      v.refused =
          quotaRefusal("ERR quota clock moved back: budgets unavailable", "budget_exhausted",
                       s.day ? "day" : "month", 60, s.limit, s.day ? 86400 : 2592000);
      v.need_lease.clear();  // a refusal is the whole answer
      return v;
    }
    if (window > c.window) c = WindowCounter{window, 0, 0, 0};
    const bool exhausted = !leased_ ? n > s.limit || c.used > s.limit - n
                                    : n > s.limit || (c.lease < n && c.dry_until_ms > t.mono_ms);
    if (exhausted) {
      const int64_t retry = s.day ? secondsToNextUtcDay(t.unix_s) : secondsToNextUtcMonth(t.unix_s);
      std::string who = s.global ? "of the upstream plan" : "of this client";
      std::string field = s.global ? (s.day ? "budget.per_day" : "budget.per_month")
                                   : (s.day ? "per_day" : "per_month");
      std::string share;
      if (!s.global && (s.day ? shared.day : shared.month)) {
        share = std::string(": unset, the default share is half of budget.") +
                (s.day ? "per_day" : "per_month");
      }
      v.refused = quotaRefusal(
          "ERR " + windowText(s.day) + " command budget " + who + " exhausted (" + field + " " +
              std::to_string(s.limit) + share + ")",
          "budget_exhausted", std::string(s.global ? "global-" : "") + (s.day ? "day" : "month"),
          retry, s.limit, s.day ? 86400 : 2592000);
      v.need_lease.clear();  // a refusal is the whole answer
      return v;
    }
    if (leased_ && c.lease < n) v.need_lease.push_back(s);
  }
  if (!v.need_lease.empty() || !take) return v;

  QuotaReceipt& r = v.receipt;
  r.at = t;
  if (client_rate != nullptr) {
    (void)client_rate->tryTake(n, t.mono_ms);
    r.taken |= QuotaReceipt::kClientRate;
  }
  if (identity_rate != nullptr) {
    (void)identity_rate->tryTake(n, t.mono_ms);
    const auto overflow = overflow_buckets_.find(ask.client);
    r.taken |= overflow != overflow_buckets_.end() && &overflow->second == identity_rate
                   ? QuotaReceipt::kOverflowRate
                   : QuotaReceipt::kIdentityRate;
  }
  if (global_rate_) {
    (void)global_rate_->tryTake(n, t.mono_ms);
    r.taken |= QuotaReceipt::kGlobalRate;
  }
  for (size_t i = 0; i < count; ++i) {
    const BudgetScope& s = scopes[i];
    s.counter->used += n;
    if (leased_) s.counter->lease -= n;
    r.taken |= s.global ? (s.day ? QuotaReceipt::kGlobalDay : QuotaReceipt::kGlobalMonth)
                        : (s.day ? QuotaReceipt::kClientDay : QuotaReceipt::kClientMonth);
  }
  if (count != 0) dirty_ = true;
  return v;
}

void QuotaBook::refund(const QuotaAsk& ask, const QuotaReceipt& receipt, int64_t now_ms) {
  const uint64_t n = ask.commands;
  if (n == 0 || receipt.taken == 0) return;
  auto giveBack = [&](std::unordered_map<std::string, TokenBucket>& m, const std::string& key) {
    if (auto it = m.find(key); it != m.end()) it->second.giveBack(n, now_ms);
  };
  if ((receipt.taken & QuotaReceipt::kClientRate) != 0) giveBack(rate_buckets_, ask.client);
  if ((receipt.taken & QuotaReceipt::kIdentityRate) != 0) {
    std::string key;
    key.reserve(ask.client.size() + 1 + ask.identity.size());
    key.append(ask.client).append(1, '\0').append(ask.identity);
    giveBack(identity_buckets_, key);
  }
  if ((receipt.taken & QuotaReceipt::kOverflowRate) != 0) giveBack(overflow_buckets_, ask.client);
  if ((receipt.taken & QuotaReceipt::kGlobalRate) != 0 && global_rate_) {
    global_rate_->giveBack(n, now_ms);
  }
  auto uncount = [&](WindowCounter& c, int64_t window) {
    if (c.window != window) return;  // that window is over: what it counted stays
    c.used -= std::min(n, c.used);
    if (leased_) c.lease += n;
    dirty_ = true;
  };
  if ((receipt.taken & QuotaReceipt::kGlobalDay) != 0) uncount(global_.day, receipt.at.day);
  if ((receipt.taken & QuotaReceipt::kGlobalMonth) != 0) uncount(global_.month, receipt.at.month);
  if ((receipt.taken & (QuotaReceipt::kClientDay | QuotaReceipt::kClientMonth)) != 0) {
    const auto client = clients_.find(ask.client);
    if (client == clients_.end()) return;
    if ((receipt.taken & QuotaReceipt::kClientDay) != 0)
      uncount(client->second.day, receipt.at.day);
    if ((receipt.taken & QuotaReceipt::kClientMonth) != 0) {
      uncount(client->second.month, receipt.at.month);
    }
  }
}

QuotaState QuotaBook::state() const {
  QuotaState st;
  auto counts = [](const Budgets& b) {
    return WindowCounts{b.day.window, b.day.used, b.month.window, b.month.used};
  };
  st.global = counts(global_);
  for (const auto& [name, b] : clients_) {
    if (st.clients.size() >= kQuotaStateMaxClients) break;
    st.clients.emplace_back(name, counts(b));
  }
  std::sort(st.clients.begin(), st.clients.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return st;
}

void QuotaBook::restore(const QuotaState& state) {
  auto apply = [](Budgets& b, const WindowCounts& c) {
    b.day = WindowCounter{c.day, c.day_used, 0, 0};
    b.month = WindowCounter{c.month, c.month_used, 0, 0};
  };
  apply(global_, state.global);
  for (const auto& [name, c] : state.clients) apply(clients_[name], c);
}

uint64_t QuotaBook::leaseHeld() const {
  uint64_t sum = global_.day.lease + global_.month.lease;
  for (const auto& [name, b] : clients_) sum += b.day.lease + b.month.lease;
  return sum;
}

QuotaBook::QuotaBook(const PlanBudget& budget, int64_t now_ms) : budget_(budget) {
  resetGlobalRate(now_ms);
}

void QuotaBook::resetGlobalRate(int64_t now_ms) {
  if (budget_.per_second == 0) {
    global_rate_.reset();
  } else if (global_rate_) {
    global_rate_->reshape(Rate{budget_.per_second, 1000}, budget_.per_second, now_ms);
  } else {
    global_rate_.emplace(Rate{budget_.per_second, 1000}, budget_.per_second, now_ms);
  }
}

void QuotaBook::setBudget(const PlanBudget& budget, int64_t now_ms) {
  const bool rate_changed = budget.per_second != budget_.per_second;
  budget_ = budget;
  if (rate_changed) resetGlobalRate(now_ms);
}

void QuotaBook::creditLease(WindowCounter* counter, int64_t window, uint64_t granted, bool dry,
                            int64_t dry_until_ms) {
  if (counter->window != window) return;
  counter->lease += granted;
  if (dry) counter->dry_until_ms = dry_until_ms;
}

std::vector<QuotaBook::Lease> QuotaBook::takeLeases() {
  std::vector<Lease> back;
  auto add = [&back](WindowCounter& c, bool global, std::string_view client, bool day) {
    if (c.lease == 0 || c.window < 0) return;
    back.push_back({storeKey(global, client, day, c.window), c.lease});
    c.lease = 0;
  };
  add(global_.day, true, "", true);
  add(global_.month, true, "", false);
  for (auto& [name, b] : clients_) {
    add(b.day, false, name, true);
    add(b.month, false, name, false);
  }
  return back;
}

}  // namespace kw::policy
