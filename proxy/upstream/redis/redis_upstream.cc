// RedisUpstream: RESP out, Upstash JSON (or resp2) back.
#include "proxy/upstream/redis/redis_upstream.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>

#include "proxy/codec/reply_json.h"
#include "proxy/codec/resp_writer.h"
#include "proxy/codec/sliced_reply.h"
#include "proxy/codec/sse.h"

namespace kw::proxy {

namespace {

using Clock = std::chrono::steady_clock;

// A body larger than this is encoded in slices of kSliceBytes, one per event-loop turn, so that
// a 96 MiB body (56 MiB of values, escaped) never holds the loop for more than a slice; smaller
// ones are built at once (no per-turn overhead where it cannot matter).
constexpr uint64_t kSliceThreshold = 1024 * 1024;
constexpr size_t kSliceBytes = 256 * 1024;
// Sizing (the escaping walk, nothing built) is several times faster than encoding.
constexpr size_t kMeasureBytes = 2 * 1024 * 1024;

// What the encoder's views point into, kept until the body is out.
struct HeldReply {
  UpstreamResponse resp;
  std::vector<size_t> denied_at;  // a pipeline's denied positions and their messages
  std::vector<std::string> messages;
  std::vector<codec::InlineError> errors;  // views into messages
};
using MakeEncoder = std::unique_ptr<codec::SlicedReplyEncoder> (*)(const HeldReply&,
                                                                   const RouteContext&, int&);

HttpResponse tooLargeEncoded(const RouteContext& ctx, AccessRecord& rec) {
  return upstreamFailure({UpstreamErrorKind::TooLarge,
                          "ERR reply exceeds upstream.max_reply_bytes once encoded (the command "
                          "ran; its reply was dropped)",
                          true},
                         ctx, rec);
}

// What every reply callback does first: the upstream latency noted, a failure answered (true:
// there are replies to encode).
bool settled(const UpstreamResult& r, const RouteContext& ctx, Exchange& ex) {
  ex.record().upstream_ms = msSince(ctx.started);
  if (r) return true;
  ex.respond(upstreamFailure(r.error(), ctx, ex.record()));
  return false;
}

// The body of a reply that may be large, sized exactly first (one walk in kMeasureBytes steps,
// which is also the encoded-size bound's check): over `bound` it is refused; over
// kSliceThreshold it is sent in slices: the head with the exact Content-Length, then a slice
// per loop turn (a zero-delay timer
// lets every other connection's events run between slices). Held by the exchange as its relay
// source: paused while the client's output buffer is over its high-water mark (so at most
// ~1 MiB of encoded body waits ahead of the client), resumed when it drains, closed (nothing
// more is encoded; the reply is freed) if the client goes away. It keeps the upstream reply the
// encoder's views point into.
class SlicedReply final : public StreamSource {
 public:
  static void start(Exchange& ex, event_base* base, HeldReply held, MakeEncoder make,
                    const RouteContext& ctx, uint64_t bound) {
    auto job = std::unique_ptr<SlicedReply>(new SlicedReply(ex, base, std::move(held), ctx, bound));
    job->enc_ = make(job->held_, ctx, job->status_);
    if (!job->enc_) return ex.respond(errorResponse(500, "ERR internal error"));
    SlicedReply* self = job.get();
    if (self->enc_->measure(kMeasureBytes)) {
      if (auto whole = self->answerAtOnce()) return ex.respond(std::move(*whole));
      ex.holdSource(std::move(job));
      return self->begin();
    }
    ex.holdSource(std::move(job));  // sized over the next turns
    self->timer_.arm(Milliseconds{0});
  }

  void close() override {
    closed_ = true;
    timer_.cancel();
  }
  void pause() override {
    paused_ = true;
    timer_.cancel();
  }
  void resume() override {
    paused_ = false;
    if (!closed_) timer_.arm(Milliseconds{0});
  }

 private:
  SlicedReply(Exchange& ex, event_base* base, HeldReply held, const RouteContext& ctx,
              uint64_t bound)
      : ex_(ex), held_(std::move(held)), ctx_(ctx), bound_(bound), timer_(base, [this] {
          slice();
        }) {}

  HttpResponse head() const {
    HttpResponse h;
    h.status = status_;
    if (ctx_.resp2) h.content_type = "application/octet-stream";
    return h;
  }

  // Sized: the refusal when over the bound (resp2 is the raw bytes, within max_reply_bytes),
  // the whole body when small after all (the same bytes), else nullopt (send it in slices).
  std::optional<HttpResponse> answerAtOnce() {
    const uint64_t length = enc_->size();
    if (!ctx_.resp2 && length > bound_) return tooLargeEncoded(ctx_, ex_.record());
    if (length > kSliceThreshold) return std::nullopt;
    HttpResponse whole = head();
    whole.body.reserve(length);
    enc_->next(whole.body, SIZE_MAX);
    return withHeaders(std::move(whole), ctx_);
  }

  void begin() {
    sending_ = true;
    ex_.relayBegin(withHeaders(head(), ctx_), enc_->size());
    timer_.arm(Milliseconds{0});
  }

  void slice() {
    if (closed_ || paused_) return;
    if (!sending_) {
      if (!enc_->measure(kMeasureBytes)) return timer_.arm(Milliseconds{0});
      if (auto whole = answerAtOnce()) {
        // Held as the relay source: answered through the relay, whose end frees this.
        std::string body = std::move(whole->body);
        whole->body.clear();
        ex_.relayBegin(std::move(*whole), body.size());
        ex_.relayWrite(body);
        return ex_.relayEnd();  // destroys this: nothing after
      }
      return begin();
    }
    std::string out;
    out.reserve(kSliceBytes + codec::SlicedReplyEncoder::kMaxOvershoot);
    const bool done = enc_->next(out, kSliceBytes);
    ex_.relayWrite(out);              // may pause() this
    if (done) return ex_.relayEnd();  // destroys this: nothing after
    if (!paused_ && !closed_) timer_.arm(Milliseconds{0});
  }

  Exchange& ex_;
  HeldReply held_;
  RouteContext ctx_;
  uint64_t bound_;
  int status_ = 200;
  std::unique_ptr<codec::SlicedReplyEncoder> enc_;  // views into held_
  Timer timer_;
  bool sending_ = false;  // sized, head sent
  bool paused_ = false;
  bool closed_ = false;
};

// Encoders for the sliced path, one per route (the same bodies as the one-shot code below).
std::unique_ptr<codec::SlicedReplyEncoder> slicedSingle(const HeldReply& h, const RouteContext& ctx,
                                                        int& status) {
  const UpstreamResponse& resp = h.resp;
  status = codec::httpStatusForSingle(resp.value(0));
  if (ctx.resp2) {
    const std::string_view raw = resp.raw(0);
    return codec::SlicedReplyEncoder::resp2({&raw, 1}, {}, {});
  }
  return codec::SlicedReplyEncoder::single(resp.value(0), ctx.enc);
}

std::unique_ptr<codec::SlicedReplyEncoder> slicedTransaction(const HeldReply& h,
                                                             const RouteContext& ctx, int& status) {
  const UpstreamResponse& resp = h.resp;
  if (ctx.resp2) {
    status = 200;
    const std::string_view raw = resp.execRaw();
    return codec::SlicedReplyEncoder::resp2({&raw, 1}, {}, {});
  }
  return codec::SlicedReplyEncoder::transaction(resp.values(), ctx.enc, status);
}

std::unique_ptr<codec::SlicedReplyEncoder> slicedPipeline(const HeldReply& h,
                                                          const RouteContext& ctx, int& status) {
  status = 200;
  if (ctx.resp2) {
    std::vector<std::string_view> raws;
    raws.reserve(h.resp.size());
    for (size_t i = 0; i < h.resp.size(); ++i) raws.push_back(h.resp.raw(i));
    return codec::SlicedReplyEncoder::resp2(raws, h.denied_at, h.messages);
  }
  auto e = codec::SlicedReplyEncoder::pipeline(h.resp.values(), h.errors, ctx.enc);
  return e ? std::move(*e) : nullptr;
}

// May the body be over kSliceThreshold? A cheap upper estimate (6 bytes per raw byte, as in
// overEncodedBound): SlicedReply then sizes it exactly.
bool mayBeLarge(const RouteContext& ctx, const UpstreamResponse& resp) {
  const uint64_t raw = resp.rawSize();
  if (ctx.resp2) return raw > kSliceThreshold;
  return 6 * raw + 66 + 16 * uint64_t{resp.size()} > kSliceThreshold;
}

// The pipeline's body: upstream replies with the denied slots' errors spliced in at their
// request positions.
HttpResponse pipelineBody(const RouteContext& ctx, const std::vector<size_t>& denied_at,
                          const std::vector<std::string>& messages, const UpstreamResponse& resp) {
  HttpResponse out;
  if (ctx.resp2) {
    out.content_type = "application/octet-stream";
    std::vector<std::string_view> raws;
    raws.reserve(resp.size());
    for (size_t i = 0; i < resp.size(); ++i) raws.push_back(resp.raw(i));
    codec::appendResp2Pipeline(out.body, raws, denied_at, messages);
    return out;
  }
  std::vector<codec::InlineError> errs;
  errs.reserve(denied_at.size());
  for (size_t k = 0; k < denied_at.size(); ++k) errs.push_back({denied_at[k], messages[k]});
  if (!codec::appendPipelineJson(out.body, resp.values(), errs, ctx.enc)) {
    return errorResponse(500, "ERR internal error");
  }
  return out;
}

// A pipeline whose JSON body would be over the bound: its largest replies become inline error
// slots ("the command ran; its reply was dropped"), largest first, until the rest fits, so that
// the pipeline is never failed whole (README, Policy semantics). One sizing walk per slot.
void fitPipeline(const RouteContext& ctx, UpstreamResponse& resp, uint64_t bound) {
  static constexpr std::string_view kDropped =
      "ERR reply exceeds upstream.max_reply_bytes once encoded (the command ran; its reply was "
      "dropped)";
  static constexpr std::string_view kDroppedRaw =
      "-ERR reply exceeds upstream.max_reply_bytes once encoded (the command ran; its reply was "
      "dropped)\r\n";
  if (ctx.resp2) return;  // the raw bytes, already within max_reply_bytes
  const uint64_t worst = 6 * uint64_t{resp.rawSize()} + 66 + 16 * uint64_t{resp.size()};
  if (worst <= bound) return;
  std::vector<std::pair<uint64_t, size_t>> sizes;  // (encoded size, slot)
  uint64_t total = 2;
  for (size_t i = 0; i < resp.size(); ++i) {
    const uint64_t n = codec::jsonBodySizeBound({&resp.value(i), 1}, ctx.enc);
    sizes.emplace_back(n, i);
    total += n + 1;
  }
  if (total <= bound) return;
  std::sort(sizes.begin(), sizes.end(), std::greater<>());
  for (const auto& [n, i] : sizes) {
    if (total <= bound) break;
    resp.replaceWithError(i, kDropped, kDroppedRaw);
    total = total - n + kDropped.size() + 16;
  }
}

// JSON escaping can grow a reply 6x: a body over the bound is refused before it is built (a body
// that may be over kSliceThreshold is sized exactly by SlicedReply instead).
bool overEncodedBound(const RouteContext& ctx, const UpstreamResponse& resp, uint64_t bound) {
  if (ctx.resp2) return false;  // the raw bytes, already within max_reply_bytes
  // No JSON byte costs more than 6 per RESP byte (\u00XX; every RESP value has >= 3 bytes of
  // framing for its envelope and separators): the exact sizing pass only runs when it matters.
  const uint64_t worst = 6 * uint64_t{resp.rawSize()} + 66 + 16 * uint64_t{resp.size()};
  return worst > bound && codec::jsonBodySizeBound(resp.values(), ctx.enc) > bound;
}

// The plan's encrypted values opened in place (value_crypt.h); with resp2 the changed replies'
// raw bytes are written anew. A transaction's values are EXEC's elements.
void openValues(UpstreamResponse& resp, const std::vector<ReplyOpen>& opens,
                const RouteContext& ctx, bool transaction) {
  if (opens.empty() || resp.size() == 0) return;
  const ValueOpener opener = valueOpener(ctx);
  std::span<codec::RespValue> values = resp.mutableValues();
  if (transaction) {
    codec::RespValue& exec = values.back();
    if (!exec.isArray() || openReplies(exec.elements, opens, opener, resp.text()).empty()) return;
    if (ctx.resp2) {
      std::string raw;
      codec::appendReply(raw, exec);
      resp.setRaw(values.size() - 1, std::move(raw));
    }
    return;
  }
  for (size_t i : openReplies(values, opens, opener, resp.text())) {
    if (!ctx.resp2) continue;
    std::string raw;
    codec::appendReply(raw, values[i]);
    resp.setRaw(i, std::move(raw));
  }
}

}  // namespace

Result<std::unique_ptr<RedisUpstream>> RedisUpstream::create(event_base* base,
                                                             RedisPoolOptions options) {
  auto pool = RedisPool::create(base, std::move(options));
  if (!pool) return pool.error();
  return std::make_unique<RedisUpstream>(std::move(*pool));
}

void RedisUpstream::probe() {
  if (ping_.pending()) return;
  ping_ = pool_->ping([this](UpstreamResult&& r) { ready_ = r.has_value(); });
}

void RedisUpstream::dispatch(const RequestPlan& plan, const RouteContext& base, Exchange& ex) {
  RouteContext ctx = base;
  ctx.started = Clock::now();
  const uint64_t bound = pool_->maxEncodedBytes();
  event_base* const loop = pool_->base();
  switch (plan.route) {
    case codec::RestRoute::Command: {
      ex.holdRequest(pool_->execute(
          plan.forward,
          [&ex, ctx, bound, loop, opens = std::move(plan.opens)](UpstreamResult&& r) {
            if (!settled(r, ctx, ex)) return;
            openValues(r.value(), opens, ctx, false);
            AccessRecord& rc = ex.record();
            const UpstreamResponse& resp = r.value();
            if (mayBeLarge(ctx, resp)) {
              return SlicedReply::start(ex, loop, {.resp = std::move(r.value())}, slicedSingle, ctx,
                                        bound);
            }
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
          ctx.client, ctx.identity, ctx.share, std::move(plan.refund)));
      return;
    }
    case codec::RestRoute::Pipeline: {
      // executePipeline: an over-limit reply is its slot's error even when the pipeline forwards
      // one command (attack-run finding: it failed whole, losing the denied slots).
      ex.holdRequest(pool_->executePipeline(
          plan.forward,
          [&ex, ctx, bound, loop, denied_at = plan.denied_at, messages = plan.messages,
           opens = std::move(plan.opens)](UpstreamResult&& r) {
            if (!settled(r, ctx, ex)) return;
            openValues(r.value(), opens, ctx, false);
            fitPipeline(ctx, r.value(), bound);
            if (mayBeLarge(ctx, r.value())) {
              HeldReply h{
                  .resp = std::move(r.value()), .denied_at = denied_at, .messages = messages};
              // The messages' strings are moved along with the vector: the views stay valid.
              for (size_t k = 0; k < h.denied_at.size(); ++k) {
                h.errors.push_back({h.denied_at[k], h.messages[k]});
              }
              return SlicedReply::start(ex, loop, std::move(h), slicedPipeline, ctx, bound);
            }
            if (overEncodedBound(ctx, r.value(), bound)) {
              return ex.respond(tooLargeEncoded(ctx, ex.record()));
            }
            ex.respond(withHeaders(pipelineBody(ctx, denied_at, messages, r.value()), ctx));
          },
          ctx.client, ctx.identity, ctx.share, std::move(plan.refund)));
      return;
    }
    case codec::RestRoute::MultiExec: {
      ex.holdRequest(pool_->executeTransaction(
          plan.forward,
          [&ex, ctx, bound, loop, opens = std::move(plan.opens)](UpstreamResult&& r) {
            if (!settled(r, ctx, ex)) return;
            openValues(r.value(), opens, ctx, true);
            const UpstreamResponse& resp = r.value();
            if (mayBeLarge(ctx, resp)) {
              return SlicedReply::start(ex, loop, {.resp = std::move(r.value())}, slicedTransaction,
                                        ctx, bound);
            }
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
          ctx.client, ctx.identity, ctx.share, std::move(plan.refund)));
      return;
    }
    case codec::RestRoute::Subscribe:
    case codec::RestRoute::PSubscribe: {
      auto started = std::make_shared<bool>(false);
      const bool pattern = plan.route == codec::RestRoute::PSubscribe;
      ex.holdSource(pool_->subscribe(
          pattern, plan.channel,
          [&ex, ctx, started](const UpstreamReply& reply) {
            if (!*started) {
              *started = true;
              if (ctx.stream) ctx.stream->began = true;
              ex.record().upstream_ms = msSince(ctx.started);
              ex.beginStream(streamHead(ctx));
            }
            if (reply.sse) return ex.streamWriteShared(reply.sse);  // a reference, not a copy
            std::string out;
            if (codec::appendSseEvent(out, reply.value)) ex.streamWrite(out);
          },
          [&ex, ctx, started](const UpstreamError& e) {
            if (!*started) {
              ex.record().upstream_ms = msSince(ctx.started);
              ex.respond(upstreamFailure(e, ctx, ex.record()));
            } else {
              // Said, so an upstream that went away is not taken for the stream's normal end
              // (attack round 15b).
              ex.streamWrite(streamClosedEvent(clientMessage(e)));
              ex.endStream();
            }
          },
          ctx.client));
      return;
    }
  }
}

}  // namespace kw::proxy
