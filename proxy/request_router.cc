// Routes one HTTP request: credentials, REST decoding, policy, one upstream call, JSON encoding.
#include "proxy/request_router.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <optional>

#include "policy/command_table.h"
#include "policy/decision.h"
#include "policy/jwt.h"
#include "proxy/codec/reply_json.h"
#include "proxy/codec/rest_request.h"
#include "proxy/codec/sse.h"
#include "proxy/credential_resolver.h"

namespace kw::proxy {

using codec::ReplyEncoding;
using Clock = std::chrono::steady_clock;

HttpResponse errorResponse(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = codec::jsonError(message);
  return r;
}

namespace {

constexpr std::string_view kWrongPass = "WRONGPASS invalid or missing auth token";

// What every async step of one request needs (copied into the callbacks).
struct Ctx {
  conf::SnapshotConstSharedPtr snapshot;  // keeps `entry` alive
  ReplyEncoding enc = ReplyEncoding::Plain;
  bool resp2 = false;
  std::vector<std::pair<std::string, std::string>> headers;  // CORS etc.
  Clock::time_point started;
};

HttpResponse withHeaders(HttpResponse r, const Ctx& ctx) {
  for (const auto& h : ctx.headers) r.headers.push_back(h);
  return r;
}

double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

HttpResponse upstreamFailure(const UpstreamError& e, const Ctx& ctx, AccessRecord& rec) {
  rec.reason = "upstream_" + std::string(toString(e.kind));
  return withHeaders(
      errorResponse(httpStatus(e.kind), "ERR upstream " + std::string(toString(e.kind))), ctx);
}

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
      return 403;
  }
  return 403;
}

Checked check(const conf::ClientEntry& entry, const policy::Identity& id, codec::Argv argv,
              policy::EvalScratch& scratch, std::deque<std::string>& owned,
              std::deque<std::vector<std::string_view>>& views, policy::Argv& forward) {
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
    auto& v = views.emplace_back();
    v.reserve(ev.rewritten.size());
    for (std::string_view a : ev.rewritten) v.push_back(owned.emplace_back(a));
    forward = policy::Argv(v.data(), v.size());
  }
  return c;
}

}  // namespace

RequestRouter::RequestRouter(conf::SnapshotConstSharedPtr snapshot, RedisUpstream* upstream)
    : upstream_(upstream) {
  setSnapshot(std::move(snapshot));
}

void RequestRouter::setSnapshot(conf::SnapshotConstSharedPtr snapshot) {
  snapshot_ = std::move(snapshot);
  reloadRevocations();
}

void RequestRouter::reloadRevocations() {
  const std::string& file = snapshot_->config().signing.revoked_file;
  revocations_known_ = true;
  if (file.empty()) {
    revoked_.reset();
    return;
  }
  auto list = conf::loadRevokedFile(file);
  if (list) {
    revoked_ = std::make_shared<const std::unordered_set<std::string>>(std::move(*list));
    return;
  }
  // Fail closed: without the list a revoked token would pass, so every JWT is refused until
  // a reload reads it again (static API keys keep working).
  revocations_known_ = false;
  logEvent("revoked_file_unreadable", {{"error", list.error().message}});
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

std::string RequestRouter::nextSyncToken() { return std::to_string(++sync_counter_); }

void RequestRouter::route(const codec::HttpRequestParser& parser, const PeerInfo& peer,
                          Exchange& ex) {
  AccessRecord& rec = ex.record();
  rec.method = codec::methodName(parser.method());
  rec.bytes_in = parser.body().size();
  const PeerInfo client_ip = clientAddress(parser, peer);
  rec.source_ip = client_ip.ip;
  if (parser.method() == codec::HttpMethod::Other) {
    rec.reason = "method_not_allowed";
    ex.respond(errorResponse(405, "ERR method not allowed"));
    return;
  }
  if (parser.method() == codec::HttpMethod::Options) {
    ex.respond(preflight(parser));
    return;
  }
  Ctx ctx;
  ctx.snapshot = snapshot_;
  const conf::Config& cfg = ctx.snapshot->config();
  auto opts = codec::parseResponseOptions(parser.header("upstash-encoding"),
                                          parser.header("upstash-response-format"));
  if (!opts) {
    rec.reason = "bad_request";
    ex.respond(errorResponse(codec::restErrorStatus(opts.error()), opts.error().message));
    return;
  }
  ctx.enc = opts->base64 ? ReplyEncoding::Base64 : ReplyEncoding::Plain;
  ctx.resp2 = opts->resp2;
  codec::RestOptions ro;
  ro.allow_query_token = cfg.listen.allow_query_token;
  auto decoded = codec::decodeRestRequest(parser, ro);
  if (!decoded) {
    rec.reason = "bad_request";
    ex.respond(errorResponse(codec::restErrorStatus(decoded.error()), decoded.error().message));
    return;
  }
  codec::RestRequest& req = *decoded;
  rec.route = codec::routeName(req.route());
  rec.command_count = req.commandCount();

  // Credentials.
  std::optional<std::string_view> token = codec::bearerToken(parser.header("authorization"));
  std::string jwt_sub;  // the JWT's sub claim (empty for static keys)
  const conf::ClientEntry* entry = nullptr;
  if (req.queryTokenState() != codec::QueryToken::Disallowed) {
    if (!token && req.queryToken()) token = req.queryToken();
    if (token) {
      const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
      ResolvedCredential cred =
          resolveCredential(*token, *ctx.snapshot, now_s, revoked_.get(), revocations_known_);
      entry = cred.entry;
      jwt_sub = std::move(cred.sub);
      if (entry == nullptr) rec.reason = credentialFailureReason(cred.failure);
    }
  }
  if (entry == nullptr) {
    if (rec.reason.empty()) rec.reason = "auth";
    rec.decision = "deny";
    ex.respond(errorResponse(401, kWrongPass));
    return;
  }
  const conf::ClientConfig& client = *entry->config;
  rec.client = client.spec.name;
  rec.sub = jwt_sub;
  const policy::Identity identity{jwt_sub};
  if (!client.allow_ips.empty() && !conf::anyContains(client.allow_ips, client_ip.ip16)) {
    rec.reason = "source_ip";
    rec.decision = "deny";
    ex.respond(errorResponse(403, "NOPERM source address not allowed for this client"));
    return;
  }
  if (auto origin = parser.header("origin")) {
    bool ok = false;
    for (const auto& o : client.allow_origins) ok = ok || o == *origin || o == "*";
    if (!ok) {
      rec.reason = "origin";
      rec.decision = "deny";
      ex.respond(errorResponse(403, "NOPERM origin not allowed for this client"));
      return;
    }
    ctx.headers.emplace_back("Access-Control-Allow-Origin", std::string(*origin));
    ctx.headers.emplace_back("Access-Control-Expose-Headers", "upstash-sync-token");
    ctx.headers.emplace_back("Vary", "Origin");
  }

  {
    HttpResponse limited;
    std::string identity_key = jwt_sub.empty() ? "ip:" + client_ip.ip : "sub:" + jwt_sub;
    if (!takeRateToken(client, identity_key, req.commandCount(), limited)) {
      rec.reason = "rate_limited";
      rec.decision = "deny";
      ex.respond(withHeaders(std::move(limited), ctx));
      return;
    }
  }

  policy::EvalScratch& scratch = ex.scratch();
  std::deque<std::string> owned;
  std::deque<std::vector<std::string_view>> views;
  const size_t n = req.commandCount();
  rec.commands.reserve(std::min<size_t>(n, 32));
  const bool log_keys = cfg.audit.log_keys;
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

  switch (req.route()) {
    case codec::RestRoute::Command: {
      policy::Argv fwd;
      Checked c = check(*entry, identity, req.command(0), scratch, owned, views, fwd);
      note(c, req.command(0));
      if (!c.allowed) {
        rec.decision = "deny";
        rec.reason = std::string(policy::reasonName(c.reason));
        ex.respond(withHeaders(errorResponse(c.status, c.message), ctx));
        return;
      }
      rec.decision = "allow";
      ctx.started = Clock::now();
      ex.holdRequest(upstream_->execute(
          std::span<const policy::Argv>(&fwd, 1), [&ex, ctx](UpstreamResult&& r) {
            AccessRecord& rc = ex.record();
            rc.upstream_ms = msSince(ctx.started);
            if (!r) return ex.respond(upstreamFailure(r.error(), ctx, rc));
            const UpstreamResponse& resp = r.value();
            HttpResponse out;
            if (ctx.resp2) {
              out.content_type = "application/octet-stream";
              codec::appendResp2Passthrough(out.body, resp.raw(0));
              out.status = codec::httpStatusForSingle(resp.value(0));
            } else {
              out.body = codec::singleReplyJson(resp.value(0), ctx.enc);
              out.status = codec::httpStatusForSingle(resp.value(0));
            }
            ex.respond(withHeaders(std::move(out), ctx));
          }));
      return;
    }
    case codec::RestRoute::Pipeline: {
      std::vector<policy::Argv> fwd;
      std::vector<std::string> messages;
      std::vector<size_t> denied_at;
      for (size_t i = 0; i < n; ++i) {
        policy::Argv f;
        Checked c = check(*entry, identity, req.command(i), scratch, owned, views, f);
        note(c, req.command(i));
        if (c.allowed) {
          fwd.push_back(f);
        } else {
          messages.push_back(std::move(c.message));
          denied_at.push_back(i);
        }
      }
      rec.decision = denied_at.empty() ? "allow" : fwd.empty() ? "deny" : "partial";
      if (!denied_at.empty()) rec.reason = "inline_denials:" + std::to_string(denied_at.size());
      auto finish = [ctx, messages = std::move(messages), denied_at = std::move(denied_at)](
                        Exchange& e, const UpstreamResponse* resp) {
        HttpResponse out;
        std::span<const codec::RespValue> values;
        if (resp) values = resp->values();
        if (ctx.resp2) {
          out.content_type = "application/octet-stream";
          size_t ri = 0, di = 0;
          for (size_t pos = 0; pos < values.size() + denied_at.size(); ++pos) {
            if (di < denied_at.size() && denied_at[di] == pos) {
              codec::appendResp2Error(out.body, messages[di++]);
            } else {
              codec::appendResp2Passthrough(out.body, resp->raw(ri++));
            }
          }
        } else {
          std::vector<codec::InlineError> errs;
          errs.reserve(denied_at.size());
          for (size_t k = 0; k < denied_at.size(); ++k) errs.push_back({denied_at[k], messages[k]});
          if (!codec::appendPipelineJson(out.body, values, errs, ctx.enc)) {
            return e.respond(withHeaders(errorResponse(500, "ERR internal error"), ctx));
          }
        }
        e.respond(withHeaders(std::move(out), ctx));
      };
      if (fwd.empty()) return finish(ex, nullptr);
      ctx.started = Clock::now();
      ex.holdRequest(
          upstream_->execute(fwd, [&ex, ctx, finish = std::move(finish)](UpstreamResult&& r) {
            ex.record().upstream_ms = msSince(ctx.started);
            if (!r) return ex.respond(upstreamFailure(r.error(), ctx, ex.record()));
            finish(ex, &r.value());
          }));
      return;
    }
    case codec::RestRoute::MultiExec: {
      std::vector<policy::Argv> fwd;
      for (size_t i = 0; i < n; ++i) {
        policy::Argv f;
        Checked c = check(*entry, identity, req.command(i), scratch, owned, views, f);
        note(c, req.command(i));
        if (!c.allowed) {
          rec.decision = "deny";
          rec.reason = std::string(policy::reasonName(c.reason));
          ex.respond(
              withHeaders(errorResponse(c.status, c.message + " (transaction command at index " +
                                                      std::to_string(i) + ")"),
                          ctx));
          return;
        }
        fwd.push_back(f);
      }
      rec.decision = "allow";
      ctx.started = Clock::now();
      ex.holdRequest(upstream_->executeTransaction(fwd, [&ex, ctx](UpstreamResult&& r) {
        ex.record().upstream_ms = msSince(ctx.started);
        if (!r) return ex.respond(upstreamFailure(r.error(), ctx, ex.record()));
        const UpstreamResponse& resp = r.value();
        HttpResponse out;
        if (ctx.resp2) {
          out.content_type = "application/octet-stream";
          codec::appendResp2Passthrough(out.body, resp.execRaw());
          out.status = 200;
        } else {
          out.status = codec::appendTransactionJson(out.body, resp.values(), ctx.enc);
        }
        ex.respond(withHeaders(std::move(out), ctx));
      }));
      return;
    }
    case codec::RestRoute::Subscribe:
    case codec::RestRoute::PSubscribe: {
      codec::Argv argv = req.command(0);
      policy::Evaluation ev = entry->policy->evaluate(argv, identity, scratch);
      rec.commands.push_back(ev.decision.command ? std::string(ev.decision.command->name) : "?");
      if (!ev.decision.allowed()) {
        rec.decision = "deny";
        rec.reason = std::string(policy::reasonName(ev.decision.reason));
        std::string msg = policy::denialMessage(ev.decision, argv[0]);
        ex.respond(withHeaders(errorResponse(msg.rfind("NOPERM", 0) == 0 ? 403 : 400, msg), ctx));
        return;
      }
      rec.decision = "allow";
      ctx.started = Clock::now();
      auto started = std::make_shared<bool>(false);
      bool pattern = req.route() == codec::RestRoute::PSubscribe;
      ex.holdSubscription(upstream_->subscribe(
          pattern, req.channel(),
          [&ex, ctx, started](const UpstreamReply& reply) {
            if (!*started) {
              *started = true;
              ex.record().upstream_ms = msSince(ctx.started);
              HttpResponse head;
              head.content_type = "text/event-stream";
              head.headers.emplace_back("Cache-Control", "no-cache");
              ex.beginStream(withHeaders(std::move(head), ctx));
            }
            std::string out;
            if (codec::appendSseEvent(out, reply.value)) ex.streamWrite(out);
          },
          [&ex, ctx, started](const UpstreamError& e) {
            if (!*started) {
              ex.record().upstream_ms = msSince(ctx.started);
              ex.respond(upstreamFailure(e, ctx, ex.record()));
            } else {
              ex.endStream();
            }
          }));
      return;
    }
  }
}

}  // namespace kw::proxy
