// RequestRouter's open-stream registry: every SSE stream is authorised again when credentials or
// the config change and when its token expires, and closed when that no longer holds.
#include <algorithm>

#include "conf/config.h"
#include "policy/decision.h"
#include "proxy/codec/reply_json.h"
#include "proxy/io/access_log.h"
#include "proxy/router/credential_resolver.h"
#include "proxy/router/request_router.h"

namespace kw::proxy {

std::string streamClosedEvent(std::string_view message) {
  // jsonError escapes the message; the result has no newline, so it is one `data: ` line.
  return "event: error\ndata: " + codec::jsonError(message) + "\n\n";
}

namespace {

struct Verdict {
  int status = 0;  // 0: the stream may go on
  std::string message;
  std::string reason;  // access-log word
};

}  // namespace

void RequestRouter::watchStream(const std::shared_ptr<StreamGuard>& guard) {
  // Drop the references of streams that ended, amortised: the registry stays at most twice
  // the number of open streams.
  if (streams_.size() >= 2 * streams_live_ + 16) {
    std::erase_if(streams_, [](const std::weak_ptr<StreamGuard>& w) { return w.expired(); });
    streams_live_ = streams_.size();
  }
  streams_.push_back(guard);
  ++streams_live_;
  if (guard->deadline_s != 0 && (next_deadline_s_ == 0 || guard->deadline_s < next_deadline_s_)) {
    next_deadline_s_ = guard->deadline_s;
  }
}

void RequestRouter::recheckStreams(int64_t now_s, bool expiry_only) {
  if (expiry_only && (next_deadline_s_ == 0 || now_s < next_deadline_s_)) return;
  // Closing a stream may run connection code; work on a copy of the live set.
  std::vector<std::shared_ptr<StreamGuard>> live;
  live.reserve(streams_.size());
  for (const auto& w : streams_) {
    if (auto g = w.lock(); g && !g->closed) live.push_back(std::move(g));
  }
  streams_.assign(live.begin(), live.end());
  streams_live_ = live.size();
  next_deadline_s_ = 0;
  policy::EvalScratch scratch;
  for (const auto& g : live) {
    if (expiry_only && (g->deadline_s == 0 || now_s < g->deadline_s)) {
      if (g->deadline_s != 0 && (next_deadline_s_ == 0 || g->deadline_s < next_deadline_s_)) {
        next_deadline_s_ = g->deadline_s;
      }
      continue;
    }
    Verdict v;
    ResolvedCredential cred =
        resolveCredential(g->token, *snapshot_, now_s, revoked_.get(), revocations_known_);
    if (!cred.ok()) {
      v.status = 401;
      v.reason = "stream_auth";
      if (!g->jti.empty() && revoked_ && revoked_->count(g->jti)) {
        v.message = "WRONGPASS token revoked";
      } else if (g->deadline_s != 0 && now_s >= g->deadline_s) {
        v.message = "WRONGPASS token expired";
      } else {
        v.message = "WRONGPASS credential no longer valid";
      }
    } else if (cred.entry->config->spec.name != g->client) {
      v = {401, "WRONGPASS credential no longer valid", "stream_auth"};
    } else {
      const conf::ClientConfig& client = *cred.entry->config;
      bool origin_ok = !g->origin;
      for (const auto& o : client.allow_origins) {
        origin_ok = origin_ok || (g->origin && (o == *g->origin || o == "*"));
      }
      std::vector<std::string_view> argv(g->argv.begin(), g->argv.end());
      const policy::Identity identity{cred.sub};
      policy::Evaluation ev = cred.entry->policy->evaluate(argv, identity, scratch);
      if (!client.allow_ips.empty() && !conf::anyContains(client.allow_ips, g->ip16)) {
        v = {403, "NOPERM source address not allowed for this client", "stream_source_ip"};
      } else if (!origin_ok) {
        v = {403, "NOPERM origin not allowed for this client", "stream_origin"};
      } else if (!ev.decision.allowed()) {
        v = {403, policy::denialMessage(ev.decision, argv[0]), "stream_policy"};
      } else {
        // signing.leeway may have changed: the deadline follows the verifier.
        g->deadline_s = cred.is_jwt ? cred.exp + snapshot_->jwtRules().leeway_s : 0;
      }
    }
    if (v.status == 0) {
      if (g->deadline_s != 0 && (next_deadline_s_ == 0 || g->deadline_s < next_deadline_s_)) {
        next_deadline_s_ = g->deadline_s;
      }
      continue;
    }
    g->closed = true;
    logEvent("stream_closed", {{"client", g->client}, {"reason", v.reason}});
    g->close(v.status, v.message);
  }
}

}  // namespace kw::proxy
