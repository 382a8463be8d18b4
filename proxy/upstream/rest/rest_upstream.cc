// RestUpstream: an Upstash REST request out, its reply relayed back.
#include "proxy/upstream/rest/rest_upstream.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "conf/loader.h"
#include "policy/ascii.h"
#include "proxy/codec/json_array_splice.h"
#include "proxy/codec/json_escape.h"
#include "proxy/codec/json_stream_check.h"
#include "proxy/codec/reply_json.h"
#include "proxy/codec/resp_parser.h"
#include "proxy/codec/resp_stream_check.h"
#include "proxy/codec/resp_writer.h"
#include "proxy/codec/rest_upstream_request.h"
#include "proxy/codec/sse_stream_check.h"
#include "proxy/codec/upstash_reply.h"

namespace kw::proxy {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxPassthroughHeaders = 16;
// Replies up to this size are held and answered whole; larger ones stream.
constexpr size_t kRelayThreshold = 256 * 1024;
// The longest subscription event line relayed (see dispatch).
constexpr uint64_t kMaxEventLine = uint64_t{1} << 20;

std::string errorElement(std::string_view message) {
  std::string out = "{\"error\":";
  codec::appendJsonString(out, message);
  out += '}';
  return out;
}

bool isJsonType(std::string_view ct) { return ct.starts_with("application/json"); }

// The state one relayed reply shares between its callbacks.
struct Relay {
  RouteContext ctx;
  RestUpstream* owner = nullptr;  // keeps the client's upstream sync token
  codec::RestRoute route = codec::RestRoute::Command;
  std::string upstream;  // "host:port" for logs
  RestCall* call = nullptr;
  size_t upstream_count = 0;
  std::vector<size_t> denied_at;
  std::vector<std::string> messages;
  // Encrypted values to open (value_crypt.h): the reply is then held whole, up to hold_limit.
  std::vector<ReplyOpen> opens;
  uint64_t hold_limit = 0;
  uint64_t max_elements = 0;
  // From the upstream's head.
  int status = 0;
  std::string content_type;
  std::optional<uint64_t> length;
  bool head_ok = false;
  bool began = false;     // the client's response head has been sent
  bool finished = false;  // the client's request is answered: ignore the rest
  std::string pending;    // the reply's bytes held before the relay starts
  std::optional<codec::JsonArraySplicer> splicer;
  // A streamed single-command JSON reply: checked as it passes (json_stream_check.h).
  std::optional<codec::JsonStreamCheck> checker;
  // A streamed resp2 reply (not spliced): counted as it passes (resp_stream_check.h).
  std::optional<codec::RespStreamCheck> resp_checker;
  std::string tail;  // streamed bytes kept back (relayOut)
  // Pieces of keyward's upstream token, looked for in every reply (secret_watch.h); `watch`
  // follows a streamed reply or subscription (everything it was fed went into `tail`).
  std::shared_ptr<const codec::SecretPieces> secret;
  std::optional<codec::SecretWatch> watch;
  // Subscribe / PSubscribe: each line checked to be an event of this subscription before it is
  // relayed (sse_stream_check.h).
  std::optional<codec::SseStreamCheck> events;

  // Denied slots go into a 200 reply only: an upstream 400 refused the request whole, and its
  // {"error":...} passes through as it is.
  [[nodiscard]] bool spliceJson() const {
    return !denied_at.empty() && !ctx.resp2 && status == 200;
  }
  [[nodiscard]] bool spliceResp2() const {
    return !denied_at.empty() && ctx.resp2 && status == 200;
  }

  HttpResponse head() const {
    HttpResponse h;
    h.status = status;
    h.content_type = content_type;
    return withHeaders(std::move(h), ctx);
  }
};

void logFailure(const Relay& r, const UpstreamError& e, std::string_view phase) {
  logEvent("upstream_failed", {{"upstream", r.upstream},
                               {"kind", std::string(toString(e.kind))},
                               {"phase", std::string(phase)},
                               {"detail", e.message}});
}

// Ends the request with a failure: a JSON 502/504 when nothing was sent yet, else the client
// connection is closed mid-body (a truncated response, never a complete-looking one).
void failRelay(Relay& r, Exchange& ex, const UpstreamError& e) {
  if (r.finished) return;
  r.finished = true;
  ex.record().upstream_ms = msSince(r.ctx.started);
  // Stop the call first: answering may start the client's next request, which replaces (and
  // frees) the call this exchange holds.
  if (r.call != nullptr) std::exchange(r.call, nullptr)->close();
  if (r.route == codec::RestRoute::Subscribe || r.route == codec::RestRoute::PSubscribe) {
    if (r.began) {
      logFailure(r, e, "stream");
      // Said, so an upstream that went away is not taken for the stream's normal end (attack
      // round 15b).
      ex.streamWrite(streamClosedEvent(clientMessage(e)));
      return ex.endStream();
    }
  }
  if (r.began) {
    logFailure(r, e, "body");
    ex.record().reason = "upstream_" + std::string(toString(e.kind));
    ex.relayAbort();
  } else {
    logFailure(r, e, "head");
    ex.respond(upstreamFailure(e, r.ctx, ex.record()));
  }
}

// Is the upstream's answer one the client may see? (Upstash: 200 JSON, or 400 JSON for Redis
// errors; resp2: 200 octet-stream.) Anything else is the upstream's failure, not the client's.
std::optional<UpstreamError> checkHead(const Relay& r, const codec::HttpResponseParser& p) {
  const int s = p.status();
  const std::string ct(p.header("content-type").value_or(""));
  const bool sse =
      r.route == codec::RestRoute::Subscribe || r.route == codec::RestRoute::PSubscribe;
  // Only 401 says the token is bad. A 403 is the upstream refusing a command (an inner keyward
  // or a read-only Upstash token): the client's answer, passed on like a 400.
  if (s == 401) {
    return UpstreamError{UpstreamErrorKind::Auth,
                         "upstream refused keyward's upstream token (HTTP " + std::to_string(s) +
                             "): check upstream.token_env / token_file"};
  }
  // The body keyward sent (values grow by a third once encrypted) is over the upstream's limit:
  // refused before it ran, so the client's answer is a 413 too, not an upstream failure.
  // The upstream's own rate or plan limit: nothing ran, and the client may retry later.
  if (s == 429) {
    UpstreamError e{UpstreamErrorKind::Share,
                    "ERR the upstream refused the request: its rate or plan limit (HTTP 429); "
                    "nothing ran"};
    // Its Retry-After in seconds (1 to a day); the HTTP-date form or anything else: 1.
    e.upstream_retry_after_s = 1;
    const std::string_view ra = ascii::trimOws(p.header("retry-after").value_or(""));
    if (!ra.empty() && ra.size() <= 5 &&
        ra.find_first_not_of("0123456789") == std::string_view::npos) {
      e.upstream_retry_after_s =
          std::clamp<uint32_t>(static_cast<uint32_t>(std::stoul(std::string(ra))), 1, 86400);
    }
    return e;
  }
  if (s == 413) {
    return UpstreamError{UpstreamErrorKind::RequestTooLarge,
                         "ERR request too large for the upstream (HTTP 413); nothing ran"};
  }
  if (sse) {
    if (s == 200 && ct.starts_with("text/event-stream")) return std::nullopt;
  } else if ((s == 200 || s == 400 || s == 403) && r.ctx.resp2 &&
             ct.starts_with("application/octet-stream")) {
    return std::nullopt;  // resp2: a Redis error on a single command is 400 with its RESP bytes
  } else if ((s == 200 || s == 400 || s == 403) && isJsonType(ct) &&
             !(s == 200 && r.ctx.resp2 && r.route != codec::RestRoute::MultiExec)) {
    return std::nullopt;  // a refusal is JSON in either format; resp2 does not apply to /multi-exec
  }
  std::string shown = ct.substr(0, 64);
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') c = '?';
  }
  // Any other answer came after the request was sent: it may have run, so the client hears
  // "outcome unknown", and an upstream's own timeout is a timeout (504) here too.
  return UpstreamError{
      s == 504 ? UpstreamErrorKind::Timeout : UpstreamErrorKind::Protocol,
      "upstream answered HTTP " + std::to_string(s) + " with Content-Type '" + shown + "'", true};
}

// resp2 pipeline with denied slots: frame the upstream's replies and put the errors between.
// `body` as exactly `count` whole RESP replies with nothing after them (views into it).
std::optional<std::vector<std::string_view>> splitResp2(std::string_view body, size_t count,
                                                        const codec::RespLimits& limits = {}) {
  std::vector<std::string_view> raws;
  raws.reserve(count);
  codec::RespParser parser(&limits);
  while (raws.size() < count) {
    size_t len = 0;
    if (parser.scan(body, len) != codec::RespParser::Status::Complete) return std::nullopt;
    raws.push_back(body.substr(0, len));
    body.remove_prefix(len);
    parser.reset();
  }
  if (!body.empty()) return std::nullopt;
  return raws;
}

std::optional<std::string> spliceResp2(const Relay& r, std::string_view body) {
  const auto raws = splitResp2(body, r.upstream_count);
  if (!raws) return std::nullopt;
  std::string out;
  codec::appendResp2Pipeline(out, *raws, r.denied_at, r.messages);
  return out;
}

void onHead(Relay& r, Exchange& ex, const codec::HttpResponseParser& p) {
  if (r.finished) return;
  if (auto bad = checkHead(r, p)) return failRelay(r, ex, *bad);
  r.status = p.status();
  r.content_type = std::string(p.header("content-type").value_or("application/json"));
  // Kept for the client's next requests, never relayed: the client gets keyward's counter.
  if (auto t = p.header("upstash-sync-token")) r.owner->noteSyncToken(r.ctx.client, *t);
  r.length = p.contentLength();
  r.head_ok = true;
  if (r.route == codec::RestRoute::Subscribe || r.route == codec::RestRoute::PSubscribe) {
    ex.record().upstream_ms = msSince(r.ctx.started);
    r.began = true;
    if (r.ctx.stream) r.ctx.stream->began = true;
    ex.beginStream(streamHead(r.ctx));
  }
}

// Does the body start like what its Content-Type says (JSON, or RESP for resp2)?
bool plausibleStart(const Relay& r, std::string_view body) {
  size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return false;
  const char c = body[first];
  if (r.content_type.starts_with("application/octet-stream")) {
    return std::string_view("+-:$*").find(c) != std::string_view::npos;
  }
  return c == '{' || c == '[';
}

// Denied slots to splice in, or (streamed) a JSON array reply to count on its way: its closing
// bracket goes out only when it held one element per command sent.
std::optional<codec::JsonArraySplicer> makeSplicer(const Relay& r, bool streaming) {
  const bool array =
      r.route == codec::RestRoute::Pipeline || r.route == codec::RestRoute::MultiExec;
  if (!r.spliceJson() && !(streaming && array && !r.ctx.resp2 && r.status == 200)) {
    return std::nullopt;
  }
  std::vector<codec::SplicedElement> inserts;
  for (size_t k = 0; k < r.denied_at.size(); ++k) {
    inserts.push_back({r.denied_at[k], errorElement(r.messages[k])});
  }
  return codec::JsonArraySplicer(r.upstream_count, std::move(inserts));
}

// Streamed bytes on their way to the client. The end of what arrived is kept back: its last
// byte, until the end shows the reply whole (the checkers), and what could still be the start of
// a piece of keyward's upstream token, so none goes out (attack round 17: an upstream that
// reflects the request handed a client who padded it past 256 KiB the Authorization keyward
// sent; round 18: JSON-escaped, base64 or one byte short; held replies are checked whole).
void relayOut(Relay& r, Exchange& ex, std::string_view bytes) {
  if (bytes.empty()) return;
  r.tail.append(bytes);
  if (!r.watch->feed(bytes)) {
    return failRelay(
        r, ex,
        {UpstreamErrorKind::Protocol, "upstream reply holds keyward's upstream token", true});
  }
  const uint64_t released = r.watch->fed() - r.tail.size();  // what went out before
  const size_t out = std::min<uint64_t>(r.watch->releasable() - released, r.tail.size() - 1);
  ex.relayWrite(std::string_view(r.tail).substr(0, out));
  r.tail.erase(0, out);
}

// One chunk of a streamed reply: checked (JSON envelopes, resp2), then spliced and counted
// (JSON arrays), or passed as it is.
void relayChunk(Relay& r, Exchange& ex, std::string_view chunk) {
  if (chunk.empty()) return;
  if (r.checker && !r.checker->feed(chunk)) {
    return failRelay(
        r, ex,
        {UpstreamErrorKind::Protocol, "upstream reply is not one whole Upstash reply", true});
  }
  if (r.resp_checker && !r.resp_checker->feed(chunk)) {
    return failRelay(r, ex,
                     {UpstreamErrorKind::Protocol,
                      "upstream resp2 reply does not match the commands sent", true});
  }
  if (!r.splicer) return relayOut(r, ex, chunk);
  std::string out;
  if (!r.splicer->feed(chunk, out)) {
    return failRelay(r, ex, {UpstreamErrorKind::Protocol, r.splicer->error(), true});
  }
  relayOut(r, ex, out);
}

// The held bytes outgrew kRelayThreshold: send the head and stream from here on.
void startRelay(Relay& r, Exchange& ex) {
  if (!plausibleStart(r, r.pending)) {
    return failRelay(r, ex, {UpstreamErrorKind::Protocol, "upstream body is not JSON", true});
  }
  r.splicer = makeSplicer(r, true);
  r.watch.emplace(r.secret);
  const bool resp2 = r.content_type.starts_with("application/octet-stream");
  if (!resp2) {
    // The shape checkWhole asks of a held reply (attack round 23: only the count was checked
    // past 256 KiB, so slots with extra members or bare values went out).
    const bool array = r.status == 200 && (r.route == codec::RestRoute::Pipeline ||
                                           r.route == codec::RestRoute::MultiExec);
    r.checker.emplace(array ? codec::JsonShape::EnvelopeArray : codec::JsonShape::Envelope);
  } else if (!r.splicer) {
    // As checkWhole counts a held one: one reply per command of a pipeline, else one.
    r.resp_checker.emplace(
        r.status == 200 && r.route == codec::RestRoute::Pipeline ? r.upstream_count : 1);
  }
  if (r.call != nullptr) r.call->leavePool();
  ex.record().upstream_ms = msSince(r.ctx.started);
  r.began = true;
  ex.relayBegin(r.head(), r.splicer ? std::nullopt : r.length);
  std::string held;
  held.swap(r.pending);
  relayChunk(r, ex, held);
}

void onBody(Relay& r, Exchange& ex, std::string_view chunk) {
  if (r.finished || !r.head_ok) return;
  if (r.events) {
    std::string out;
    if (!r.events->feed(chunk, out)) {
      return failRelay(r, ex, {UpstreamErrorKind::Protocol, r.events->error()});
    }
    if (!r.watch->feed(out) || !r.watch->settle()) {  // whole lines: no piece spans a break
      return failRelay(
          r, ex, {UpstreamErrorKind::Protocol, "upstream stream holds keyward's upstream token"});
    }
    if (!out.empty()) ex.streamWrite(out);
    return;
  }
  if (!r.began) {
    // Small replies are held whole, so a failure mid-reply is still a clean JSON 502; only
    // replies larger than the threshold stream (and are cut off if the upstream fails). A reply
    // with values to open is held whole, within upstream.max_reply_bytes.
    r.pending.append(chunk);
    if (!r.opens.empty()) {
      if (r.pending.size() > r.hold_limit) {
        failRelay(r, ex,
                  {UpstreamErrorKind::TooLarge,
                   "ERR reply exceeds upstream.max_reply_bytes (the command ran; its reply was "
                   "dropped)",
                   true});
      }
      return;
    }
    if (r.pending.size() >= kRelayThreshold && !r.spliceResp2()) startRelay(r, ex);
    return;
  }
  relayChunk(r, ex, chunk);
}

// A reply held whole and relayed as it is must be one whole reply to what was sent (attack round
// 15: a truncated or miscounted body went out as a complete 200): for JSON an envelope, or an
// array of one envelope per command (a refusal, any status but 200, is one {"error":...}); for
// resp2 one RESP reply per command (EXEC's array for a transaction), nothing after them.
Status checkWhole(const Relay& r) {
  const bool array = r.status == 200 && (r.route == codec::RestRoute::Pipeline ||
                                         r.route == codec::RestRoute::MultiExec);
  if (!r.content_type.starts_with("application/octet-stream")) {
    return codec::checkUpstashBody(
        r.pending, array ? codec::UpstashBodyShape::Array : codec::UpstashBodyShape::Single,
        r.upstream_count);
  }
  const size_t want =
      r.status == 200 && r.route == codec::RestRoute::Pipeline ? r.upstream_count : 1;
  if (!splitResp2(r.pending, want)) {
    return makeError(ErrorCode::Upstream, "upstream resp2 reply does not match the commands sent");
  }
  return Ok{};
}

// The upstream's replies as values: resp2 RESP (single and pipeline when the client asked resp2:
// types and bytes exact), else base64 JSON.
Result<codec::UpstashReply> parseJson(const Relay& r, const codec::RespLimits& limits) {
  const auto shape = r.route == codec::RestRoute::Command ? codec::UpstashBodyShape::Single
                                                          : codec::UpstashBodyShape::Array;
  return codec::parseUpstashReply(r.pending, shape, r.upstream_count, true, limits);
}

Result<codec::UpstashReply> parseResp2(const Relay& r, const codec::RespLimits& limits) {
  const auto raws = splitResp2(r.pending, r.upstream_count, limits);
  if (!raws) {
    return makeError(ErrorCode::Upstream, "upstream resp2 reply does not match the commands sent");
  }
  codec::UpstashReply out;
  for (std::string_view raw : *raws) {
    auto v = codec::parseReply(raw, limits);
    if (!v) return v.error();
    out.values.push_back(std::move(*v));  // views into r.pending, which outlives them
  }
  return out;
}

// A reply with encrypted values, asked of the upstream so that every byte of a value and of a hash
// field name (the associated data) arrives exact (prepare: resp2, or base64 JSON); parsed whole,
// opened (value_crypt.h), and encoded again as the client asked, the pipeline's denied slots
// spliced in. (status, body).
Result<std::pair<int, std::string>> openedBody(Relay& r) {
  codec::RespLimits limits;
  limits.max_reply_bytes = r.hold_limit;
  limits.max_values = r.max_elements;
  const bool resp2 = r.content_type.starts_with("application/octet-stream");
  // The request refused whole ({"error":...}, JSON as keyward's own refusals are): nothing to open.
  if (r.status != 200 && !resp2) return std::make_pair(r.status, std::move(r.pending));
  auto parsed = resp2 ? parseResp2(r, limits) : parseJson(r, limits);
  if (!parsed) return parsed.error();
  std::vector<codec::RespValue>& values = parsed->values;
  std::list<std::string> text;
  (void)openReplies(values, r.opens, valueOpener(r.ctx), text);
  std::string body;
  int status = 200;
  switch (r.route) {
    case codec::RestRoute::Command:
      status = codec::httpStatusForSingle(values[0]);
      if (r.ctx.resp2) {
        codec::appendReply(body, values[0]);
      } else {
        body = codec::singleReplyJson(values[0], r.ctx.enc);
      }
      break;
    case codec::RestRoute::Pipeline:
      if (r.ctx.resp2) {
        std::vector<std::string> raws(values.size());
        std::vector<std::string_view> views;
        for (size_t i = 0; i < values.size(); ++i) {
          codec::appendReply(raws[i], values[i]);
          views.emplace_back(raws[i]);
        }
        codec::appendResp2Pipeline(body, views, r.denied_at, r.messages);
      } else {
        std::vector<codec::InlineError> errors;
        for (size_t k = 0; k < r.denied_at.size(); ++k) {
          errors.push_back({r.denied_at[k], r.messages[k]});
        }
        if (!codec::appendPipelineJson(body, values, errors, r.ctx.enc)) {
          return makeError(ErrorCode::Upstream, "upstream pipeline reply does not match");
        }
      }
      break;
    case codec::RestRoute::MultiExec: {
      codec::RespValue exec = codec::RespValue::array(std::move(values));
      if (r.ctx.resp2) {
        codec::appendReply(body, exec);  // EXEC's reply, as a Redis upstream gives it
      } else {
        status = codec::appendMultiExecJson(body, exec, r.ctx.enc);
      }
      break;
    }
    case codec::RestRoute::Subscribe:
    case codec::RestRoute::PSubscribe:
      break;
  }
  return std::make_pair(status, std::move(body));
}

void onDone(Relay& r, Exchange& ex) {
  if (r.finished) return;
  if (r.route == codec::RestRoute::Subscribe || r.route == codec::RestRoute::PSubscribe) {
    // A subscription has no end of its own: the upstream ending it is a failure to say.
    r.finished = true;
    ex.streamWrite(streamClosedEvent("ERR upstream closed the stream"));
    return ex.endStream();
  }
  if (r.began) {
    if (r.splicer && !r.splicer->finish()) {
      return failRelay(r, ex, {UpstreamErrorKind::Protocol, r.splicer->error(), true});
    }
    if (r.checker || r.resp_checker) {
      if ((r.checker && !r.checker->complete()) ||
          (r.resp_checker && !r.resp_checker->complete())) {
        return failRelay(
            r, ex, {UpstreamErrorKind::Protocol, "upstream reply ended before it was whole", true});
      }
    }
    if (!r.watch->settle()) {  // a piece that ends with the reply
      return failRelay(
          r, ex,
          {UpstreamErrorKind::Protocol, "upstream reply holds keyward's upstream token", true});
    }
    ex.relayWrite(r.tail);
    r.finished = true;
    return ex.relayEnd();
  }
  // The whole reply is here: check it, splice it, answer with a Content-Length. A reply with
  // values to open is parsed whole by openedBody (a JSON refusal, status not 200, it passes on
  // as it is: checked here like any other).
  const bool opened_parses =
      !r.opens.empty() &&
      (r.status == 200 || r.content_type.starts_with("application/octet-stream"));
  if (!opened_parses) {
    if (Status whole = checkWhole(r); !whole) {
      return failRelay(r, ex, {UpstreamErrorKind::Protocol, whole.error().message, true});
    }
  }
  // An upstream that echoes keyward's own credential (an error quoting the request's
  // Authorization) must not hand it to a client (attack round 15b; round 18: JSON-escaped, base64
  // or one byte short): never relayed.
  if (codec::SecretWatch::holds(r.secret, r.pending)) {
    return failRelay(
        r, ex,
        {UpstreamErrorKind::Protocol, "upstream reply holds keyward's upstream token", true});
  }
  HttpResponse out = r.head();
  if (!r.opens.empty()) {
    auto opened = openedBody(r);
    if (!opened)
      return failRelay(r, ex, {UpstreamErrorKind::Protocol, opened.error().message, true});
    out.status = opened->first;
    out.body = std::move(opened->second);
    if (out.status == 200 || r.content_type.starts_with("application/octet-stream")) {
      out.content_type = r.ctx.resp2 ? "application/octet-stream" : "application/json";
    }
  } else if (r.spliceResp2()) {
    auto body = spliceResp2(r, r.pending);
    if (!body) {
      return failRelay(r, ex,
                       {UpstreamErrorKind::Protocol,
                        "upstream resp2 pipeline reply does not match the commands sent", true});
    }
    out.body = std::move(*body);
  } else if (auto splicer = makeSplicer(r, false)) {
    if (!splicer->feed(r.pending, out.body) || !splicer->finish()) {
      return failRelay(r, ex, {UpstreamErrorKind::Protocol, splicer->error(), true});
    }
  } else {
    out.body = std::move(r.pending);
  }
  r.finished = true;
  ex.record().upstream_ms = msSince(r.ctx.started);
  ex.respond(std::move(out));
}

}  // namespace

Result<std::unique_ptr<RestUpstream>> RestUpstream::create(event_base* base,
                                                           RestPoolOptions options,
                                                           std::shared_ptr<SyncTokens> tokens) {
  auto pool = RestPool::create(base, std::move(options));
  if (!pool) return pool.error();
  auto up = std::make_unique<RestUpstream>(std::move(*pool), std::move(tokens));
  up->probe();
  return up;
}

void RestUpstream::probe() {
  pool_->warm();
  ready_ = pool_->connected();
}

std::shared_ptr<const codec::SecretPieces> RestUpstream::secretPieces(const std::string& token) {
  // Built on first use: a reload that changes upstream.token is refused (read once at start).
  if (!secret_) secret_ = std::make_shared<const codec::SecretPieces>(token);
  return secret_;
}

void RestUpstream::noteSyncToken(std::string_view client, std::string_view token) {
  // Opaque: only its size and charset are checked, so it can go into a header line unchanged.
  if (client.empty() || token.empty() || token.size() > kMaxSyncToken) return;
  if (!std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
    return;
  }
  sync_tokens_->note(client, token);
}

void RestUpstream::SyncTokens::note(std::string_view client, std::string_view token) {
  std::lock_guard<std::mutex> lock(mu_);
  // Bounded: names come from configs; past the bound the kept tokens go (the next read may be
  // served by a lagging replica once, as when the client sends no token).
  if (tokens_.size() >= 2 * conf::kMaxClients &&
      tokens_.find(std::string(client)) == tokens_.end()) {
    tokens_.clear();
  }
  tokens_[std::string(client)].assign(token);
}

std::string RestUpstream::SyncTokens::find(std::string_view client) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tokens_.find(std::string(client));
  return it == tokens_.end() ? std::string() : it->second;
}

std::vector<std::pair<std::string, std::string>> RestUpstream::passthroughHeaders(
    const codec::HttpRequestParser& parser, const codec::ResponseOptions& opts,
    std::string_view client) const {
  const std::string sync_token = syncToken(client);
  std::vector<std::pair<std::string, std::string>> out;
  // What keyward relays and splices is what it parsed: the upstream gets the same reading, not
  // a variant spelling (or a duplicate) it might read otherwise.
  if (opts.base64) out.emplace_back("upstash-encoding", "base64");
  if (opts.resp2) out.emplace_back("upstash-response-format", "resp2");
  // The client holds keyward's per-client counter, never an upstream token: asking for
  // read-your-writes gets the client's own newest upstream token sent, whatever it sent.
  if (parser.header("upstash-sync-token") && !sync_token.empty()) {
    out.emplace_back("upstash-sync-token", std::string(sync_token));
  }
  for (const codec::HttpHeader& h : parser.headers()) {
    if (!h.name.starts_with("upstash-telemetry-")) continue;
    if (out.size() >= kMaxPassthroughHeaders) break;
    const bool seen =
        std::any_of(out.begin(), out.end(), [&](const auto& kv) { return kv.first == h.name; });
    if (!seen) out.emplace_back(std::string(h.name), std::string(h.value));
  }
  return out;
}

std::optional<Refusal> RestUpstream::prepare(RequestPlan& plan, const RouteContext& base) {
  const conf::UpstreamConfig& up = base.snapshot->config().upstream;
  // Twice the largest body a client may send (JSON escaping could make it six times).
  const codec::RestTarget to{
      up.host, up.port,  up.kind == conf::UpstreamKind::RestHttps,
      up.path, up.token, 2 * base.snapshot->config().listen.max_body_bytes + 65536};
  // Replies with values to open are asked byte-exact: resp2 when the client asked resp2 (its types
  // kept), else base64 JSON (plain JSON would repair non-UTF-8 bytes, and a hash field name is
  // associated data; Upstash ignores resp2 on /multi-exec). openedBody encodes them back as the
  // client asked.
  std::vector<std::pair<std::string, std::string>> opening;
  if (!plan.opens.empty()) {
    const bool resp2 = base.resp2 && plan.route != codec::RestRoute::MultiExec;
    for (const auto& h : base.upstream_headers) {
      if (h.first != "upstash-encoding" && h.first != "upstash-response-format") {
        opening.push_back(h);
      }
    }
    if (resp2) {
      opening.emplace_back("upstash-response-format", "resp2");
    } else {
      opening.emplace_back("upstash-encoding", "base64");
    }
  }
  auto bytes =
      codec::encodeRestUpstreamRequest(to, plan.route, plan.forward, plan.channel,
                                       plan.opens.empty() ? base.upstream_headers : opening);
  if (!bytes) {
    const bool too_large = bytes.error().code == ErrorCode::TooLarge;
    return Refusal{too_large ? 413 : 400,
                   bytes.error().message,
                   too_large ? "too_large" : "bad_request",
                   false,
                   {}};
  }
  plan.encoded = std::move(*bytes);
  return std::nullopt;
}

void RestUpstream::dispatch(const RequestPlan& plan, const RouteContext& base, Exchange& ex) {
  const conf::UpstreamConfig& up = base.snapshot->config().upstream;
  auto relay = std::make_shared<Relay>();
  relay->ctx = base;
  relay->owner = this;
  relay->ctx.started = Clock::now();
  relay->route = plan.route;
  relay->upstream = up.display;
  relay->upstream_count = plan.forward.size();
  relay->denied_at = plan.denied_at;
  relay->messages = plan.messages;
  relay->opens = std::move(plan.opens);
  // The body's bound as the Redis upstream bounds an encoded reply: twice max_reply_bytes (base64
  // JSON is a third larger than the values).
  relay->hold_limit = 2 * up.max_reply_bytes + 65536;
  relay->max_elements = up.max_reply_elements;
  relay->secret = secretPieces(up.token);
  if (plan.route == codec::RestRoute::Subscribe || plan.route == codec::RestRoute::PSubscribe) {
    // A line is at most 1 MiB: what @upstash/redis buffers of one (attack round 17: lines up
    // to max_reply_bytes, 64 MiB, held without a total; 16 streams took keyward to 663 MB).
    relay->events.emplace(plan.route == codec::RestRoute::PSubscribe, std::string(plan.channel),
                          std::min<uint64_t>(up.max_reply_bytes, kMaxEventLine));
    relay->watch.emplace(relay->secret);
  }

  RestCallSpec spec;
  spec.bytes = std::move(plan.encoded);
  spec.stream = plan.stream();
  spec.tenant = base.client;
  if (!base.identity.empty()) spec.lane = base.client + "\n" + base.identity;
  spec.hold = base.share;
  spec.refund = std::move(plan.refund);
  RestCallbacks cb;
  cb.on_head = [relay, &ex](const codec::HttpResponseParser& p) { onHead(*relay, ex, p); };
  cb.on_body = [relay, &ex](std::string_view chunk) { onBody(*relay, ex, chunk); };
  cb.on_done = [relay, &ex] { onDone(*relay, ex); };
  cb.on_error = [relay, &ex](const UpstreamError& e) { failRelay(*relay, ex, e); };
  RestCallPtr call = pool_->call(std::move(spec), std::move(cb));
  relay->call = call.get();
  ex.holdSource(std::move(call));
}

}  // namespace kw::proxy
