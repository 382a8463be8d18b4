// `keyward explain` and POST /v1/explain (README, Changing a policy safely): a request's
// decisions with their evidence, as text or JSON. Nothing is sent anywhere.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "conf/policy_cases.h"
#include "conf/snapshot.h"
#include "policy/result.h"

namespace kw::proxy {

struct ExplainRequest {
  std::string client;
  std::string sub;
  conf::CaseRoute route = conf::CaseRoute::Command;
  std::vector<std::vector<std::string>> commands;
};

struct Explanation {
  bool allowed = false;  // the request as a whole (a pipeline: every command)
  std::string text;      // the chosen format
};

// Decides `request` with evidence. Errors (unknown client, no command) are InvalidArgument.
Result<Explanation> explainRequest(const conf::Snapshot& snapshot, const ExplainRequest& request,
                                   bool json);

inline constexpr size_t kMaxExplainCommands = 1000;

// POST /v1/explain's body: {"client":"...","sub":"...","route":"pipeline","commands":[[...]]}
// (sub and route optional; route command|pipeline|multi-exec|subscribe, default command for
// one command and pipeline for more).
Result<ExplainRequest> parseExplainBody(std::string_view body);

// "command" -> CaseRoute::Command, ...; false for anything else.
bool parseRouteName(std::string_view name, conf::CaseRoute& out);

}  // namespace kw::proxy
