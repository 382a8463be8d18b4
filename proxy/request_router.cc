// Routes one HTTP request: credentials, REST decoding, access checks, policy plan, quota, dispatch.
#include "proxy/request_router.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <optional>

#include "conf/loader.h"
#include "policy/command_table.h"
#include "policy/decision.h"
#include "policy/jwt.h"
#include "proxy/codec/reply_json.h"
#include "proxy/codec/rest_request.h"
#include "proxy/credential_resolver.h"

namespace kw::proxy {

using codec::ReplyEncoding;
using Clock = std::chrono::steady_clock;

namespace {

// One command's verdict in the gateway's terms.
struct Checked {
  bool allowed = false;
  int status = 200;     // when denied: 403 (NOPERM) or 400 (ERR)
  std::string message;  // when denied
  std::string name;     // canonical command name for logs ("?" when unknown)
  policy::Reason reason = policy::Reason::Ok;
};

// The status of a policy denial: malformed commands are the client's error (400, "ERR"), all
// other denials are permissions (403, "NOPERM"). Every Reason is listed (-Wswitch).
int deniedStatus(policy::Reason r) {
  switch (r) {
    case policy::Reason::EmptyCommand:
    case policy::Reason::TooLarge:
    case policy::Reason::UnknownSubcommand:
    case policy::Reason::ArityError:
    case policy::Reason::SyntaxError:
      return 400;
    case policy::Reason::Ok:
    case policy::Reason::UnknownCommand:
    case policy::Reason::CommandDenied:
    case policy::Reason::KeyDenied:
    case policy::Reason::ChannelDenied:
    case policy::Reason::GroupDenied:
    case policy::Reason::ScriptDenied:
    case policy::Reason::FunctionDenied:
    case policy::Reason::KeyspaceWideDenied:
    case policy::Reason::ScanDenied:
    case policy::Reason::OtherDatabase:
    case policy::Reason::ConnectionState:
    case policy::Reason::SortPatternDenied:
    case policy::Reason::TemplateUnbound:
    case policy::Reason::Blocking:
    case policy::Reason::Introspection:
    case policy::Reason::Unsupported:
      return 403;
  }
  return 403;
}

Checked check(const conf::ClientEntry& entry, const policy::Identity& id, codec::Argv argv,
              policy::EvalScratch& scratch, RequestPlan& plan, policy::Argv& forward) {
  Checked c;
  policy::Evaluation ev = entry.policy->evaluate(argv, id, scratch);
  const policy::Decision& d = ev.decision;
  c.reason = d.reason;
  c.name = d.command ? std::string(d.command->name) : std::string("?");
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
    c.status = deniedStatus(d.reason);
    return c;
  }
  if (d.command && (d.command->traits & policy::kSubscribe) != 0) {
    c.status = 400;
    c.message = "ERR '" + c.name +
                "' is only available through /subscribe/{channel} and /psubscribe/{pattern}";
    c.reason = policy::Reason::ConnectionState;
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
  return c;
}

}  // namespace

RequestRouter::RequestRouter(conf::SnapshotConstSharedPtr snapshot, Upstream& upstream)
    : upstream_(upstream), quota_(snapshot->config().budget) {
  setSnapshot(std::move(snapshot));
}

void RequestRouter::setSnapshot(conf::SnapshotConstSharedPtr snapshot) {
  snapshot_ = std::move(snapshot);
  quota_.setBudget(snapshot_->config().budget);
  reloadRevocations();
}

void RequestRouter::reloadRevocations() {
  const std::string& file = snapshot_->config().signing.revoked_file;
  revocations_known_ = true;
  ++revocation_generation_;
  if (file.empty()) {
    revoked_.reset();
  } else if (auto list = conf::loadRevokedFile(file)) {
    revoked_ = std::make_shared<const std::unordered_set<std::string>>(std::move(*list));
  } else {
    // Fail closed: without the list a revoked token would pass, so every JWT is refused until
    // a reload reads it again (static API keys keep working).
    revocations_known_ = false;
    logEvent("revoked_file_unreadable", {{"error", list.error().message}});
  }
  // Streams were authorised when they opened: what changed may no longer allow them.
  recheckStreams(std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count());
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
}

std::string RequestRouter::nextSyncToken(std::string_view client) {
  if (client.empty()) return "0";
  // Bounded: names come from configs; past the bound every counter restarts from a new random
  // start.
  if (sync_counters_.size() >= 2 * conf::kMaxClients &&
      sync_counters_.find(std::string(client)) == sync_counters_.end()) {
    sync_counters_.clear();
  }
  auto [it, inserted] = sync_counters_.try_emplace(std::string(client));
  if (inserted) {
    uint32_t start = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&start), sizeof start) != 1) start = 0;
    it->second = start;
  }
  return std::to_string(++it->second);
}

void RequestRouter::route(const codec::HttpRequestParser& parser, Admission admission,
                          Exchange& ex) {
  AccessRecord& rec = ex.record();
  rec.bytes_in = parser.body().size();
  if (admission.entry == nullptr) {  // OPTIONS: the only request admitted without a client
    ex.respond(preflight(parser));
    return;
  }
  RouteContext ctx;
  ctx.snapshot = std::move(admission.snapshot);
  const conf::Config& cfg = ctx.snapshot->config();
  // Parsed once at admission already; cannot fail here.
  auto opts = codec::parseResponseOptions(parser.header("upstash-encoding"),
                                          parser.header("upstash-response-format"));
  ctx.enc = opts && opts->base64 ? ReplyEncoding::Base64 : ReplyEncoding::Plain;
  ctx.resp2 = opts && opts->resp2;
  if (opts) {
    ctx.upstream_headers =
        upstream_.passthroughHeaders(parser, *opts, admission.entry->config->spec.name);
  }
  ctx.headers = std::move(admission.cors);
  if (!admission.request) {  // a body followed the head: decode it now
    codec::RestOptions ro;
    ro.allow_query_token = cfg.listen.allow_query_token;
    auto decoded = codec::decodeRestRequest(parser, ro);
    if (!decoded) {
      rec.reason = "bad_request";
      ex.respond(withHeaders(
          errorResponse(codec::restErrorStatus(decoded.error()), decoded.error().message), ctx));
      return;
    }
    admission.request = std::move(*decoded);
  }
  const codec::RestRequest& req = *admission.request;
  rec.route = codec::routeName(req.route());
  rec.command_count = req.commandCount();

  const conf::ClientEntry& entry = *admission.entry;
  const policy::Identity identity{admission.sub};
  if (req.route() == codec::RestRoute::Subscribe || req.route() == codec::RestRoute::PSubscribe) {
    ctx.stream = std::make_shared<StreamGuard>();
    ctx.stream->token = std::move(admission.stream_token);
    ctx.stream->jti = std::move(admission.stream_jti);
    ctx.stream->deadline_s = admission.stream_deadline;
    ctx.stream->client = entry.config->spec.name;
    ctx.stream->ip16 = admission.client_ip.ip16;
    if (auto origin = parser.header("origin")) ctx.stream->origin = std::string(*origin);
    codec::Argv argv = req.command(0);
    ctx.stream->argv.assign(argv.begin(), argv.end());
    ctx.stream->close = [&ex, g = ctx.stream.get()](int status, std::string_view message) {
      if (g->began) {
        ex.streamWrite(streamClosedEvent(message));
        ex.endStream();
        return;
      }
      HttpResponse r = errorResponse(status, message);
      r.close = true;
      ex.respond(std::move(r));
    };
  }
  RequestPlan plan;
  if (!planRequest(req, entry, identity, ex, ctx, plan)) return;
  if (ctx.stream) watchStream(ctx.stream);

  const conf::ClientConfig& client = *entry.config;
  chargeAndDispatch(plan, client,
                    client.limits.per_identity_rate.count != 0
                        ? identityKey(admission.sub, admission.client_ip.ip16)
                        : std::string(),
                    ctx, ex);
}

bool RequestRouter::planRequest(const codec::RestRequest& req, const conf::ClientEntry& entry,
                                const policy::Identity& identity, Exchange& ex,
                                const RouteContext& ctx, RequestPlan& plan) {
  AccessRecord& rec = ex.record();
  policy::EvalScratch& scratch = ex.scratch();
  const size_t n = req.commandCount();
  rec.commands.reserve(std::min<size_t>(n, 32));
  const bool log_keys = ctx.snapshot->config().audit.log_keys;
  // After each evaluation: the command name, and the keys the policy found (names only with
  // audit.log_keys).
  auto note = [&rec, &scratch, log_keys](const Checked& c, codec::Argv argv) {
    if (rec.commands.size() < 32) rec.commands.push_back(c.name);
    rec.key_count += scratch.extraction.keys.size();
    if (!log_keys) return;
    for (const policy::KeyRef& k : scratch.extraction.keys) {
      if (rec.keys.size() >= 32) break;
      if (k.arg < argv.size()) rec.keys.emplace_back(argv[k.arg].substr(0, 256));
    }
  };
  plan.route = req.route();
  auto refuse = [&](const Checked& c, std::string message) {
    rec.decision = "deny";
    rec.reason = std::string(policy::reasonName(c.reason));
    ex.respond(withHeaders(errorResponse(c.status, message), ctx));
    return false;
  };

  switch (req.route()) {
    case codec::RestRoute::Command: {
      policy::Argv fwd;
      Checked c = check(entry, identity, req.command(0), scratch, plan, fwd);
      note(c, req.command(0));
      if (!c.allowed) return refuse(c, c.message);
      plan.forward.push_back(fwd);
      rec.decision = "allow";
      return true;
    }
    case codec::RestRoute::Pipeline: {
      for (size_t i = 0; i < n; ++i) {
        policy::Argv f;
        Checked c = check(entry, identity, req.command(i), scratch, plan, f);
        note(c, req.command(i));
        if (c.allowed) {
          plan.forward.push_back(f);
        } else {
          plan.messages.push_back(std::move(c.message));
          plan.denied_at.push_back(i);
        }
      }
      rec.decision = plan.denied_at.empty() ? "allow" : plan.forward.empty() ? "deny" : "partial";
      if (!plan.denied_at.empty()) {
        rec.reason = "inline_denials:" + std::to_string(plan.denied_at.size());
      }
      return true;
    }
    case codec::RestRoute::MultiExec: {
      // All or nothing: one denied command rejects the transaction before anything is sent.
      for (size_t i = 0; i < n; ++i) {
        policy::Argv f;
        Checked c = check(entry, identity, req.command(i), scratch, plan, f);
        note(c, req.command(i));
        if (!c.allowed) {
          return refuse(c, c.message + " (transaction command at index " + std::to_string(i) + ")");
        }
        plan.forward.push_back(f);
      }
      rec.decision = "allow";
      return true;
    }
    case codec::RestRoute::Subscribe:
    case codec::RestRoute::PSubscribe: {
      codec::Argv argv = req.command(0);
      policy::Evaluation ev = entry.policy->evaluate(argv, identity, scratch);
      rec.commands.push_back(ev.decision.command ? std::string(ev.decision.command->name) : "?");
      if (!ev.decision.allowed()) {
        Checked c;
        c.reason = ev.decision.reason;
        c.status = deniedStatus(ev.decision.reason);
        return refuse(c, policy::denialMessage(ev.decision, argv[0]));
      }
      plan.forward.push_back(argv);
      plan.channel = req.channel();
      rec.decision = "allow";
      return true;
    }
  }
  return false;
}

}  // namespace kw::proxy
