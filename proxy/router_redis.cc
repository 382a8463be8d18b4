// RequestRouter's Redis dispatcher: a RequestPlan becomes one RESP pipeline (or MULTI/EXEC, or a
// subscription) on the Redis upstream, and its replies become the Upstash JSON (or resp2) body.
#include <memory>

#include "proxy/codec/reply_json.h"
#include "proxy/codec/sse.h"
#include "proxy/request_router.h"

namespace kw::proxy {

namespace {

using Clock = std::chrono::steady_clock;

// The pipeline's body: upstream replies with the denied slots' errors spliced in at their
// request positions.
HttpResponse pipelineBody(const RouteContext& ctx, const std::vector<size_t>& denied_at,
                          const std::vector<std::string>& messages, const UpstreamResponse* resp) {
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
    return out;
  }
  std::vector<codec::InlineError> errs;
  errs.reserve(denied_at.size());
  for (size_t k = 0; k < denied_at.size(); ++k) errs.push_back({denied_at[k], messages[k]});
  if (!codec::appendPipelineJson(out.body, values, errs, ctx.enc)) {
    return errorResponse(500, "ERR internal error");
  }
  return out;
}

// JSON escaping can grow a reply 6x: a body over the bound is refused before it is built.
bool overEncodedBound(const RouteContext& ctx, const UpstreamResponse& resp, uint64_t bound) {
  if (ctx.resp2) return false;  // the raw bytes, already within max_reply_bytes
  // No JSON byte costs more than 6 per RESP byte (\u00XX; every RESP value has >= 3 bytes of
  // framing for its envelope and separators): the exact sizing pass only runs when it matters.
  const uint64_t worst = 6 * uint64_t{resp.rawAll().size()} + 66 + 16 * uint64_t{resp.size()};
  return worst > bound && codec::jsonBodySizeBound(resp.values(), ctx.enc) > bound;
}

HttpResponse tooLargeEncoded(const RouteContext& ctx, AccessRecord& rec) {
  return upstreamFailure({UpstreamErrorKind::TooLarge,
                          "ERR reply exceeds upstream.max_reply_bytes once encoded (the command "
                          "ran; its reply was dropped)",
                          true},
                         ctx, rec);
}

}  // namespace

void RequestRouter::dispatchRedis(const RequestPlan& plan, const RouteContext& base, Exchange& ex) {
  RouteContext ctx = base;
  ctx.started = Clock::now();
  const uint64_t bound = upstream_->maxEncodedBytes();
  switch (plan.route) {
    case codec::RestRoute::Command: {
      ex.holdRequest(upstream_->execute(
          plan.forward,
          [&ex, ctx, bound](UpstreamResult&& r) {
            AccessRecord& rc = ex.record();
            rc.upstream_ms = msSince(ctx.started);
            if (!r) return ex.respond(upstreamFailure(r.error(), ctx, rc));
            const UpstreamResponse& resp = r.value();
            if (overEncodedBound(ctx, resp, bound)) return ex.respond(tooLargeEncoded(ctx, rc));
            HttpResponse out;
            if (ctx.resp2) {
              out.content_type = "application/octet-stream";
              codec::appendResp2Passthrough(out.body, resp.raw(0));
            } else {
              out.body = codec::singleReplyJson(resp.value(0), ctx.enc);
            }
            out.status = codec::httpStatusForSingle(resp.value(0));
            ex.respond(withHeaders(std::move(out), ctx));
          },
          ctx.client));
      return;
    }
    case codec::RestRoute::Pipeline: {
      if (plan.forward.empty()) {
        return ex.respond(
            withHeaders(pipelineBody(ctx, plan.denied_at, plan.messages, nullptr), ctx));
      }
      ex.holdRequest(upstream_->execute(
          plan.forward,
          [&ex, ctx, bound, denied_at = plan.denied_at,
           messages = plan.messages](UpstreamResult&& r) {
            ex.record().upstream_ms = msSince(ctx.started);
            if (!r) return ex.respond(upstreamFailure(r.error(), ctx, ex.record()));
            if (overEncodedBound(ctx, r.value(), bound)) {
              return ex.respond(tooLargeEncoded(ctx, ex.record()));
            }
            ex.respond(withHeaders(pipelineBody(ctx, denied_at, messages, &r.value()), ctx));
          },
          ctx.client));
      return;
    }
    case codec::RestRoute::MultiExec: {
      ex.holdRequest(upstream_->executeTransaction(
          plan.forward,
          [&ex, ctx, bound](UpstreamResult&& r) {
            ex.record().upstream_ms = msSince(ctx.started);
            if (!r) return ex.respond(upstreamFailure(r.error(), ctx, ex.record()));
            const UpstreamResponse& resp = r.value();
            if (overEncodedBound(ctx, resp, bound)) {
              return ex.respond(tooLargeEncoded(ctx, ex.record()));
            }
            HttpResponse out;
            if (ctx.resp2) {
              out.content_type = "application/octet-stream";
              codec::appendResp2Passthrough(out.body, resp.execRaw());
              out.status = 200;
            } else {
              out.status = codec::appendTransactionJson(out.body, resp.values(), ctx.enc);
            }
            ex.respond(withHeaders(std::move(out), ctx));
          },
          ctx.client));
      return;
    }
    case codec::RestRoute::Subscribe:
    case codec::RestRoute::PSubscribe: {
      auto started = std::make_shared<bool>(false);
      const bool pattern = plan.route == codec::RestRoute::PSubscribe;
      ex.holdSubscription(upstream_->subscribe(
          pattern, plan.channel,
          [&ex, ctx, started](const UpstreamReply& reply) {
            if (!*started) {
              *started = true;
              if (ctx.stream) ctx.stream->began = true;
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
