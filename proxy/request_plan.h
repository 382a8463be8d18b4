// Between the policy and the upstream: what one request will send, and what every async step of
// it needs. Shared by the router and its upstream-specific dispatchers (router_redis.cc, REST).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/snapshot.h"
#include "policy/key_extract.h"
#include "proxy/access_log.h"
#include "proxy/codec/http_request_parser.h"
#include "proxy/codec/reply_json.h"
#include "proxy/codec/rest_request.h"
#include "proxy/redis_connection.h"
#include "proxy/stream_guard.h"

namespace kw::proxy {

struct HttpResponse;

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
  std::shared_ptr<const void> share;  // the client's share ticket (router_shares.cc): held
                                      // while any copy of the context lives
  // Subscribe / PSubscribe: the stream's authorisation, kept alive by the stream's callbacks.
  std::shared_ptr<StreamGuard> stream;
};

// The request headers a REST upstream receives on the client's behalf: Upstash-Encoding and
// Upstash-Response-Format as keyward understood them (`opts`: written anew, never the client's
// bytes), the client's first Upstash-Telemetry-* of each name, and, when the client sent any
// upstash-sync-token, `sync_token` (the newest upstream token seen on that client's responses,
// RequestRouter::upstreamSyncToken; nothing when empty) in place of the client's value, which
// is keyward's own counter; never credentials or cookies (router_rest.cc).
std::vector<std::pair<std::string, std::string>> restPassthroughHeaders(
    const codec::HttpRequestParser& parser, const codec::ResponseOptions& opts,
    std::string_view sync_token);

// The policy's verdict on a request that may proceed. `forward` views point into the decoded
// request or into `owned` (policy rewrites such as SCAN MATCH); they are valid only until route()
// returns, so a dispatcher must copy or serialize them before that.
struct RequestPlan {
  codec::RestRoute route = codec::RestRoute::Command;
  std::vector<policy::Argv> forward;  // the allowed commands, in request order
  std::vector<size_t> denied_at;      // Pipeline: request positions of denied commands, ascending
  std::vector<std::string> messages;  // their error texts, same order
  std::string_view channel;           // Subscribe / PSubscribe: the channel or pattern
  std::deque<std::string> owned;
  std::deque<std::vector<std::string_view>> views;

  // Billed upstream commands (CONTRACT.md §3: a pipeline of N is N; denied ones cost nothing).
  [[nodiscard]] size_t billed() const { return forward.size(); }
};

// The bytes of one POST to the REST upstream at `path` (base path included): Host, keyward's
// own bearer token, the JSON body, and `headers` (restPassthroughHeaders). SECRET inside.
std::string buildRestRequest(const conf::UpstreamConfig& up, std::string_view path,
                             std::string_view body,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             bool stream);

// `r` plus the context's headers.
HttpResponse withHeaders(HttpResponse r, const RouteContext& ctx);
// The client's JSON error for an upstream failure; notes the reason in `rec`.
HttpResponse upstreamFailure(const UpstreamError& e, const RouteContext& ctx, AccessRecord& rec);
// Milliseconds since `t` (upstream latency in the access record).
double msSince(std::chrono::steady_clock::time_point t);

}  // namespace kw::proxy
