// The quota state file's text format (embedded mode, README, Configuration quota.state_file): the
// day/month counters of the global budget and of every client, so a restart does not hand out a
// fresh day. Pure: parse and format only (proxy/quota_state_file does the I/O).
//
//   keyward-quota-state 1
//   g <day> <day_used> <month> <month_used>
//   c <day> <day_used> <month> <month_used> <client name>
//   end <number of g and c lines>
//
// Numbers are unsigned decimal without sign or leading zeros; day = days since 1970-01-01 UTC,
// month = months since 1970-01. Exactly one `g` line; client names follow the config's rule
// (1-64 of A-Z a-z 0-9 . _ -), unique. Anything else is an error: the file is rejected whole.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/result.h"

namespace kw::policy {

struct WindowCounts {
  int64_t day = -1;  // -1: never used
  uint64_t day_used = 0;
  int64_t month = -1;
  uint64_t month_used = 0;
};

struct QuotaState {
  WindowCounts global;
  std::vector<std::pair<std::string, WindowCounts>> clients;  // in file order
};

inline constexpr size_t kQuotaStateMaxBytes = size_t{8} << 20;
inline constexpr size_t kQuotaStateMaxClients = 100000;

// Strict parser; the error names the line.
Result<QuotaState> parseQuotaState(std::string_view text);
std::string formatQuotaState(const QuotaState& state);

}  // namespace kw::policy
