// listen.workers: auto: the cgroup v2 CPU quota line and the resolution rules.
#include "proxy/serve/worker_count.h"

#include <gtest/gtest.h>
#include <sched.h>

namespace kw::proxy {
namespace {

TEST(WorkerCount, CpuMaxLines) {
  EXPECT_EQ(cpusFromCpuMax("max 100000\n"), std::nullopt);  // no limit
  EXPECT_EQ(cpusFromCpuMax("100000 100000\n"), 1u);
  EXPECT_EQ(cpusFromCpuMax("150000 100000"), 2u);  // 1.5 CPUs: two loops, rounded up
  EXPECT_EQ(cpusFromCpuMax("50000 100000"), 1u);
  EXPECT_EQ(cpusFromCpuMax("800000 100000"), 8u);
  EXPECT_EQ(cpusFromCpuMax(""), std::nullopt);
  EXPECT_EQ(cpusFromCpuMax("garbage"), std::nullopt);
  EXPECT_EQ(cpusFromCpuMax("0 100000"), std::nullopt);
  EXPECT_EQ(cpusFromCpuMax("100000 0"), std::nullopt);
  EXPECT_EQ(cpusFromCpuMax("-1 100000"), std::nullopt);
  EXPECT_EQ(cpusFromCpuMax("100000 100000 7"), std::nullopt);
}

TEST(WorkerCount, EachWorkersPoolHasTwoConnectionsUnlessOneWasAskedFor) {
  EXPECT_EQ(connectionsPerWorker(8, 1), 8u);
  EXPECT_EQ(connectionsPerWorker(8, 2), 4u);
  // Attack rounds 14 and 17: 2 connections over 2 workers gave each pool one, which a single
  // client then held whole (a client goes on at most half a pool's connections: one of one).
  EXPECT_EQ(connectionsPerWorker(2, 2), 2u);
  EXPECT_EQ(connectionsPerWorker(3, 4), 2u);
  EXPECT_EQ(connectionsPerWorker(1, 1), 1u);  // asked for: one connection, no reserve
  EXPECT_EQ(connectionsPerWorker(1, 4), 1u);
  EXPECT_EQ(connectionsPerWorker(9, 2), 5u);  // rounded up
}

TEST(WorkerCount, ResolvesExplicitAutoAndStoreMode) {
  conf::Config cfg;
  cfg.listen.workers = 3;
  EXPECT_EQ(resolveWorkers(cfg), 3u);
  cfg.listen.workers = 0;  // auto: at most the CPUs this process may run on
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  const uint32_t n = resolveWorkers(cfg);
  EXPECT_GE(n, 1u);
  EXPECT_LE(n, static_cast<uint32_t>(CPU_COUNT(&set)));
  cfg.quota.store_url = "redis://127.0.0.1:1";
  EXPECT_EQ(resolveWorkers(cfg), 1u);
}

}  // namespace
}  // namespace kw::proxy
