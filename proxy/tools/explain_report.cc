// Formats decideRequest's decisions and evidence, with each rule and pattern traced back to
// where the config writes it.
#include "proxy/tools/explain_report.h"

#include <simdjson.h>

#include "policy/ascii.h"
#include "policy/command_meta.h"
#include "policy/key_extract.h"
#include "proxy/codec/json_escape.h"
#include "proxy/tools/request_decisions.h"

namespace kw::proxy {
namespace {

std::string json(std::string_view s) { return codec::jsonString(s); }

std::string_view accessName(uint8_t a) {
  return a == policy::kAccessReadWrite ? "RW"
         : a == policy::kAccessRead    ? "R"
         : a == policy::kAccessWrite   ? "W"
                                       : "any";
}

std::string_view kindName(policy::SubjectEvidence::Kind k) {
  using K = policy::SubjectEvidence::Kind;
  switch (k) {
    case K::Key:
      return "key";
    case K::Channel:
      return "channel";
    case K::Group:
      return "consumer group";
    case K::Script:
      return "script";
    case K::Function:
      return "function";
  }
  return "subject";
}

std::string_view routeName(conf::CaseRoute r) {
  switch (r) {
    case conf::CaseRoute::Command:
      return "command";
    case conf::CaseRoute::Pipeline:
      return "pipeline";
    case conf::CaseRoute::MultiExec:
      return "multi-exec";
    case conf::CaseRoute::Subscribe:
      return "subscribe";
  }
  return "command";
}

// FILE:LINE:COL of a client's list element ("commands[3]"), or empty.
std::string locate(const conf::ClientConfig& c, std::string_view element) {
  for (const auto& [key, loc] : c.element_locations) {
    if (key == element) return loc;
  }
  return "";
}

// Bounded, printable echo of an argument for the text format.
std::string shown(std::string_view a) {
  return ascii::controlsReplaced(a.substr(0, 120)) + (a.size() > 120 ? "..." : "");
}

struct Context {
  const conf::ClientConfig& client;
  const ExplainRequest& request;
};

std::string ruleJson(const Context& cx, const CommandDecision& d) {
  const int32_t r = d.evidence.command_rule;
  if (r < 0 || static_cast<size_t>(r) >= cx.client.spec.commands.size()) return "null";
  const std::string element = "commands[" + std::to_string(r) + "]";
  return "{\"index\":" + std::to_string(r) + ",\"text\":" + json(cx.client.spec.commands[r]) +
         ",\"at\":" + json(locate(cx.client, element)) + "}";
}

std::string commandJson(const Context& cx, size_t i, const CommandDecision* d) {
  const auto& argv = cx.request.commands[i];
  std::string o = "{\"index\":" + std::to_string(i) + ",\"argv\":[";
  for (size_t a = 0; a < argv.size(); ++a) o += (a ? "," : "") + json(argv[a]);
  o += "]";
  if (d == nullptr) return o + ",\"decision\":\"skipped\"}";
  o += ",\"command\":" + json(d->name) +
       ",\"decision\":" + (d->decision.allowed() ? "\"allow\"" : "\"deny\"") +
       ",\"reason\":" + json(policy::reasonName(d->decision.reason));
  if (!d->decision.allowed()) {
    o += ",\"message\":" + json(d->message) + ",\"arg\":" + std::to_string(d->decision.arg_index);
  }
  o += ",\"rule\":" + ruleJson(cx, *d);
  o += ",\"dangerous_needs_naming\":" +
       std::string(d->evidence.dangerous_unnamed ? "true" : "false");
  o += ",\"subjects\":[";
  bool first = true;
  for (const auto& s : d->evidence.subjects) {
    o += first ? "" : ",";
    first = false;
    o += "{\"kind\":" + json(kindName(s.kind)) + ",\"arg\":" + std::to_string(s.arg) +
         ",\"value\":" + json(s.arg < argv.size() ? argv[s.arg] : "") +
         ",\"granted\":" + (s.granted ? "true" : "false");
    if (s.kind == policy::SubjectEvidence::Kind::Key) o += ",\"need\":" + json(accessName(s.need));
    o += ",\"matched\":[";
    for (size_t m = 0; m < s.matched.size(); ++m) {
      const auto& p = s.matched[m];
      o += (m ? "," : "") + std::string("{\"pattern\":") + json(p.where) +
           ",\"text\":" + json(p.text);
      if (s.kind != policy::SubjectEvidence::Kind::Script &&
          s.kind != policy::SubjectEvidence::Kind::Function) {
        o += ",\"access\":" + json(accessName(p.access)) +
             ",\"at\":" + json(locate(cx.client, p.where));
      }
      if (!p.expanded.empty()) o += ",\"expanded\":" + json(p.expanded);
      o += "}";
    }
    o += "]}";
  }
  o += "]";
  if (!d->forwarded.empty()) {
    o += ",\"forwarded\":[";
    for (size_t a = 0; a < d->forwarded.size(); ++a) o += (a ? "," : "") + json(d->forwarded[a]);
    o += "]";
  }
  return o + "}";
}

void commandText(const Context& cx, size_t i, const CommandDecision* d, std::string& o) {
  const auto& argv = cx.request.commands[i];
  o += "[" + std::to_string(i) + "]";
  for (const auto& a : argv) o += " " + shown(a);
  if (d == nullptr) {
    o += ": skipped (the transaction is refused)\n";
    return;
  }
  o += d->decision.allowed() ? ": allow\n"
                             : ": deny " + std::string(policy::reasonName(d->decision.reason)) +
                                   ": " + d->message + "\n";
  const int32_t r = d->evidence.command_rule;
  if (r >= 0 && static_cast<size_t>(r) < cx.client.spec.commands.size()) {
    const std::string element = "commands[" + std::to_string(r) + "]";
    o += "    command " + d->name + ": " +
         (d->decision.reason == policy::Reason::CommandDenied ? "removed" : "granted") + " by " +
         element + " \"" + cx.client.spec.commands[r] + "\" (" + locate(cx.client, element) + ")\n";
  } else if (d->decision.command != nullptr) {
    o += "    command " + d->name + ": no rule grants it\n";
  }
  if (d->evidence.dangerous_unnamed) {
    o += "    " + d->name + " is granted only when named (+" + d->name +
         "): categories never grant it\n";
  }
  for (const auto& s : d->evidence.subjects) {
    o += "    " + std::string(kindName(s.kind)) + " " +
         shown(s.arg < argv.size() ? std::string_view(argv[s.arg]) : std::string_view()) +
         " (arg " + std::to_string(s.arg) + ")";
    if (s.kind == policy::SubjectEvidence::Kind::Key)
      o += " needs " + std::string(accessName(s.need));
    o += s.granted ? ": granted by " : ": denied";
    if (!s.granted) o += s.matched.empty() ? ", no pattern matches" : ", matched only ";
    for (size_t m = 0; m < s.matched.size(); ++m) {
      const auto& p = s.matched[m];
      o += (m ? ", " : "") + p.where + " \"" + p.text + "\"";
      if (!p.expanded.empty()) o += " = " + p.expanded;
      if (s.kind != policy::SubjectEvidence::Kind::Script &&
          s.kind != policy::SubjectEvidence::Kind::Function) {
        o += " (" + std::string(accessName(p.access)) + ", " + locate(cx.client, p.where) + ")";
      }
    }
    o += "\n";
  }
  if (!d->forwarded.empty()) {
    o += "    forwarded as:";
    for (const auto& a : d->forwarded) o += " " + shown(a);
    o += "\n";
  }
}

}  // namespace

bool parseRouteName(std::string_view name, conf::CaseRoute& out) {
  for (auto r : {conf::CaseRoute::Command, conf::CaseRoute::Pipeline, conf::CaseRoute::MultiExec,
                 conf::CaseRoute::Subscribe}) {
    if (routeName(r) == name) {
      out = r;
      return true;
    }
  }
  return false;
}

Result<Explanation> explainRequest(const conf::Snapshot& snapshot, const ExplainRequest& request,
                                   bool as_json) {
  const conf::ClientEntry* entry = snapshot.findClientByName(request.client);
  if (entry == nullptr)
    return makeError(ErrorCode::InvalidArgument, "no client named " + request.client);
  if (request.commands.empty())
    return makeError(ErrorCode::InvalidArgument, "no command to explain");
  if (request.route != conf::CaseRoute::Pipeline && request.commands.size() != 1 &&
      request.route != conf::CaseRoute::MultiExec) {
    return makeError(ErrorCode::InvalidArgument, "one command for this route; use pipeline");
  }
  for (const auto& c : request.commands) {
    if (c.empty()) return makeError(ErrorCode::InvalidArgument, "an empty command");
  }
  if (std::string whole = requestRefusal(request.commands); !whole.empty()) {
    return makeError(ErrorCode::InvalidArgument, std::move(whole));
  }
  const auto decisions = decideRequest(*entry, request.route, request.commands, request.sub, true);
  size_t allowed = 0;
  for (const auto& d : decisions) allowed += d.decision.allowed();
  Explanation out;
  out.allowed = allowed == request.commands.size();
  // What the request is billed (README, Quotas): the commands forwarded; a refused transaction
  // or request costs nothing.
  const size_t cost = request.route == conf::CaseRoute::MultiExec && !out.allowed ? 0 : allowed;
  const Context cx{*entry->config, request};
  if (as_json) {
    std::string o = "{\"client\":" + json(request.client) + ",\"sub\":" + json(request.sub) +
                    ",\"route\":" + json(routeName(request.route)) +
                    ",\"allowed\":" + (out.allowed ? "true" : "false") +
                    ",\"cost\":" + std::to_string(cost) + ",\"commands\":[";
    for (size_t i = 0; i < request.commands.size(); ++i) {
      o += (i ? "," : "") + commandJson(cx, i, i < decisions.size() ? &decisions[i] : nullptr);
    }
    out.text = o + "]}\n";
    return out;
  }
  std::string o = "client " + request.client + (request.sub.empty() ? "" : ", sub " + request.sub) +
                  ", route " + std::string(routeName(request.route)) + ": " +
                  (out.allowed ? "allowed" : "denied") + ", quota cost " + std::to_string(cost) +
                  "\n";
  for (size_t i = 0; i < request.commands.size(); ++i) {
    commandText(cx, i, i < decisions.size() ? &decisions[i] : nullptr, o);
  }
  out.text = std::move(o);
  return out;
}

Result<ExplainRequest> parseExplainBody(std::string_view body) {
  auto bad = [](std::string m) { return makeError(ErrorCode::InvalidArgument, std::move(m)); };
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) {
    return bad("not valid JSON (or not UTF-8)");
  }
  if (!root.is_object()) return bad("body must be a JSON object");
  ExplainRequest r;
  std::string_view text;
  if (root["client"].get(text) != simdjson::SUCCESS) return bad("client must be a string");
  r.client = std::string(text);
  if (auto sub = root["sub"]; sub.error() == simdjson::SUCCESS) {
    if (sub.get(text) != simdjson::SUCCESS) return bad("sub must be a string");
    r.sub = std::string(text);
  }
  simdjson::dom::array commands;
  if (root["commands"].get(commands) != simdjson::SUCCESS) {
    return bad("commands must be an array of commands");
  }
  if (commands.size() > kMaxExplainCommands) {
    return bad("at most " + std::to_string(kMaxExplainCommands) + " commands");
  }
  for (simdjson::dom::element c : commands) {
    simdjson::dom::array argv;
    if (c.get(argv) != simdjson::SUCCESS) return bad("each command must be an array of strings");
    auto& out = r.commands.emplace_back();
    for (simdjson::dom::element a : argv) {
      if (a.get(text) != simdjson::SUCCESS) return bad("each argument must be a string");
      out.emplace_back(text);
    }
  }
  r.route = r.commands.size() > 1 ? conf::CaseRoute::Pipeline : conf::CaseRoute::Command;
  if (auto route = root["route"]; route.error() == simdjson::SUCCESS) {
    if (route.get(text) != simdjson::SUCCESS || !parseRouteName(text, r.route)) {
      return bad("route must be command, pipeline, multi-exec or subscribe");
    }
  }
  return r;
}

}  // namespace kw::proxy
