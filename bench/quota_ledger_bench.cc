// Benchmarks the quota step of one request as the router runs it (QuotaAsk + identityKey +
// QuotaLedger::charge), with no limits and with every limit on (client rate/burst, per-identity
// rate, per_day, per_month, global budget), budgets too large to refuse. Compare with the
// gateway's time per request (1 / req/s of bench/load.sh) for the cost of quota accounting.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdlib>

#include "proxy/quota/quota_ledger.h"

namespace {

constexpr uint64_t kHuge = 1000000000000;

void charge(benchmark::State& state, bool limits_on) {
  kw::conf::BudgetConfig budget{0, 0, 0};
  kw::conf::LimitsConfig lim;
  if (limits_on) {
    budget = {100000000, kHuge, kHuge};
    lim.rate = {100000000, 1000};
    lim.burst = 100000000;
    lim.per_identity_rate = {100000000, 1000};
    lim.per_day = kHuge;
    lim.per_month = kHuge;
  }
  kw::proxy::QuotaLedger ledger(budget);
  const std::string client = "bench";
  std::array<uint8_t, 16> ip{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  for (auto _ : state) {
    std::string identity =
        lim.per_identity_rate.count != 0 ? kw::proxy::identityKey("", ip) : std::string();
    auto c = ledger.charge({client, lim, std::move(identity), 1});
    if (c.refused || c.wait) std::abort();
    benchmark::DoNotOptimize(c);
  }
}

void BM_ChargeNoLimits(benchmark::State& s) { charge(s, false); }
void BM_ChargeAllLimits(benchmark::State& s) { charge(s, true); }

}  // namespace

BENCHMARK(BM_ChargeNoLimits);
BENCHMARK(BM_ChargeAllLimits);
