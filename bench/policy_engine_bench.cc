// Benchmarks ClientPolicy::evaluate with a 10-rule client: GET, SET, MSET of 100 keys and a
// 1,000-command pipeline (goals: <= 200 ns per simple command, <= 150 us per pipeline).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "policy/client_policy.h"

namespace {

using kw::policy::ClientPolicy;
using kw::policy::ClientSpec;
using kw::policy::EvalScratch;
using kw::policy::Identity;

std::shared_ptr<const ClientPolicy> makePolicy() {
  ClientSpec spec;
  spec.name = "bench";
  spec.commands = {"+@read", "+set",  "+del",  "+expire", "+incr",
                   "+mset",  "+hset", "-keys", "+ttl",    "+lpush"};
  spec.keys = {"cache:*", "sess:{sub}:*", "counter:*", "q:*"};
  spec.read_keys = {"public:*", "config:global", "*:meta"};
  spec.write_keys = {"logs:*", "audit:*", "tmp:*"};
  auto r = ClientPolicy::compile(spec);
  if (!r) std::abort();
  return *r;
}

struct Cmd {
  std::vector<std::string> owned;
  std::vector<std::string_view> argv;
  explicit Cmd(std::vector<std::string> a) : owned(std::move(a)) {
    argv.assign(owned.begin(), owned.end());
  }
};

void run(benchmark::State& state, const Cmd& cmd) {
  const auto policy = makePolicy();
  EvalScratch scratch;
  const Identity id{"user-42"};
  for (auto _ : state) {
    auto ev = policy->evaluate(cmd.argv, id, scratch);
    if (!ev.decision.allowed()) state.SkipWithError("denied");
    benchmark::DoNotOptimize(ev);
  }
}

void BM_Get(benchmark::State& state) { run(state, Cmd({"GET", "cache:user:12345"})); }
void BM_Set(benchmark::State& state) { run(state, Cmd({"SET", "cache:user:12345", "value"})); }
void BM_SetTemplate(benchmark::State& state) {
  run(state, Cmd({"SET", "sess:user-42:cart", "value"}));
}

void BM_Mset100(benchmark::State& state) {
  std::vector<std::string> a = {"MSET"};
  for (int i = 0; i < 100; ++i) {
    a.push_back("cache:item:" + std::to_string(i));
    a.push_back("v");
  }
  run(state, Cmd(a));
}

void BM_Pipeline1000(benchmark::State& state) {
  const auto policy = makePolicy();
  std::vector<Cmd> cmds;
  for (int i = 0; i < 1000; ++i) {
    const std::string n = std::to_string(i);
    switch (i % 5) {
      case 0:
        cmds.emplace_back(std::vector<std::string>{"GET", "cache:" + n});
        break;
      case 1:
        cmds.emplace_back(std::vector<std::string>{"SET", "cache:" + n, "v"});
        break;
      case 2:
        cmds.emplace_back(std::vector<std::string>{"INCR", "counter:" + n});
        break;
      case 3:
        cmds.emplace_back(std::vector<std::string>{"HGET", "public:" + n, "f"});
        break;
      default:
        cmds.emplace_back(std::vector<std::string>{"EXPIRE", "sess:user-42:" + n, "60"});
    }
  }
  EvalScratch scratch;
  const Identity id{"user-42"};
  for (auto _ : state) {
    size_t allowed = 0;
    for (const Cmd& c : cmds) allowed += policy->evaluate(c.argv, id, scratch).decision.allowed();
    if (allowed != cmds.size()) state.SkipWithError("denied");
    benchmark::DoNotOptimize(allowed);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(cmds.size()));
}

void BM_DeniedKey(benchmark::State& state) {
  const auto policy = makePolicy();
  const Cmd cmd({"GET", "other:user:12345"});
  EvalScratch scratch;
  const Identity id{"user-42"};
  for (auto _ : state) {
    auto ev = policy->evaluate(cmd.argv, id, scratch);
    benchmark::DoNotOptimize(ev);
  }
}

BENCHMARK(BM_Get)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_Set)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_SetTemplate)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_DeniedKey)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_Mset100)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_Pipeline1000)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
