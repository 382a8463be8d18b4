// Fuzzes the quota state file parser: never crash; whatever parses formats back to text that
// parses to the same counters (the file keyward writes is the file it reads).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "policy/quota_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto st = kw::policy::parseQuotaState(in);
  if (!st) return 0;
  auto again = kw::policy::parseQuotaState(kw::policy::formatQuotaState(*st));
  if (!again || again->clients.size() != st->clients.size() ||
      again->global.day_used != st->global.day_used ||
      again->global.month_used != st->global.month_used) {
    std::abort();
  }
  for (size_t i = 0; i < st->clients.size(); ++i) {
    if (again->clients[i].first != st->clients[i].first ||
        again->clients[i].second.day != st->clients[i].second.day ||
        again->clients[i].second.day_used != st->clients[i].second.day_used ||
        again->clients[i].second.month_used != st->clients[i].second.month_used) {
      std::abort();
    }
  }
  return 0;
}
