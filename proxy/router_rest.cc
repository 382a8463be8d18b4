// RequestRouter's REST dispatcher: a RequestPlan becomes one HTTP request to the Upstash REST
// API (keyward's own token, the allowed commands only, the client's Upstash-* headers), and the
// upstream's reply is relayed back as it arrives, with denied pipeline slots spliced in.
#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "proxy/codec/json_array_splice.h"
#include "proxy/codec/json_escape.h"
#include "proxy/codec/reply_json.h"
#include "proxy/request_router.h"
#include "proxy/resp_framer.h"

namespace kw::proxy {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxPassthroughHeaders = 16;
// Replies up to this size are held and answered whole; larger ones stream.
constexpr size_t kRelayThreshold = 256 * 1024;

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// ["a","b"]: false when an argument is not UTF-8 (JSON text cannot carry it unchanged).
bool appendCommandJson(std::string& out, policy::Argv argv) {
  out += '[';
  for (size_t i = 0; i < argv.size(); ++i) {
    if (!codec::isValidUtf8(argv[i])) return false;
    if (i != 0) out += ',';
    codec::appendJsonString(out, argv[i]);
  }
  out += ']';
  return true;
}

// RFC 3986 pchar characters stay (unreserved, sub-delims, ':' and '@'); everything else,
// '/', '?', '#' and '%' included, is %XX.
std::string percentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
        std::string_view("-._~!$&'()*+,;=:@").find(static_cast<char>(c)) !=
            std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string hostHeader(const conf::UpstreamConfig& up) {
  std::string h = up.host.find(':') != std::string::npos ? "[" + up.host + "]" : up.host;
  const uint16_t default_port = up.kind == conf::UpstreamKind::RestHttps ? 443 : 80;
  if (up.port != default_port) h += ":" + std::to_string(up.port);
  return h;
}

std::string errorElement(std::string_view message) {
  std::string out = "{\"error\":";
  codec::appendJsonString(out, message);
  out += '}';
  return out;
}

bool isJsonType(std::string_view ct) { return startsWith(ct, "application/json"); }

// The state one relayed reply shares between its callbacks.
struct Relay {
  RouteContext ctx;
  RequestRouter* router = nullptr;  // keeps the client's upstream sync token
  codec::RestRoute route = codec::RestRoute::Command;
  std::string upstream;  // "host:port" for logs
  RestCall* call = nullptr;
  size_t upstream_count = 0;
  std::vector<size_t> denied_at;
  std::vector<std::string> messages;
  // From the upstream's head.
  int status = 0;
  std::string content_type;
  std::optional<uint64_t> length;
  bool head_ok = false;
  bool began = false;     // the client's response head has been sent
  bool finished = false;  // the client's request is answered: ignore the rest
  std::string pending;    // the reply's bytes held before the relay starts
  std::optional<codec::JsonArraySplicer> splicer;

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
  if (sse) {
    if (s == 200 && startsWith(ct, "text/event-stream")) return std::nullopt;
  } else if (s == 200 && r.ctx.resp2 && startsWith(ct, "application/octet-stream")) {
    return std::nullopt;
  } else if ((s == 200 || s == 400 || s == 403) && isJsonType(ct)) {
    return std::nullopt;
  }
  std::string shown = ct.substr(0, 64);
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '"' || c == '\\') c = '?';
  }
  return UpstreamError{UpstreamErrorKind::Protocol, "upstream answered HTTP " + std::to_string(s) +
                                                        " with Content-Type '" + shown + "'"};
}

// resp2 pipeline with denied slots: frame the upstream's replies and put the errors between.
std::optional<std::string> spliceResp2(const Relay& r, std::string_view body) {
  RespLimits limits;
  std::string out;
  std::string_view rest = body;
  size_t di = 0;
  for (size_t pos = 0; pos < r.upstream_count + r.denied_at.size(); ++pos) {
    if (di < r.denied_at.size() && r.denied_at[di] == pos) {
      codec::appendResp2Error(out, r.messages[di++]);
      continue;
    }
    RespFramer framer(&limits);
    size_t len = 0;
    if (framer.scan(rest, len) != RespFramer::Status::Complete) return std::nullopt;
    out.append(rest.substr(0, len));
    rest.remove_prefix(len);
  }
  if (!rest.empty()) return std::nullopt;
  return out;
}

void onHead(Relay& r, Exchange& ex, const codec::HttpResponseParser& p) {
  if (r.finished) return;
  if (auto bad = checkHead(r, p)) return failRelay(r, ex, *bad);
  r.status = p.status();
  r.content_type = std::string(p.header("content-type").value_or("application/json"));
  // Kept for the client's next requests, never relayed: the client gets keyward's counter.
  if (auto t = p.header("upstash-sync-token")) r.router->noteUpstreamSyncToken(r.ctx.client, *t);
  r.length = p.contentLength();
  r.head_ok = true;
  if (r.route == codec::RestRoute::Subscribe || r.route == codec::RestRoute::PSubscribe) {
    ex.record().upstream_ms = msSince(r.ctx.started);
    HttpResponse h = r.head();
    h.headers.emplace_back("Cache-Control", "no-cache");
    r.began = true;
    if (r.ctx.stream) r.ctx.stream->began = true;
    ex.beginStream(std::move(h));
  }
}

// Does the body start like what its Content-Type says (JSON, or RESP for resp2)?
bool plausibleStart(const Relay& r, std::string_view body) {
  size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return false;
  const char c = body[first];
  if (startsWith(r.content_type, "application/octet-stream")) {
    return std::string_view("+-:$*").find(c) != std::string_view::npos;
  }
  return c == '{' || c == '[';
}

std::optional<codec::JsonArraySplicer> makeSplicer(const Relay& r) {
  if (!r.spliceJson()) return std::nullopt;
  std::vector<codec::SplicedElement> inserts;
  for (size_t k = 0; k < r.denied_at.size(); ++k) {
    inserts.push_back({r.denied_at[k], errorElement(r.messages[k])});
  }
  return codec::JsonArraySplicer(r.upstream_count, std::move(inserts));
}

// The held bytes outgrew kRelayThreshold: send the head and stream from here on.
void startRelay(Relay& r, Exchange& ex) {
  if (!plausibleStart(r, r.pending)) {
    return failRelay(r, ex, {UpstreamErrorKind::Protocol, "upstream body is not JSON"});
  }
  r.splicer = makeSplicer(r);
  if (r.call != nullptr) r.call->leavePool();
  ex.record().upstream_ms = msSince(r.ctx.started);
  r.began = true;
  ex.relayBegin(r.head(), r.splicer ? std::nullopt : r.length);
  std::string held;
  held.swap(r.pending);
  if (!r.splicer) return ex.relayWrite(held);
  std::string out;
  if (!r.splicer->feed(held, out)) {
    return failRelay(r, ex, {UpstreamErrorKind::Protocol, r.splicer->error()});
  }
  ex.relayWrite(out);
}

void onBody(Relay& r, Exchange& ex, std::string_view chunk) {
  if (r.finished || !r.head_ok) return;
  if (r.route == codec::RestRoute::Subscribe || r.route == codec::RestRoute::PSubscribe) {
    return ex.streamWrite(chunk);
  }
  if (!r.began) {
    // Small replies are held whole, so a failure mid-reply is still a clean JSON 502; only
    // replies larger than the threshold stream (and are cut off if the upstream fails).
    r.pending.append(chunk);
    if (r.pending.size() >= kRelayThreshold && !r.spliceResp2()) startRelay(r, ex);
    return;
  }
  if (!r.splicer) return ex.relayWrite(chunk);
  std::string out;
  if (!r.splicer->feed(chunk, out)) {
    return failRelay(r, ex, {UpstreamErrorKind::Protocol, r.splicer->error()});
  }
  ex.relayWrite(out);
}

void onDone(Relay& r, Exchange& ex) {
  if (r.finished) return;
  if (r.route == codec::RestRoute::Subscribe || r.route == codec::RestRoute::PSubscribe) {
    r.finished = true;
    return ex.endStream();
  }
  if (r.began) {
    if (r.splicer && !r.splicer->finish()) {
      return failRelay(r, ex, {UpstreamErrorKind::Protocol, r.splicer->error()});
    }
    r.finished = true;
    return ex.relayEnd();
  }
  // The whole reply is here: check it, splice it, answer with a Content-Length.
  if (!plausibleStart(r, r.pending)) {
    return failRelay(r, ex, {UpstreamErrorKind::Protocol, "upstream body is not JSON"});
  }
  HttpResponse out = r.head();
  if (r.spliceResp2()) {
    auto body = spliceResp2(r, r.pending);
    if (!body) {
      return failRelay(r, ex,
                       {UpstreamErrorKind::Protocol,
                        "upstream resp2 pipeline reply does not match the commands sent"});
    }
    out.body = std::move(*body);
  } else if (auto splicer = makeSplicer(r)) {
    if (!splicer->feed(r.pending, out.body) || !splicer->finish()) {
      return failRelay(r, ex, {UpstreamErrorKind::Protocol, splicer->error()});
    }
  } else {
    out.body = std::move(r.pending);
  }
  r.finished = true;
  ex.record().upstream_ms = msSince(r.ctx.started);
  ex.respond(std::move(out));
}

}  // namespace

std::vector<std::pair<std::string, std::string>> restPassthroughHeaders(
    const codec::HttpRequestParser& parser, const codec::ResponseOptions& opts,
    std::string_view sync_token) {
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
    if (!startsWith(h.name, "upstash-telemetry-")) continue;
    if (out.size() >= kMaxPassthroughHeaders) break;
    const bool seen =
        std::any_of(out.begin(), out.end(), [&](const auto& kv) { return kv.first == h.name; });
    if (!seen) out.emplace_back(std::string(h.name), std::string(h.value));
  }
  return out;
}

std::string buildRestRequest(const conf::UpstreamConfig& up, std::string_view path,
                             std::string_view body,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             bool stream) {
  std::string req;
  req.reserve(body.size() + 512);
  req += "POST ";
  req += path;
  req += " HTTP/1.1\r\nHost: " + hostHeader(up) + "\r\n";
  req += "Authorization: Bearer " + up.token + "\r\n";
  if (stream) req += "Accept: text/event-stream\r\n";
  req +=
      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& [name, value] : headers) req += name + ": " + value + "\r\n";
  req += "Connection: keep-alive\r\n\r\n";
  req += body;
  return req;
}

void RequestRouter::dispatchRest(const RequestPlan& plan, const RouteContext& base, Exchange& ex) {
  const conf::UpstreamConfig& up = base.snapshot->config().upstream;
  auto relay = std::make_shared<Relay>();
  relay->ctx = base;
  relay->router = this;
  relay->ctx.started = Clock::now();
  relay->route = plan.route;
  relay->upstream = up.display;
  relay->upstream_count = plan.forward.size();
  relay->denied_at = plan.denied_at;
  relay->messages = plan.messages;

  std::string path = up.path;
  std::string body;
  bool utf8 = true;
  RestCallSpec spec;
  switch (plan.route) {
    case codec::RestRoute::Command:
      path += "/";
      utf8 = appendCommandJson(body, plan.forward[0]);
      break;
    case codec::RestRoute::Pipeline:
    case codec::RestRoute::MultiExec:
      if (plan.forward.empty()) {  // every command denied: nothing to send
        HttpResponse out;
        if (base.resp2) {
          out.content_type = "application/octet-stream";
          for (const std::string& m : plan.messages) codec::appendResp2Error(out.body, m);
        } else {
          out.body = "[";
          for (size_t k = 0; k < plan.messages.size(); ++k) {
            if (k != 0) out.body += ',';
            out.body += errorElement(plan.messages[k]);
          }
          out.body += ']';
        }
        return ex.respond(withHeaders(std::move(out), base));
      }
      path += plan.route == codec::RestRoute::Pipeline ? "/pipeline" : "/multi-exec";
      body = "[";
      for (size_t i = 0; i < plan.forward.size() && utf8; ++i) {
        if (i != 0) body += ',';
        utf8 = appendCommandJson(body, plan.forward[i]);
      }
      body += ']';
      break;
    case codec::RestRoute::Subscribe:
    case codec::RestRoute::PSubscribe:
      path += plan.route == codec::RestRoute::Subscribe ? "/subscribe/" : "/psubscribe/";
      path += percentEncode(plan.channel);
      spec.stream = true;
      break;
  }
  if (!utf8) {
    ex.record().reason = "bad_request";
    return ex.respond(withHeaders(
        errorResponse(400, "ERR argument is not valid UTF-8 (the REST upstream takes JSON text)"),
        base));
  }

  spec.bytes = buildRestRequest(up, path, body, base.upstream_headers, spec.stream);
  spec.tenant = base.client;

  RestCallbacks cb;
  cb.on_head = [relay, &ex](const codec::HttpResponseParser& p) { onHead(*relay, ex, p); };
  cb.on_body = [relay, &ex](std::string_view chunk) { onBody(*relay, ex, chunk); };
  cb.on_done = [relay, &ex] { onDone(*relay, ex); };
  cb.on_error = [relay, &ex](const UpstreamError& e) { failRelay(*relay, ex, e); };
  RestCallPtr call = rest_->call(std::move(spec), std::move(cb));
  relay->call = call.get();
  ex.holdSubscription(std::move(call));
}

}  // namespace kw::proxy
