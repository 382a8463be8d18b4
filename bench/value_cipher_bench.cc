// Benchmarks value encryption's per-value work (policy/value_cipher.h): sealing (AES-256-GCM and
// base64url; the nonce is given, proxy/ draws it from a batched CSPRNG pool) and opening, for a
// 64-byte session value and a 4 KiB one. Compare with the gateway's time per request (1 / req/s
// of bench/load.sh --encryption).
#include <benchmark/benchmark.h>

#include <string>

#include "policy/value_cipher.h"

namespace {

using kw::policy::ValueKey;
using kw::policy::ValueKeyring;

const ValueKeyring& ring() {
  static const ValueKeyring r({*ValueKey::make("b1", std::string(32, 'k'))});
  return r;
}

void seal(benchmark::State& state) {
  const std::string value(static_cast<size_t>(state.range(0)), 'v');
  kw::policy::ValueNonce nonce{};
  for (auto _ : state) {
    ++nonce[0];
    auto env = ring().seal(value, kw::policy::valueAssociatedData("sess:alice:profile"), nonce);
    benchmark::DoNotOptimize(env);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void open(benchmark::State& state) {
  const std::string value(static_cast<size_t>(state.range(0)), 'v');
  const std::string ad = kw::policy::valueAssociatedData("sess:alice:profile");
  const std::string env = *ring().seal(value, ad, kw::policy::ValueNonce{});
  std::string plain;
  for (auto _ : state) {
    auto r = ring().open(env, kw::policy::valueAssociatedData("sess:alice:profile"), plain);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(plain);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

BENCHMARK(seal)->Arg(64)->Arg(4096);
BENCHMARK(open)->Arg(64)->Arg(4096);

}  // namespace
