// The all-or-nothing quota decision over every counter, and store-mode lease bookkeeping.
#include "proxy/quota_ledger.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

namespace kw::proxy {
namespace {

// Bounded memory: identity buckets beyond this share one overflow bucket per client.
constexpr size_t kMaxIdentities = 100000;
// A request that needed a lease waits for at most this many store round trips.
constexpr int kMaxFetchesPerAsk = 3;
// After a store failure, or a store reporting a budget dry, ask it again only after this.
constexpr int64_t kStoreBackoffMs = 1000;
constexpr int64_t kDayKeyTtlS = 3 * 86400;
constexpr int64_t kMonthKeyTtlS = 63 * 86400;

uint64_t windowSeconds(const policy::Rate& r) {
  return std::max<uint64_t>(1, (r.period_ms + 999) / 1000);
}

QuotaRefusal refusal(std::string message, std::string reason, std::string policy, int64_t retry_s,
                     uint64_t limit, uint64_t window_s) {
  QuotaRefusal r;
  r.message = std::move(message);
  r.reason = std::move(reason);
  r.policy = std::move(policy);
  r.retry_after_s = std::max<int64_t>(1, retry_s);
  r.limit = limit;
  r.window_s = window_s;
  return r;
}

// A token-bucket refusal: never fits (n > burst) or not yet.
QuotaRefusal bucketRefusal(policy::TokenBucket& b, uint64_t n, int64_t now_ms, std::string what,
                           std::string policy) {
  const policy::Rate rate = b.rate();
  if (n > b.burst()) {
    return refusal("ERR request of " + std::to_string(n) + " commands exceeds the burst of " +
                       std::to_string(b.burst()) + " of the " + what,
                   "rate_limited", std::move(policy), static_cast<int64_t>(windowSeconds(rate)),
                   rate.count, windowSeconds(rate));
  }
  const int64_t wait_ms = b.msUntil(n, now_ms);
  return refusal("ERR " + what + " exceeded", "rate_limited", std::move(policy),
                 wait_ms < 0 ? 1 : (wait_ms + 999) / 1000, rate.count, windowSeconds(rate));
}

std::string windowText(bool day) { return day ? "daily" : "monthly"; }

}  // namespace

conf::LimitsConfig budgetShares(const conf::LimitsConfig& limits, const conf::BudgetConfig& budget,
                                bool shared, BudgetShares& shares) {
  conf::LimitsConfig out = limits;
  shares = {};
  if (!shared) return out;
  auto half = [](uint64_t v) { return std::max<uint64_t>(1, v / 2); };
  if (out.rate.count == 0 && budget.per_second != 0) {
    out.rate = policy::Rate{half(budget.per_second), 1000};
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

QuotaWait::~QuotaWait() {
  if (ledger_ != nullptr) ledger_->forget(this);
}

QuotaLedger::~QuotaLedger() {
  *alive_ = false;
  for (QuotaWait* w : waiting_) w->ledger_ = nullptr;
}

QuotaLedger::Now QuotaLedger::now() {
  using namespace std::chrono;
  Now t;
  t.mono_ms = duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
  t.unix_s = duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
  t.day = policy::utcDay(t.unix_s);
  // The month changes only with the day: the calendar arithmetic runs once a day, not per request.
  static thread_local int64_t cached_day = -1, cached_month = -1;
  if (t.day != cached_day) cached_day = t.day, cached_month = policy::utcMonth(t.unix_s);
  t.month = cached_month;
  return t;
}

void QuotaLedger::resetGlobalRate() {
  if (budget_.per_second == 0) {
    global_rate_.reset();
  } else {
    global_rate_.emplace(policy::Rate{budget_.per_second, 1000}, budget_.per_second, now().mono_ms);
  }
}

void QuotaLedger::setBudget(const conf::BudgetConfig& budget) {
  const bool rate_changed = budget.per_second != budget_.per_second;
  budget_ = budget;
  if (rate_changed) resetGlobalRate();
}

policy::TokenBucket& QuotaLedger::bucket(std::unordered_map<std::string, policy::TokenBucket>& m,
                                         const std::string& key, policy::Rate rate, uint64_t burst,
                                         int64_t now_ms) {
  auto it = m.find(key);
  if (it == m.end() || it->second.burst() != burst || it->second.rate().count != rate.count ||
      it->second.rate().period_ms != rate.period_ms) {
    it = m.insert_or_assign(key, policy::TokenBucket(rate, burst, now_ms)).first;
  }
  return it->second;
}

policy::TokenBucket* QuotaLedger::identityBucket(const QuotaAsk& ask, int64_t now_ms) {
  const policy::Rate rate = ask.limits.per_identity_rate;
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

std::string QuotaLedger::storeKey(bool global, std::string_view client, bool day, int64_t window) {
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

std::optional<QuotaRefusal> QuotaLedger::decide(const QuotaAsk& ask, const Now& t, bool take,
                                                std::vector<Scope>* missing) {
  const uint64_t n = ask.commands;
  if (n == 0) return std::nullopt;  // everything denied by policy: costs nothing
  BudgetShares shared;
  const conf::LimitsConfig lim = budgetShares(ask.limits, budget_, ask.budget_shared, shared);

  // Rate limits (always local).
  policy::TokenBucket* client_rate = nullptr;
  if (lim.rate.count != 0) {
    const uint64_t burst = lim.burst != 0 ? lim.burst : lim.rate.count;
    client_rate = &bucket(rate_buckets_, ask.client, lim.rate, burst, t.mono_ms);
    if (n > burst || client_rate->available(t.mono_ms) < n) {
      return bucketRefusal(*client_rate, n, t.mono_ms,
                           shared.rate ? "rate limit of this client (its default share: half of "
                                         "budget.per_second, limits.rate unset)"
                                       : "rate limit of this client",
                           "rate");
    }
  }
  policy::TokenBucket* identity_rate = nullptr;
  if (lim.per_identity_rate.count != 0) {
    identity_rate = identityBucket(ask, t.mono_ms);
    if (n > identity_rate->burst() || identity_rate->available(t.mono_ms) < n) {
      return bucketRefusal(*identity_rate, n, t.mono_ms, "rate limit of this identity", "identity");
    }
  }
  if (global_rate_ && (n > global_rate_->burst() || global_rate_->available(t.mono_ms) < n)) {
    return bucketRefusal(*global_rate_, n, t.mono_ms, "per-second budget of the upstream plan",
                         "global-second");
  }

  // Day and month budgets.
  std::array<Scope, 4> scopes{};
  size_t count = 0;
  Budgets* client = nullptr;
  if (lim.per_day != 0 || lim.per_month != 0) client = &clients_[ask.client];
  if (budget_.per_day != 0) scopes[count++] = {&global_.day, budget_.per_day, true, true};
  if (budget_.per_month != 0) scopes[count++] = {&global_.month, budget_.per_month, false, true};
  if (lim.per_day != 0) scopes[count++] = {&client->day, lim.per_day, true, false};
  if (lim.per_month != 0) scopes[count++] = {&client->month, lim.per_month, false, false};
  for (size_t i = 0; i < count; ++i) {
    const Scope& s = scopes[i];
    WindowCounter& c = *s.counter;
    const int64_t window = s.day ? t.day : t.month;
    if (window < c.window) {
      // The clock went back across a window: never re-open an older one (fail closed).
      return refusal("ERR quota clock moved back: budgets unavailable", "budget_exhausted",
                     s.day ? "day" : "month", 60, s.limit, s.day ? 86400 : 2592000);
    }
    if (window > c.window) c = WindowCounter{window, 0, 0, 0};
    const bool exhausted = source_ == nullptr
                               ? n > s.limit || c.used > s.limit - n
                               : n > s.limit || (c.lease < n && c.dry_until_ms > t.mono_ms);
    if (exhausted) {
      const int64_t retry =
          s.day ? policy::secondsToNextUtcDay(t.unix_s) : policy::secondsToNextUtcMonth(t.unix_s);
      std::string who = s.global ? "of the upstream plan" : "of this client";
      std::string field = s.global ? (s.day ? "budget.per_day" : "budget.per_month")
                                   : (s.day ? "per_day" : "per_month");
      std::string share;
      if (!s.global && (s.day ? shared.day : shared.month)) {
        share = std::string(": unset, the default share is half of budget.") +
                (s.day ? "per_day" : "per_month");
      }
      return refusal("ERR " + windowText(s.day) + " command budget " + who + " exhausted (" +
                         field + " " + std::to_string(s.limit) + share + ")",
                     "budget_exhausted",
                     std::string(s.global ? "global-" : "") + (s.day ? "day" : "month"), retry,
                     s.limit, s.day ? 86400 : 2592000);
    }
    if (source_ != nullptr && c.lease < n && missing != nullptr) missing->push_back(s);
  }
  if (missing != nullptr && !missing->empty()) return std::nullopt;
  if (!take) return std::nullopt;

  if (client_rate != nullptr) (void)client_rate->tryTake(n, t.mono_ms);
  if (identity_rate != nullptr) (void)identity_rate->tryTake(n, t.mono_ms);
  if (global_rate_) (void)global_rate_->tryTake(n, t.mono_ms);
  for (size_t i = 0; i < count; ++i) {
    WindowCounter& c = *scopes[i].counter;
    c.used += n;
    if (source_ != nullptr) c.lease -= n;
  }
  if (count != 0) dirty_ = true;
  return std::nullopt;
}

QuotaLedger::Charge QuotaLedger::charge(QuotaAsk ask) {
  Charge out;
  const Now t = now();
  std::vector<Scope> missing;
  out.refused = decide(ask, t, true, source_ != nullptr ? &missing : nullptr);
  if (out.refused || missing.empty()) {
    if (out.refused) ++stats_.refused;
    return out;
  }
  if (store_down_until_ms_ > t.mono_ms) {
    ++stats_.refused;
    out.refused = refusal("ERR quota store unreachable: budgets fail closed",
                          "quota_store_unavailable", "store", 1, 0, 1);
    return out;
  }
  out.wait = std::make_unique<QuotaWait>(this, std::move(ask));
  waiting_.push_back(out.wait.get());
  // Asked after charge() returned, so onDone() is set before any answer (always from the loop).
  if (!fetching_) fetch();
  return out;
}

void QuotaLedger::forget(QuotaWait* w) { waiting_.remove(w); }

void QuotaLedger::finish(QuotaWait* w, const std::optional<QuotaRefusal>& r) {
  waiting_.remove(w);
  w->ledger_ = nullptr;
  if (r) ++stats_.refused;
  QuotaWait::Done done = std::move(w->done_);
  if (done) done(r);  // may destroy *w
}

void QuotaLedger::fetch() {
  if (fetching_ || waiting_.empty() || source_ == nullptr) return;
  const Now t = now();
  // One want per store key, covering every waiting ask.
  std::map<std::string, QuotaLeaseSource::Want> by_key;
  std::map<std::string, std::pair<WindowCounter*, int64_t>> targets;
  for (QuotaWait* w : waiting_) {
    std::vector<Scope> missing;
    if (decide(w->ask_, t, false, &missing)) continue;  // refused: answered after this fetch
    for (const Scope& s : missing) {
      const int64_t window = s.day ? t.day : t.month;
      std::string key = storeKey(s.global, w->ask_.client, s.day, window);
      auto& want = by_key[key];
      if (want.key.empty()) {
        want.key = key;
        want.limit = s.limit;
        want.ttl_s = s.day ? kDayKeyTtlS : kMonthKeyTtlS;
        targets[key] = {s.counter, window};
        want.need = s.counter->lease >= w->ask_.commands ? 0 : w->ask_.commands - s.counter->lease;
      } else {
        want.need += w->ask_.commands;
      }
    }
  }
  std::vector<QuotaLeaseSource::Want> wants;
  std::vector<std::pair<WindowCounter*, int64_t>> where;
  std::vector<uint64_t> most;  // the largest grant each want can get
  for (auto& [key, want] : by_key) {
    want.need = std::min(want.need, want.limit);
    where.push_back(targets[key]);
    most.push_back(std::min(want.limit, std::max(want.need, QuotaLeaseSource::kLeaseChunk)));
    wants.push_back(std::move(want));
  }
  fetching_ = true;
  ++stats_.store_fetches;
  std::weak_ptr<bool> alive = alive_;
  source_->lease(wants, [this, alive, where, most](
                            bool answered, const std::vector<QuotaLeaseSource::Grant>& grants) {
    if (alive.expired()) return;
    fetching_ = false;
    const Now now_t = now();
    // An answer that grants more than was possible to ask for is a store keyward cannot
    // trust: it fails closed like an unreachable one.
    bool ok = answered && grants.size() == where.size();
    for (size_t i = 0; ok && i < grants.size(); ++i) ok = grants[i].granted <= most[i];
    if (!ok) {
      ++stats_.store_failures;
      store_down_until_ms_ = now_t.mono_ms + kStoreBackoffMs;
    } else {
      for (size_t i = 0; i < where.size(); ++i) {
        auto [counter, window] = where[i];
        // A lease for a window that has passed meanwhile is worthless (the key expires).
        if (counter->window == window) {
          counter->lease += grants[i].granted;
          if (grants[i].remaining == 0) counter->dry_until_ms = now_t.mono_ms + kStoreBackoffMs;
        }
      }
    }
    const std::vector<QuotaWait*> round(waiting_.begin(), waiting_.end());
    for (QuotaWait* w : round) {
      if (std::find(waiting_.begin(), waiting_.end(), w) == waiting_.end()) continue;
      if (!ok) {
        finish(w, refusal("ERR quota store unreachable: budgets fail closed",
                          "quota_store_unavailable", "store", 1, 0, 1));
        continue;
      }
      ++w->fetches_;
      std::vector<Scope> missing;
      std::optional<QuotaRefusal> r = decide(w->ask_, now_t, true, &missing);
      if (r || missing.empty()) {
        finish(w, r);
      } else if (w->fetches_ >= kMaxFetchesPerAsk) {
        finish(w, refusal("ERR command budget exhausted (leases held by other replicas)",
                          "budget_exhausted", "lease", 1, missing.front().limit,
                          missing.front().day ? 86400 : 2592000));
      }
    }
    if (!alive.expired()) fetch();
  });
}

policy::QuotaState QuotaLedger::state() const {
  policy::QuotaState st;
  auto counts = [](const Budgets& b) {
    return policy::WindowCounts{b.day.window, b.day.used, b.month.window, b.month.used};
  };
  st.global = counts(global_);
  for (const auto& [name, b] : clients_) {
    if (st.clients.size() >= policy::kQuotaStateMaxClients) break;
    st.clients.emplace_back(name, counts(b));
  }
  std::sort(st.clients.begin(), st.clients.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return st;
}

void QuotaLedger::restore(const policy::QuotaState& state) {
  auto apply = [](Budgets& b, const policy::WindowCounts& c) {
    b.day = WindowCounter{c.day, c.day_used, 0, 0};
    b.month = WindowCounter{c.month, c.month_used, 0, 0};
  };
  apply(global_, state.global);
  for (const auto& [name, c] : state.clients) apply(clients_[name], c);
}

uint64_t QuotaLedger::leaseHeld() const {
  uint64_t sum = global_.day.lease + global_.month.lease;
  for (const auto& [name, b] : clients_) sum += b.day.lease + b.month.lease;
  return sum;
}

void QuotaLedger::returnLeases(std::function<void()> done) {
  if (source_ == nullptr) return done();
  std::vector<QuotaLeaseSource::Return> back;
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
  if (back.empty()) return done();
  source_->giveBack(back, std::move(done));
}

}  // namespace kw::proxy
