// The router's decision rules (proxy/router/request_router.cc, planRequest and check) over the
// same policy primitives, for tools that decide without serving.
#include "proxy/tools/request_decisions.h"

#include "policy/command_meta.h"
#include "policy/transaction_cost.h"
#include "policy/value_growth.h"
#include "proxy/codec/rest_request.h"

namespace kw::proxy {

std::string verdictText(const policy::Decision& d) {
  return d.allowed() ? "allow" : "deny:" + std::string(policy::reasonName(d.reason));
}

std::string requestRefusal(const std::vector<std::vector<std::string>>& commands) {
  const size_t max = codec::RestOptions{}.max_commands;
  if (commands.size() <= max) return {};
  return "keyward refuses a request of more than " + std::to_string(max) +
         " commands whole (413 ERR too many commands in the request)";
}

std::vector<CommandDecision> decideRequest(const conf::ClientEntry& entry, conf::CaseRoute route,
                                           const std::vector<std::vector<std::string>>& commands,
                                           std::string_view sub, bool explain) {
  std::vector<CommandDecision> out;
  policy::EvalScratch scratch;
  const policy::Identity id{sub};
  policy::TransactionCost cost;  // a transaction's (policy::countInTransaction)
  uint64_t grown = 0;            // the request's (policy::countGrowth)
  for (const auto& command : commands) {
    std::vector<std::string_view> argv(command.begin(), command.end());
    CommandDecision& cd = out.emplace_back();
    policy::Evaluation ev =
        entry.policy->evaluate(argv, id, scratch, explain ? &cd.evidence : nullptr);
    cd.decision = ev.decision;
    const std::string_view sent = argv.empty() ? std::string_view() : argv[0];
    cd.name = ev.decision.command ? std::string(ev.decision.command->name) : std::string(sent);
    if (!cd.decision.allowed()) {
      // As the router answers: an unknown command is refused like a denied one.
      const policy::Decision shown = cd.decision.reason == policy::Reason::UnknownCommand
                                         ? policy::Decision::deny(policy::Reason::CommandDenied)
                                         : cd.decision;
      cd.message = policy::denialMessage(shown, sent.substr(0, 64));
    } else if (route != conf::CaseRoute::Subscribe) {
      if (std::string only = policy::streamOnlyMessage(cd.decision); !only.empty()) {
        cd.decision =
            policy::Decision::deny(policy::Reason::ConnectionState, 0, cd.decision.command);
        cd.message = std::move(only);
      }
    }
    if (cd.decision.allowed()) {
      // Values grown by offsets count for the whole request (attack round 24: two SETRANGEs,
      // each within the bound, were "allowed" here and refused by the gateway).
      if (policy::Decision d = policy::countGrowth(grown, argv, *cd.decision.command,
                                                   entry.config->spec.max_grown_value_bytes);
          !d.allowed()) {
        cd.decision = d;
        cd.message =
            policy::denialMessage(d, sent.substr(0, 64)) + " (with the request's other commands)";
      }
    }
    if (cd.decision.allowed() && route == conf::CaseRoute::MultiExec) {
      const std::span<const std::string_view> sent_argv =
          ev.rewritten.empty() ? std::span<const std::string_view>(argv) : ev.rewritten;
      if (policy::Decision d = policy::countInTransaction(cost, sent_argv, ev.decision.command);
          !d.allowed()) {
        cd.decision = d;
        cd.message = policy::denialMessage(d, cd.name);
      }
    }
    if (cd.decision.allowed()) {
      for (std::string_view a : ev.rewritten) cd.forwarded.emplace_back(a);
    }
    if (route == conf::CaseRoute::MultiExec && !cd.decision.allowed()) break;
  }
  return out;
}

}  // namespace kw::proxy
