// Shadow policies (README, Changing a policy safely): the candidate decides the same request
// the same way the enforced policy did (the router's route rules), and only a difference is
// logged and counted. Nothing here changes what the request does.
#include <algorithm>
#include <string>
#include <vector>

#include "policy/command_meta.h"
#include "proxy/router/request_router.h"

namespace kw::proxy {
namespace {

// A transaction is all or nothing: one denial denies every command of it.
void transactionRule(codec::RestRoute route, size_t n, std::vector<bool>& v) {
  if (route != codec::RestRoute::MultiExec) return;
  bool all = v.size() == n;
  for (bool b : v) all = all && b;
  v.assign(n, all);
}

std::string_view outcome(const std::vector<bool>& v) {
  size_t allowed = 0;
  for (bool b : v) allowed += b;
  return allowed == v.size() ? "allow" : allowed == 0 ? "deny" : "partial";
}

}  // namespace

void RequestRouter::compareShadow(const codec::RestRequest& req, const conf::ClientEntry& entry,
                                  const policy::Identity& identity, std::vector<bool> enforced,
                                  policy::EvalScratch& scratch) {
  const bool stream =
      req.route() == codec::RestRoute::Subscribe || req.route() == codec::RestRoute::PSubscribe;
  const size_t n = stream ? 1 : req.commandCount();
  std::vector<bool> shadow;
  shadow.reserve(n);
  std::string_view shadow_reason = "ok";
  std::vector<const policy::CommandInfo*> commands;  // for the log line, if one is written
  commands.reserve(std::min<size_t>(n, 32));
  for (size_t i = 0; i < n; ++i) {
    const codec::Argv argv = req.command(i);
    policy::Evaluation ev = entry.shadow->evaluate(argv, identity, scratch);
    policy::Decision d = ev.decision;
    // As check() does: a subscribe-class command in a body would enter subscriber mode.
    if (d.allowed() && !stream && !policy::streamOnlyMessage(d).empty()) {
      d = policy::Decision::deny(policy::Reason::ConnectionState, 0, d.command);
    }
    shadow.push_back(d.allowed());
    if (!d.allowed() && shadow_reason == "ok") shadow_reason = policy::reasonName(d.reason);
    if (i < 32) commands.push_back(d.command);
  }
  transactionRule(req.route(), n, enforced);
  transactionRule(req.route(), n, shadow);
  enforced.resize(n, false);  // commands never decided were not run
  if (enforced == shadow) return;
  size_t first = 0;
  while (enforced[first] == shadow[first]) ++first;
  const bool looser = shadow[first];
  ++shadow_mismatches_[entry.config->spec.name][looser ? 0 : 1];
  std::string names;
  for (const policy::CommandInfo* c : commands) {
    if (!names.empty()) names += ',';
    names += c != nullptr ? std::string(c->name) : "?";
  }
  logEvent("shadow", {{"client", entry.config->spec.name},
                      {"commands", names},
                      {"enforced", std::string(outcome(enforced))},
                      {"shadow", std::string(outcome(shadow))},
                      {"shadow_reason", std::string(shadow_reason)}});
}

}  // namespace kw::proxy
