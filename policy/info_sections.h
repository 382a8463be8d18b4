// INFO for clients with the whole keyspace: only the sections that hold counts.
#pragma once

#include <string_view>
#include <vector>

#include "policy/decision.h"
#include "policy/key_extract.h"

namespace kw::policy {

// INFO's sections that name nothing outside a client with keys: ["*"]: counts, sizes and
// rates (clients, memory, persistence, stats, cpu, cluster, keyspace, modules). The others are
// refused (InfoSection at the section): `server` names the executable, config file, port and
// process; `replication` the replicas' or the master's address (what ROLE is refused for);
// commandstats, errorstats and latencystats count every tenant's commands. `all`, `everything`
// and `default` include them. INFO with no section asks for the listed ones (`rewritten`).
[[nodiscard]] Decision checkInfoSections(Argv argv, const CommandInfo& cmd,
                                         std::vector<std::string_view>& rewritten);

// The sections checkInfoSections passes, for the refusal's message.
inline constexpr std::string_view kInfoSectionsText =
    "clients, memory, persistence, stats, cpu, cluster, keyspace and modules";

}  // namespace kw::policy
