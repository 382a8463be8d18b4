// The small response helpers every step of a request uses, the router's and the upstreams'.
#include "proxy/upstream/request_plan.h"

#include <algorithm>
#include <chrono>

#include "proxy/codec/reply_json.h"

namespace kw::proxy {

HttpResponse errorResponse(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = codec::jsonError(message);
  return r;
}

HttpResponse refusalResponse(const Refusal& r, AccessRecord& rec) {
  rec.reason = r.reason;
  if (r.deny) rec.decision = "deny";
  // Commands the policy allowed were never sent: the request was refused as a whole.
  for (CommandOutcome& o : rec.outcomes) {
    if (o.decision != "allow") continue;
    o.decision = "skipped";
    o.reason = r.reason;
  }
  HttpResponse out = errorResponse(r.status, r.message);
  out.headers = r.headers;
  return out;
}

HttpResponse streamHead(const RouteContext& ctx) {
  HttpResponse head;
  head.content_type = "text/event-stream";
  head.headers.emplace_back("Cache-Control", "no-cache");
  return withHeaders(std::move(head), ctx);
}

HttpResponse withHeaders(HttpResponse r, const RouteContext& ctx) {
  for (const auto& h : ctx.headers) r.headers.push_back(h);
  return r;
}

double msSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

HttpResponse upstreamFailure(const UpstreamError& e, const RouteContext& ctx, AccessRecord& rec) {
  rec.reason = "upstream_" + std::string(toString(e.kind));
  HttpResponse r = errorResponse(httpStatus(e.kind), clientMessage(e));
  if (r.status == 429) {
    // Every 429 says when to come back (attack round 15b: the upstream's own limit was passed on
    // bare, so clients retried at once). The upstream's limit is a rate limit, named "upstream";
    // its quota is the upstream's and unknown here (q=0).
    const uint32_t retry = std::max<uint32_t>(1, e.upstream_retry_after_s);
    r.headers.emplace_back("Retry-After", std::to_string(retry));
    if (e.upstream_retry_after_s != 0) {
      r.headers.emplace_back("RateLimit-Policy", "\"upstream\";q=0;w=" + std::to_string(retry));
      r.headers.emplace_back("RateLimit", "\"upstream\";r=0;t=" + std::to_string(retry));
    }
  }
  return withHeaders(std::move(r), ctx);
}

}  // namespace kw::proxy
