// /metrics for `keyward serve`: every worker's counters summed, plus the process-wide ledgers.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "proxy/io/audit_log.h"
#include "proxy/quota/quota_ledger.h"
#include "proxy/serve/worker.h"
#include "proxy/server/listener_ledger.h"

namespace kw::proxy {

// `samples`: one per worker, nullopt for a worker that did not answer.
std::string metricsText(const std::vector<std::optional<WorkerSample>>& samples,
                        const ListenerLedger& listener, const QuotaLedger& quota,
                        const AuditLog* audit);

}  // namespace kw::proxy
