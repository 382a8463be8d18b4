// listen.workers: auto from the affinity mask and the cgroup's CPU quota; see worker_count.h.
#include "proxy/serve/worker_count.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <string>

namespace kw::proxy {

std::optional<uint32_t> cpusFromCpuMax(std::string_view cpu_max) {
  while (!cpu_max.empty() && (cpu_max.back() == '\n' || cpu_max.back() == ' ')) {
    cpu_max.remove_suffix(1);
  }
  const size_t space = cpu_max.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view quota = cpu_max.substr(0, space);
  const std::string_view period = cpu_max.substr(space + 1);
  uint64_t q = 0;
  uint64_t p = 0;
  if (std::from_chars(quota.data(), quota.data() + quota.size(), q).ptr !=
          quota.data() + quota.size() ||
      std::from_chars(period.data(), period.data() + period.size(), p).ptr !=
          period.data() + period.size() ||
      q == 0 || p == 0) {
    return std::nullopt;  // "max" (no limit) or not a quota line
  }
  return static_cast<uint32_t>(std::min<uint64_t>((q + p - 1) / p, UINT32_MAX));
}

uint32_t resolveWorkers(const conf::Config& cfg) {
  if (cfg.listen.workers != 0) return cfg.listen.workers;
  if (!cfg.quota.store_url.empty()) return 1;
  cpu_set_t set;
  CPU_ZERO(&set);
  uint32_t cpus =
      sched_getaffinity(0, sizeof set, &set) == 0 ? static_cast<uint32_t>(CPU_COUNT(&set)) : 1;
  std::ifstream in("/sys/fs/cgroup/cpu.max");
  std::string line;
  if (in && std::getline(in, line)) {
    if (auto quota = cpusFromCpuMax(line)) cpus = std::min(cpus, *quota);
  }
  return std::clamp<uint32_t>(cpus, 1, conf::ListenConfig::kMaxWorkers);
}

uint32_t connectionsPerWorker(uint32_t connections, uint32_t workers) {
  workers = std::max<uint32_t>(workers, 1);
  return std::max<uint32_t>(connections >= 2 ? 2 : 1, (connections + workers - 1) / workers);
}

}  // namespace kw::proxy
