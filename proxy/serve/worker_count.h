// listen.workers: auto (README, Workers): how many CPUs this process may really use.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "conf/config.h"

namespace kw::proxy {

// The CPUs a cgroup v2 `cpu.max` line allows ("max 100000": no limit, nullopt; "150000 100000":
// 2, rounded up; anything else: nullopt).
[[nodiscard]] std::optional<uint32_t> cpusFromCpuMax(std::string_view cpu_max);

// listen.workers resolved: the configured count, or for auto the CPUs in this process's
// affinity mask (a container's cpuset), capped by its cgroup's CPU quota (a Kubernetes CPU
// limit sets only that), at least 1 and at most kMaxWorkers; 1 with quota.store_url.
[[nodiscard]] uint32_t resolveWorkers(const conf::Config& cfg);

}  // namespace kw::proxy
