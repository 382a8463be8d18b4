// How keyward decides a whole request for one client, without sending anything: the rules of
// the router's planRequest over the same ClientPolicy::evaluate. `keyward policy test`,
// `keyward explain` and POST /v1/explain use it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "conf/policy_cases.h"
#include "conf/snapshot.h"
#include "policy/explain.h"

namespace kw::proxy {

struct CommandDecision {
  policy::Decision decision;
  std::string name;     // the resolved command ("client|kill"), or the first argument as sent
  std::string message;  // the client's error text when denied
  std::vector<std::string> forwarded;  // the argv sent instead (SCAN MATCH added), when rewritten
  policy::Evidence evidence;           // filled when asked for
};

// One decision per command. A subscribe-class command is refused outside the Subscribe route
// (it would enter subscriber mode); in a MultiExec every command after a denied one is left
// undecided (the transaction is refused whole). `explain` fills each evidence.
std::vector<CommandDecision> decideRequest(const conf::ClientEntry& entry, conf::CaseRoute route,
                                           const std::vector<std::vector<std::string>>& commands,
                                           std::string_view sub, bool explain);

// The gateway's refusal of the request as a whole before any command is decided (more than
// codec::RestOptions::max_commands: 413 "ERR too many commands in the request"), or "".
std::string requestRefusal(const std::vector<std::vector<std::string>>& commands);

// "allow", or "deny:<reason>".
std::string verdictText(const policy::Decision& d);

}  // namespace kw::proxy
