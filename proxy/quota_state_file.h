// Reads and atomically replaces quota.state_file (format: policy/quota_state.h).
#pragma once

#include <optional>
#include <string>

#include "policy/quota_state.h"
#include "policy/result.h"

namespace kw::proxy {

// nullopt when the file does not exist (first start); an error when it cannot be read or is not
// a valid state file (the caller refuses to start rather than hand out fresh budgets).
Result<std::optional<policy::QuotaState>> loadQuotaStateFile(const std::string& path);
// Writes `path`.tmp, fsyncs it, renames it over `path`, fsyncs the directory: a crash leaves
// either the old or the new file, never a torn one.
Status saveQuotaStateFile(const std::string& path, const policy::QuotaState& state);

}  // namespace kw::proxy
