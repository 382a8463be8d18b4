// Store-mode leasing and waiting around policy::QuotaBook, and the clock it is given.
#include "proxy/quota/quota_ledger.h"

#include <algorithm>
#include <chrono>
#include <map>

namespace kw::proxy {
namespace {

// A request that needed a lease waits for at most this many store round trips.
constexpr int kMaxFetchesPerAsk = 3;
// After a store failure, or a store reporting a budget dry, ask it again only after this.
constexpr int64_t kStoreBackoffMs = 1000;
constexpr int64_t kDayKeyTtlS = 3 * 86400;
constexpr int64_t kMonthKeyTtlS = 63 * 86400;

QuotaRefusal storeUnavailable() {
  return policy::quotaRefusal("ERR quota store unreachable: budgets fail closed",
                              "quota_store_unavailable", "store", 1, 0, 1);
}

}  // namespace

QuotaWait::~QuotaWait() {
  if (ledger_ != nullptr) ledger_->forget(this);
}

QuotaLedger::QuotaLedger(const conf::BudgetConfig& budget) : book_(budget, now().mono_ms) {}

QuotaLedger::~QuotaLedger() {
  *alive_ = false;
  for (QuotaWait* w : waiting_) w->ledger_ = nullptr;
}

policy::QuotaTime QuotaLedger::now() {
  using namespace std::chrono;
  policy::QuotaTime t;
  t.mono_ms = duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
  t.unix_s = duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
  t.day = policy::utcDay(t.unix_s);
  // The month changes only with the day: the calendar arithmetic runs once a day, not per request.
  static thread_local int64_t cached_day = -1, cached_month = -1;
  if (t.day != cached_day) cached_day = t.day, cached_month = policy::utcMonth(t.unix_s);
  t.month = cached_month;
  return t;
}

void QuotaLedger::setBudget(const conf::BudgetConfig& budget) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  book_.setBudget(budget, now().mono_ms);
}

QuotaLedger::Charge QuotaLedger::charge(const QuotaAsk& ask) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Charge out;
  const policy::QuotaTime t = now();
  policy::QuotaVerdict v = book_.decide(ask, t, true);
  if (v.need_lease.empty()) {
    out.refused = std::move(v.refused);
    out.receipt = v.receipt;
    if (out.refused) ++stats_.refused;
    return out;
  }
  if (store_down_until_ms_ > t.mono_ms) {
    ++stats_.refused;
    out.refused = storeUnavailable();
    return out;
  }
  out.wait = std::make_unique<QuotaWait>(this, ask);
  waiting_.push_back(out.wait.get());
  // Asked after charge() returned, so onDone() is set before any answer (always from the loop).
  if (!fetching_) fetch();
  return out;
}

void QuotaLedger::refund(const QuotaAsk& ask, const policy::QuotaReceipt& receipt) {
  if (receipt.taken == 0) return;
  std::lock_guard<std::recursive_mutex> lock(mu_);
  book_.refund(ask, receipt, now().mono_ms);
  stats_.refunded += ask.commands;
}

void QuotaLedger::forget(QuotaWait* w) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  waiting_.remove(w);
}

void QuotaLedger::finish(QuotaWait* w, const std::optional<QuotaRefusal>& r) {
  waiting_.remove(w);
  w->ledger_ = nullptr;
  if (r) ++stats_.refused;
  QuotaWait::Done done = std::move(w->done_);
  if (done) done(r);  // may destroy *w
}

void QuotaLedger::fetch() {
  if (fetching_ || waiting_.empty() || source_ == nullptr) return;
  const policy::QuotaTime t = now();
  // One want per store key, covering every waiting ask.
  std::map<std::string, QuotaLeaseSource::Want> by_key;
  std::map<std::string, std::pair<policy::WindowCounter*, int64_t>> targets;
  for (QuotaWait* w : waiting_) {
    policy::QuotaVerdict v = book_.decide(w->ask_, t, false);
    if (v.refused) continue;  // answered after this fetch
    for (const policy::BudgetScope& s : v.need_lease) {
      const int64_t window = s.day ? t.day : t.month;
      std::string key = policy::QuotaBook::storeKey(s.global, w->ask_.client, s.day, window);
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
  std::vector<std::pair<policy::WindowCounter*, int64_t>> where;
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
    std::lock_guard<std::recursive_mutex> lock(mu_);
    fetching_ = false;
    const policy::QuotaTime now_t = now();
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
        book_.creditLease(counter, window, grants[i].granted, grants[i].remaining == 0,
                          now_t.mono_ms + kStoreBackoffMs);
      }
    }
    const std::vector<QuotaWait*> round(waiting_.begin(), waiting_.end());
    for (QuotaWait* w : round) {
      if (std::find(waiting_.begin(), waiting_.end(), w) == waiting_.end()) continue;
      if (!ok) {
        finish(w, storeUnavailable());
        continue;
      }
      ++w->fetches_;
      policy::QuotaVerdict v = book_.decide(w->ask_, now_t, true);
      if (v.need_lease.empty()) {
        w->receipt_ = v.receipt;
        finish(w, v.refused);
      } else if (w->fetches_ >= kMaxFetchesPerAsk) {
        finish(w,
               policy::quotaRefusal("ERR command budget exhausted (leases held by other replicas)",
                                    "budget_exhausted", "lease", 1, v.need_lease.front().limit,
                                    v.need_lease.front().day ? 86400 : 2592000));
      }
    }
    if (!alive.expired()) fetch();
  });
}

void QuotaLedger::returnLeases(std::function<void()> done) {
  if (source_ == nullptr) return done();
  std::vector<QuotaLeaseSource::Return> back;
  {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    for (policy::QuotaBook::Lease& l : book_.takeLeases())
      back.push_back({std::move(l.key), l.amount});
  }
  if (back.empty()) return done();
  source_->giveBack(back, std::move(done));
}

}  // namespace kw::proxy
