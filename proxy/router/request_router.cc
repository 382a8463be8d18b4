// Routes one HTTP request: credentials, REST decoding, access checks, policy plan, quota, dispatch.
#include "proxy/router/request_router.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>

#include "conf/loader.h"
#include "policy/command_table.h"
#include "policy/decision.h"
#include "policy/jwt.h"
#include "policy/transaction_cost.h"
#include "policy/value_growth.h"
#include "proxy/codec/reply_json.h"
#include "proxy/codec/rest_request.h"
#include "proxy/router/credential_resolver.h"

namespace kw::proxy {

using codec::ReplyEncoding;
using Clock = std::chrono::steady_clock;

namespace {

// One command's verdict in the gateway's terms.
struct Checked {
  bool allowed = false;
  int status = 200;                   // when denied: 403 (NOPERM) or 400 (ERR)
  std::string message;                // when denied
  std::string name;                   // canonical command name for logs ("?" when unknown)
  std::string_view table_name = "?";  // the same, static (audit)
  policy::Reason reason = policy::Reason::Ok;
  ReplyOpen open;  // the encrypted values its reply holds (value_crypt.h)
};

Checked check(const conf::Snapshot& snapshot, const conf::ClientEntry& entry,
              const policy::Identity& id, codec::Argv argv, policy::EvalScratch& scratch,
              RequestPlan& plan, policy::Argv& forward) {
  Checked c;
  policy::Evaluation ev = entry.policy->evaluate(argv, id, scratch);
  const policy::Decision& d = ev.decision;
  c.reason = d.reason;
  if (d.command) c.table_name = d.command->name;
  c.name = std::string(c.table_name);
  std::string_view sent = argv.empty() ? std::string_view() : argv[0];
  if (sent.size() > 64) sent = sent.substr(0, 64);
  if (!d.allowed()) {
    if (d.reason == policy::Reason::UnknownCommand) {
      // Unknown to the table = not granted: refuse as a permission error, like a denied one.
      c.message =
          policy::denialMessage(policy::Decision::deny(policy::Reason::CommandDenied), sent);
    } else {
      c.message = policy::denialMessage(d, sent);
    }
    c.status = policy::denialStatus(d.reason);
    return c;
  }
  if (std::string stream_only = policy::streamOnlyMessage(d); !stream_only.empty()) {
    c.status = 400;
    c.message = std::move(stream_only);
    c.reason = policy::Reason::ConnectionState;
    return c;
  }
  // Offsets that grow values count for the whole request, as the bytes of values sent whole do
  // (attack round 16: a /pipeline of 200 SETRANGEs, each within the bound, made 250 MB).
  if (const policy::Decision over = policy::countGrowth(plan.grown_bytes, argv, *d.command,
                                                        snapshot.config().listen.max_body_bytes);
      !over.allowed()) {
    c.reason = over.reason;
    c.status = policy::denialStatus(over.reason);
    c.message = policy::denialMessage(over, sent) + " (with the request's other commands)";
    return c;
  }
  c.allowed = true;
  if (ev.rewritten.empty()) {
    forward = argv;
  } else {
    auto& v = plan.views.emplace_back();
    v.reserve(ev.rewritten.size());
    for (std::string_view a : ev.rewritten) v.push_back(plan.owned.emplace_back(a));
    forward = policy::Argv(v.data(), v.size());
  }
  if (!ev.values.empty()) {
    if (!sealValues(ev.values, argv, snapshot.valueKeyring(), plan.owned, plan.views, forward)) {
      c.allowed = false;
      c.status = 500;
      c.message = "ERR value encryption failed";
      return c;
    }
    c.open = replyOpen(ev.values, argv);
  }
  return c;
}

}  // namespace

RequestRouter::RequestRouter(RouterShared& shared, Upstream& upstream)
    : shared_(shared), upstream_(upstream) {
  syncShared();
}

RequestRouter::RequestRouter(conf::SnapshotConstSharedPtr snapshot, Upstream& upstream)
    : owned_shared_(std::make_unique<RouterShared>(std::move(snapshot))),
      shared_(*owned_shared_),
      upstream_(upstream) {
  syncShared();
}

void RequestRouter::setSnapshot(conf::SnapshotConstSharedPtr snapshot) {
  shared_.setSnapshot(std::move(snapshot));
  syncShared();
}

void RequestRouter::reloadRevocations() {
  shared_.reloadRevocations();
  syncShared();
}

void RequestRouter::syncShared() {
  if (shared_.generation() == revocation_generation_) return;
  RouterShared::View v = shared_.view();
  snapshot_ = std::move(v.snapshot);
  revoked_ = std::move(v.revoked);
  revocations_known_ = v.revocations_known;
  revocation_generation_ = v.generation;
  // Streams were authorised when they opened: what changed may no longer allow them.
  recheckStreams(std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count());
}

Refusal RequestRouter::auditUnavailable() {
  Refusal r{
      503, "ERR the audit log cannot be written; retry later", "audit_unavailable", false, {}};
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

void RequestRouter::audit(const AccessRecord& rec) {
  if (audit_ == nullptr) return;
  // A request refused for the audit log itself did nothing: its record may be dropped when the
  // buffer is full; every other one may have acted.
  audit_->append(formatAuditRecord(rec), rec.reason != "audit_unavailable");
}

void RequestRouter::noteResponse(const AccessRecord& rec) {
  ++stats_.requests;
  if (rec.status >= 200 && rec.status < 300) ++stats_.status_2xx;
  if (rec.status >= 400 && rec.status < 500) ++stats_.status_4xx;
  if (rec.status >= 500) ++stats_.status_5xx;
  if (rec.decision == "deny" || rec.decision == "partial") ++stats_.denied;
  if (rec.status == 429) ++stats_.rate_limited;
  if (rec.reason.rfind("upstream_", 0) == 0) ++stats_.upstream_errors;
  if ((rec.route == "subscribe" || rec.route == "psubscribe") && rec.status == 200) {
    ++stats_.streams;
  }
  size_t route = kRouteLabels.size() - 1;
  for (size_t i = 0; i < kRouteLabels.size(); ++i) {
    if (kRouteLabels[i] == rec.route) route = i;
  }
  if (rec.started != std::chrono::steady_clock::time_point{}) {
    latencies_.request[route].observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - rec.started).count());
  }
  if (rec.upstream_ms >= 0) latencies_.upstream.observe(rec.upstream_ms / 1000.0);
  size_t decision = kDecisionLabels.size() - 1;
  for (size_t i = 0; i < kDecisionLabels.size(); ++i) {
    if (kDecisionLabels[i] == rec.decision) decision = i;
  }
  // Only configured names: an unauthenticated request has no client.
  if (!rec.client.empty() && client_decisions_.size() < 2 * conf::kMaxClients) {
    ++client_decisions_[rec.client][decision];
  }
  if (rec.decision == "deny" || rec.decision == "partial" || rec.status == 401 ||
      rec.status == 403 || rec.status == 429) {
    // keyward's own short words; "inline_denials:3" counts as inline_denials.
    std::string reason = rec.reason.substr(0, rec.reason.find(':'));
    if (reason.empty() || reason.size() > 48 ||
        reason.find_first_not_of("abcdefghijklmnopqrstuvwxyz_0123456789") != std::string::npos) {
      reason = "other";
    }
    if (denials_by_reason_.size() < 256 || denials_by_reason_.count(reason) != 0) {
      ++denials_by_reason_[reason];
    }
  }
}

void RequestRouter::refuse(const Refusal& r, const RouteContext& ctx, Exchange& ex) {
  ex.respond(withHeaders(refusalResponse(r, ex.record()), ctx));
}

// authenticate (admit, at head time) -> decode -> access and plan -> share -> charge -> dispatch.
void RequestRouter::route(const codec::HttpRequestParser& parser, Admission admission,
                          Exchange& ex) {
  ex.record().bytes_in = parser.body().size();
  if (admission.entry == nullptr) return ex.respond(preflight(parser));  // OPTIONS
  RouteContext ctx = contextFor(parser, admission);
  // The file may have failed while the body arrived: nothing runs unaudited.
  if (auditRefusing()) return refuse(auditUnavailable(), ctx, ex);
  if (auto r = decode(parser, admission, ex.record())) return refuse(*r, ctx, ex);
  const codec::RestRequest& req = *admission.request;
  if (req.route() == codec::RestRoute::Subscribe || req.route() == codec::RestRoute::PSubscribe) {
    ctx.stream = streamGuard(parser, admission, ex);
  }
  const conf::ClientEntry& entry = *admission.entry;
  RequestPlan plan;
  const policy::Identity identity{admission.sub};
  std::vector<bool> enforced;
  auto refusal =
      planRequest(req, entry, identity, ex, ctx, plan, entry.shadow ? &enforced : nullptr);
  if (entry.shadow) compareShadow(req, entry, identity, std::move(enforced), ex.scratch());
  if (refusal) return refuse(*refusal, ctx, ex);
  if (ctx.stream) watchStream(ctx.stream);
  const conf::ClientConfig& client = *entry.config;
  if (auto r = admitGrowth(plan, client)) return refuse(*r, ctx, ex);
  if (auto r = admitShare(plan, client, ctx)) return refuse(*r, ctx, ex);
  if (!plan.sendsNothing()) {
    if (auto r = upstream_.prepare(plan, ctx)) return refuse(*r, ctx, ex);
  }
  chargeAndDispatch(plan, client,
                    client.limits.per_identity_rate.count != 0
                        ? identityKey(admission.sub, admission.client_ip.ip16)
                        : std::string(),
                    ctx, ex);
}

RouteContext RequestRouter::contextFor(const codec::HttpRequestParser& parser,
                                       Admission& admission) const {
  RouteContext ctx;
  ctx.snapshot = admission.snapshot;
  const codec::ResponseOptions& opts = admission.options;  // parsed at admission
  ctx.enc = opts.base64 ? ReplyEncoding::Base64 : ReplyEncoding::Plain;
  ctx.resp2 = opts.resp2;
  ctx.upstream_headers =
      upstream_.passthroughHeaders(parser, opts, admission.entry->config->spec.name);
  ctx.headers = std::move(admission.cors);
  ctx.identity = admission.sub;  // a JWT's sub; empty for a static key
  return ctx;
}

std::optional<Refusal> RequestRouter::decode(const codec::HttpRequestParser& parser,
                                             Admission& admission, AccessRecord& rec) const {
  if (!admission.request) {  // a body followed the head: decode it now
    codec::RestOptions ro;
    ro.allow_query_token = admission.snapshot->config().listen.allow_query_token;
    auto decoded = codec::decodeRestRequest(parser, ro);
    if (!decoded) {
      return Refusal{codec::restErrorStatus(decoded.error()),
                     decoded.error().message,
                     "bad_request",
                     false,
                     {}};
    }
    admission.request = std::move(*decoded);
  }
  rec.route = codec::routeName(admission.request->route());
  rec.command_count = admission.request->commandCount();
  return std::nullopt;
}

std::shared_ptr<StreamGuard> RequestRouter::streamGuard(const codec::HttpRequestParser& parser,
                                                        Admission& admission, Exchange& ex) {
  auto guard = std::make_shared<StreamGuard>();
  guard->token = std::move(admission.stream_token);
  guard->jti = std::move(admission.stream_jti);
  guard->deadline_s = admission.stream_deadline;
  guard->client = admission.entry->config->spec.name;
  guard->ip16 = admission.client_ip.ip16;
  if (auto origin = parser.header("origin")) guard->origin = std::string(*origin);
  codec::Argv argv = admission.request->command(0);
  guard->argv.assign(argv.begin(), argv.end());
  guard->close = [&ex, g = guard.get()](int status, std::string_view message) {
    if (g->began) {
      ex.streamWrite(streamClosedEvent(message));
      ex.endStream();
      return;
    }
    HttpResponse r = errorResponse(status, message);
    r.close = true;
    ex.respond(std::move(r));
  };
  return guard;
}

std::optional<Refusal> RequestRouter::planRequest(const codec::RestRequest& req,
                                                  const conf::ClientEntry& entry,
                                                  const policy::Identity& identity, Exchange& ex,
                                                  const RouteContext& ctx, RequestPlan& plan,
                                                  std::vector<bool>* verdicts) {
  AccessRecord& rec = ex.record();
  policy::EvalScratch& scratch = ex.scratch();
  const size_t n = req.commandCount();
  rec.commands.reserve(std::min<size_t>(n, 32));
  const bool log_keys = ctx.snapshot->config().audit.log_keys;
  const size_t max_keys = rec.audited ? kMaxAuditKeys : 32;
  // After each evaluation: the command name, and the keys the policy found (names only with
  // audit.log_keys); audited, its outcome too.
  auto note = [&rec, &scratch, log_keys, max_keys, verdicts](const Checked& c, codec::Argv argv) {
    if (verdicts != nullptr) verdicts->push_back(c.allowed);
    if (rec.commands.size() < 32) rec.commands.push_back(c.name);
    rec.key_count += scratch.extraction.keys.size();
    const auto keys_begin = static_cast<uint32_t>(rec.keys.size());
    if (log_keys) {
      for (const policy::KeyRef& k : scratch.extraction.keys) {
        if (rec.keys.size() >= max_keys) break;
        if (k.arg < argv.size()) rec.keys.emplace_back(argv[k.arg].substr(0, 256));
      }
    }
    if (!rec.audited) return;
    rec.outcomes.push_back(
        CommandOutcome{c.table_name, c.allowed ? "allow" : "deny",
                       c.allowed ? std::string() : std::string(policy::reasonName(c.reason)),
                       keys_begin, static_cast<uint32_t>(rec.keys.size())});
  };
  plan.route = req.route();
  auto denied = [](const Checked& c, std::string message) {
    return Refusal{
        c.status, std::move(message), std::string(policy::reasonName(c.reason)), true, {}};
  };

  switch (req.route()) {
    case codec::RestRoute::Command: {
      policy::Argv fwd;
      Checked c = check(*ctx.snapshot, entry, identity, req.command(0), scratch, plan, fwd);
      note(c, req.command(0));
      if (!c.allowed) return denied(c, c.message);
      plan.add(fwd, std::move(c.open));
      rec.decision = "allow";
      return std::nullopt;
    }
    case codec::RestRoute::Pipeline: {
      for (size_t i = 0; i < n; ++i) {
        policy::Argv f;
        Checked c = check(*ctx.snapshot, entry, identity, req.command(i), scratch, plan, f);
        note(c, req.command(i));
        if (c.allowed) {
          plan.add(f, std::move(c.open));
        } else {
          plan.messages.push_back(std::move(c.message));
          plan.denied_at.push_back(i);
        }
      }
      rec.decision = plan.denied_at.empty() ? "allow" : plan.forward.empty() ? "deny" : "partial";
      if (!plan.denied_at.empty()) {
        rec.reason = "inline_denials:" + std::to_string(plan.denied_at.size());
      }
      return std::nullopt;
    }
    case codec::RestRoute::MultiExec: {
      // All or nothing: one denied command rejects the transaction before anything is sent.
      policy::TransactionCost cost;
      for (size_t i = 0; i < n; ++i) {
        policy::Argv f;
        Checked c = check(*ctx.snapshot, entry, identity, req.command(i), scratch, plan, f);
        if (const policy::Decision d =
                policy::countInTransaction(cost, f, policy::findCommand(c.table_name));
            c.allowed && !d.allowed()) {
          c.allowed = false;
          c.reason = d.reason;
          c.status = policy::denialStatus(d.reason);
          c.message = policy::denialMessage(d, c.name);
        }
        note(c, req.command(i));
        if (!c.allowed) {
          // The record names every command of the refused transaction, not only those decided
          // (found by the attack run); the rest are named by table lookup, never evaluated.
          for (CommandOutcome& o : rec.outcomes) {
            if (o.decision == "allow") {
              o.decision = "skipped";
              o.reason = "transaction";
            }
          }
          for (size_t j = i + 1; j < n; ++j) {
            const codec::Argv rest = req.command(j);
            const policy::CommandInfo* info =
                rest.empty() ? nullptr : policy::findCommand(rest[0].substr(0, 64));
            const std::string_view name = info != nullptr ? info->name : "?";
            if (rec.commands.size() < 32) rec.commands.emplace_back(name);
            if (rec.audited) {
              const auto at = static_cast<uint32_t>(rec.keys.size());
              rec.outcomes.push_back(CommandOutcome{name, "skipped", "transaction", at, at});
            }
            if (!rec.audited && rec.commands.size() >= 32) break;
          }
          return denied(c, c.message + " (transaction command at index " + std::to_string(i) + ")");
        }
        plan.add(f, std::move(c.open));
      }
      rec.decision = "allow";
      return std::nullopt;
    }
    case codec::RestRoute::Subscribe:
    case codec::RestRoute::PSubscribe: {
      codec::Argv argv = req.command(0);
      policy::Evaluation ev = entry.policy->evaluate(argv, identity, scratch);
      if (verdicts != nullptr) verdicts->push_back(ev.decision.allowed());
      const std::string_view name = ev.decision.command ? ev.decision.command->name : "?";
      rec.commands.emplace_back(name);
      if (rec.audited) {
        const auto at = static_cast<uint32_t>(rec.keys.size());
        rec.outcomes.push_back(CommandOutcome{
            name, ev.decision.allowed() ? "allow" : "deny",
            ev.decision.allowed() ? std::string()
                                  : std::string(policy::reasonName(ev.decision.reason)),
            at, at});
      }
      if (!ev.decision.allowed()) {
        Checked c;
        c.reason = ev.decision.reason;
        c.status = policy::denialStatus(ev.decision.reason);
        return denied(c, policy::denialMessage(ev.decision, argv[0]));
      }
      plan.forward.push_back(argv);
      plan.channel = req.channel();
      rec.decision = "allow";
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::string RequestRouter::nextSyncToken(std::string_view client) {
  if (client.empty()) return "0";
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now).count());
}

}  // namespace kw::proxy
