// Between the policy and the upstream: what one request will send, and what every async step of
// it needs. Shared by the router and the upstreams (upstream.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/snapshot.h"
#include "policy/key_extract.h"
#include "proxy/codec/http_request_parser.h"
#include "proxy/codec/reply_json.h"
#include "proxy/codec/rest_request.h"
#include "proxy/io/access_log.h"
#include "proxy/upstream/exchange.h"
#include "proxy/upstream/stream_guard.h"
#include "proxy/upstream/upstream_types.h"
#include "proxy/upstream/value_crypt.h"

namespace kw::proxy {

// Copied into upstream callbacks: nothing here may point into the request.
struct RouteContext {
  conf::SnapshotConstSharedPtr snapshot;  // keeps the client's config alive
  codec::ReplyEncoding enc = codec::ReplyEncoding::Plain;
  bool resp2 = false;
  std::vector<std::pair<std::string, std::string>> headers;  // CORS etc., on every response
  std::chrono::steady_clock::time_point started;             // when the upstream call began
  // REST upstream: the client's headers that pass through (Upstash-Encoding, ...).
  std::vector<std::pair<std::string, std::string>> upstream_headers;
  std::string client;                 // the client's name: the upstream queues' tenant
  std::string identity;               // the JWT sub (empty for a static key): a share within it
  std::shared_ptr<const void> share;  // the client's share ticket (router_shares.cc): held
                                      // while any copy of the context lives
  // Subscribe / PSubscribe: the stream's authorisation, kept alive by the stream's callbacks.
  std::shared_ptr<StreamGuard> stream;
};

// How the context's snapshot opens encrypted values (encryption.keys and .plaintext).
inline ValueOpener valueOpener(const RouteContext& ctx) {
  return {&ctx.snapshot->valueKeyring(),
          ctx.snapshot->config().encryption.plaintext == conf::PlaintextReads::Pass};
}

// The policy's verdict on a request that may proceed. `forward` views point into the decoded
// request or into `owned` (policy rewrites such as SCAN MATCH); they are valid only until route()
// returns, so a dispatcher must copy or serialize them before that.
struct RequestPlan {
  codec::RestRoute route = codec::RestRoute::Command;
  std::vector<policy::Argv> forward;  // the allowed commands, in request order
  // What to open in each forwarded command's reply (value_crypt.h), same order; empty when no
  // reply holds an encrypted value. Moved out by dispatch, like `encoded` (one associated-data
  // string per value: an MGET of many keys holds many).
  mutable std::vector<ReplyOpen> opens;
  std::vector<size_t> denied_at;      // Pipeline: request positions of denied commands, ascending
  std::vector<std::string> messages;  // their error texts, same order
  std::string_view channel;           // Subscribe / PSubscribe: the channel or pattern
  // Rewritten arguments and the argv views over them: lists, whose elements never move and
  // which allocate nothing while empty (most requests rewrite nothing).
  std::list<std::string> owned;
  std::list<std::vector<std::string_view>> views;
  // REST: the upstream request, encoded by Upstream::prepare before the plan is charged and
  // moved out by dispatch (a plan is dispatched once; a request body can be megabytes).
  mutable std::string encoded;
  // The charge taken for it (set by the router once granted; moved out by dispatch to the pool
  // that writes it, which gives it back if the request is never written).
  mutable UnsentRefundPtr refund;
  // What its allowed commands may grow values to by offsets, together (policy/value_growth.h):
  // at most listen.max_body_bytes for the whole request.
  uint64_t grown_bytes = 0;

  // Appends one allowed command and what to open in its reply.
  void add(policy::Argv argv, ReplyOpen open) {
    const bool tracked = !opens.empty() || open.kind != policy::ReplyValues::None;
    if (tracked) opens.resize(forward.size());  // the earlier commands open nothing
    forward.push_back(argv);
    if (tracked) opens.push_back(std::move(open));
  }

  // Billed upstream commands (README, Quotas: a pipeline of N is N; denied ones cost nothing).
  [[nodiscard]] size_t billed() const { return forward.size(); }
  [[nodiscard]] bool stream() const {
    return route == codec::RestRoute::Subscribe || route == codec::RestRoute::PSubscribe;
  }
  // Every command denied (a pipeline): answered by keyward, nothing goes upstream.
  [[nodiscard]] bool sendsNothing() const { return !stream() && forward.empty(); }
};

// A request answered before it reached the upstream (credential, bad body, policy, share,
// quota).
struct Refusal {
  int status = 403;
  std::string message;  // the client's {"error": message}
  std::string reason;   // access-log reason
  bool deny = true;     // access-log decision "deny" (false: a malformed request, not a denial)
  std::vector<std::pair<std::string, std::string>> headers;  // Retry-After, RateLimit, ...
};

// The refusal's response ({"error": message}, its status and headers), its reason and decision
// noted in `rec`: the one place a refusal becomes a response.
HttpResponse refusalResponse(const Refusal& r, AccessRecord& rec);

// The head of an SSE stream (200, text/event-stream, no-cache, the context's headers), whichever
// upstream feeds it.
HttpResponse streamHead(const RouteContext& ctx);

// `r` plus the context's headers.
HttpResponse withHeaders(HttpResponse r, const RouteContext& ctx);
// The client's JSON error for an upstream failure; notes the reason in `rec`.
HttpResponse upstreamFailure(const UpstreamError& e, const RouteContext& ctx, AccessRecord& rec);
// Milliseconds since `t` (upstream latency in the access record).
double msSince(std::chrono::steady_clock::time_point t);

}  // namespace kw::proxy
