// RequestRouter's access controls around the policy: head-time admission (credential, client
// address behind trusted proxies, Origin, path-style command), and CORS preflight.
#include <algorithm>
#include <cctype>
#include <chrono>

#include "policy/ascii.h"
#include "policy/command_table.h"
#include "policy/credentials.h"
#include "proxy/codec/reply_json.h"
#include "proxy/codec/rest_request.h"
#include "proxy/router/credential_resolver.h"
#include "proxy/router/request_router.h"

namespace kw::proxy {

namespace {

constexpr std::string_view kWrongPass = "WRONGPASS invalid or missing auth token";
// What a browser's script may read of a response besides the safelisted headers: the sync
// token, and what a refusal says about when to retry and which request it was.
constexpr std::string_view kExposeHeaders =
    "upstash-sync-token, retry-after, ratelimit, ratelimit-policy, x-request-id";

// An Origin one of the clients lists (or "*"), as a preflight allows it.
bool listedOrigin(const conf::Config& cfg, std::string_view origin) {
  if (origin.empty()) return false;
  for (const auto& c : cfg.clients) {
    for (const auto& o : c.allow_origins) {
      if (o == origin || o == "*") return true;
    }
  }
  return false;
}

// A head-time refusal: 401 and 403 are denials, anything else a malformed request.
Admission refused(Admission a, AccessRecord& rec, int status, std::string_view reason,
                  std::string_view message) {
  a.refusal = refusalResponse(
      Refusal{
          status, std::string(message), std::string(reason), status == 401 || status == 403, {}},
      rec);
  a.entry = nullptr;
  return a;
}

// A credential that holds, refused where it was presented (source address, Origin): no client
// was admitted, so the connection ends with the answer, as it does after a 401 (attack round
// 24: refused requests pipelined on one connection are each logged and audited).
Admission refusedHere(Admission a, AccessRecord& rec, std::string_view reason,
                      std::string_view message) {
  Admission r = refused(std::move(a), rec, 403, reason, message);
  r.refusal->close = true;
  return r;
}

// The ?_token= (and the errors of the query string) of a request whose JSON body is not read
// yet: its query decoded as a path-style command's would be.
Result<codec::RestRequest> decodeQueryOnly(const codec::HttpRequestParser& parser,
                                           const codec::RestOptions& ro) {
  std::string target = "/_";
  if (!parser.query().empty()) target.append("?").append(parser.query());
  return codec::decodeRestRequest(codec::HttpMethod::Get, target, {}, ro);
}

// Whether the command bit alone refuses `argv` (its path-style arguments; the body, not read
// yet, would be one more). Only the command (and subcommand, when the path names it) is
// decided here: keys and arity wait for the body.
std::optional<policy::Decision> commandRefusal(const conf::ClientEntry& entry,
                                               const policy::Identity& identity, codec::Argv argv,
                                               policy::EvalScratch& scratch) {
  const policy::CommandInfo* cmd = policy::findCommand(argv[0]);
  if (cmd == nullptr) return policy::Decision::deny(policy::Reason::CommandDenied);
  if ((cmd->traits & policy::kContainer) != 0 && argv.size() < 2) return std::nullopt;
  std::vector<std::string_view> probe(argv.begin(), argv.end());
  probe.emplace_back();  // stands for the body
  policy::Evaluation ev = entry.policy->evaluate(probe, identity, scratch);
  // Refusals that depend on the command alone, never on its (body) arguments.
  switch (ev.decision.reason) {
    case policy::Reason::CommandDenied:
    case policy::Reason::UnknownCommand:
    case policy::Reason::ConnectionState:
    case policy::Reason::Blocking:
    case policy::Reason::Introspection:
    case policy::Reason::Unsupported:
      return ev.decision;
    default:
      return std::nullopt;
  }
}

// The audit record's name for a credential that passed: never the token, nor enough of a
// digest to test guesses against offline at scale.
std::string credentialLabel(std::string_view token, const ResolvedCredential& cred) {
  // A static key's digest is the lookup's; a JWT's is computed only when it has no jti (a token
  // without one is still told apart from others of its key: attack-run finding).
  if (!cred.is_jwt) return "key:" + policy::toHex(cred.key_digest).substr(0, 12);
  if (!cred.jti.empty()) return "jwt:" + cred.kid + ":" + cred.jti;
  return "jwt:" + cred.kid + ":#" + policy::toHex(policy::sha256(token)).substr(0, 12);
}

}  // namespace

Admission RequestRouter::admit(const codec::HttpRequestParser& parser, const PeerInfo& peer,
                               AccessRecord& rec) {
  syncShared();
  Admission a;
  a.snapshot = snapshot_;
  rec.method = codec::methodName(parser.method());
  a.client_ip = clientAddress(parser, peer);
  rec.source_ip = a.client_ip.ip;
  rec.audited = audit_ != nullptr;
  if (rec.audited) {
    if (auto origin = parser.header("origin")) rec.origin = std::string(origin->substr(0, 256));
  }
  if (auditRefusing()) {
    const Refusal r = auditUnavailable();
    a.refusal = refusalResponse(r, rec);
    return a;
  }
  if (parser.method() == codec::HttpMethod::Other) {
    return refused(std::move(a), rec, 405, "method_not_allowed", "ERR method not allowed");
  }
  if (parser.method() == codec::HttpMethod::Options) return a;  // preflight: no credential
  const conf::Config& cfg = a.snapshot->config();
  auto opts = codec::parseResponseOptions(parser.header("upstash-encoding"),
                                          parser.header("upstash-response-format"));
  if (!opts) {
    return refused(std::move(a), rec, codec::restErrorStatus(opts.error()), "bad_request",
                   opts.error().message);
  }
  a.options = *opts;
  codec::RestOptions ro;
  ro.allow_query_token = cfg.listen.allow_query_token;
  const bool body_follows = parser.status() != codec::ParseStatus::Complete;
  const std::string_view path = parser.path();
  const bool json_route = path == "/" || path == "/pipeline" || path == "/multi-exec";
  // No body: the whole request decodes now (and is kept for route()). A body follows: only
  // what the head holds, the path-style command or the query string.
  auto decoded = !body_follows ? codec::decodeRestRequest(parser, ro)
                 : json_route  ? decodeQueryOnly(parser, ro)
                               : codec::decodeRestRequest(parser.method(), parser.target(), {}, ro);
  if (!decoded) {
    return refused(std::move(a), rec, codec::restErrorStatus(decoded.error()), "bad_request",
                   decoded.error().message);
  }
  if (!body_follows || !json_route) {
    rec.route = codec::routeName(decoded->route());
    rec.command_count = decoded->commandCount();
  }

  std::optional<std::string_view> token = codec::bearerToken(parser.header("authorization"));
  if (decoded->queryTokenState() == codec::QueryToken::Disallowed) token.reset();
  // Two credentials name who asks twice: refused, as two Authorization lines are (attack round
  // 15b: the query token was silently ignored for the header's).
  if (token && decoded->queryToken()) {
    return refused(std::move(a), rec, 400, "bad_request",
                   "ERR two credentials (an Authorization header and ?_token=): send one");
  }
  if (!token && decoded->queryToken()) token = decoded->queryToken();
  if (decoded->queryTokenState() != codec::QueryToken::Disallowed && token) {
    const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    verified_tokens_.use(a.snapshot);
    ResolvedCredential cred = resolveCredential(*token, *a.snapshot, now_s, revoked_.get(),
                                                revocations_known_, &verified_tokens_);
    a.entry = cred.entry;
    a.sub = std::move(cred.sub);
    a.revocation_generation = revocation_generation_;
    if (cred.is_jwt) a.expires_s = cred.exp + a.snapshot->jwtRules().leeway_s;
    if (a.entry == nullptr) rec.reason = credentialFailureReason(cred.failure);
    if (a.entry != nullptr && rec.audited) rec.credential = credentialLabel(*token, cred);
    const bool stream = decoded->route() == codec::RestRoute::Subscribe ||
                        decoded->route() == codec::RestRoute::PSubscribe;
    if (a.entry != nullptr && stream) {
      a.stream_token = std::string(*token);
      a.stream_jti = std::move(cred.jti);
      if (cred.is_jwt) a.stream_deadline = cred.exp + a.snapshot->jwtRules().leeway_s;
    }
  }
  if (a.entry == nullptr) {
    std::string reason = rec.reason.empty() ? std::string("auth") : rec.reason;
    return refused(std::move(a), rec, 401, reason, kWrongPass);
  }
  const conf::ClientConfig& client = *a.entry->config;
  rec.client = client.spec.name;
  rec.sub = a.sub;
  if (!client.allow_ips.empty() && !conf::anyContains(client.allow_ips, a.client_ip.ip16)) {
    return refusedHere(std::move(a), rec, "source_ip",
                       "NOPERM source address not allowed for this client");
  }
  if (auto origin = parser.header("origin")) {
    bool ok = false;
    for (const auto& o : client.allow_origins) ok = ok || o == *origin || o == "*";
    if (!ok) {
      return refusedHere(std::move(a), rec, "origin", "NOPERM origin not allowed for this client");
    }
    a.cors.emplace_back("Access-Control-Allow-Origin", std::string(*origin));
    a.cors.emplace_back("Access-Control-Expose-Headers", std::string(kExposeHeaders));
    a.cors.emplace_back("Vary", "Origin");
  }
  if (body_follows && !json_route && decoded->route() == codec::RestRoute::Command) {
    policy::EvalScratch scratch;
    codec::Argv argv = decoded->command(0);
    if (auto d = commandRefusal(*a.entry, policy::Identity{a.sub}, argv, scratch)) {
      std::string_view sent = argv[0].substr(0, 64);
      if (rec.audited) {
        rec.outcomes.push_back(CommandOutcome{d->command ? d->command->name : "?", "deny",
                                              std::string(policy::reasonName(d->reason)), 0, 0});
      }
      Admission r = refused(std::move(a), rec, 403, policy::reasonName(d->reason),
                            policy::denialMessage(*d, sent));
      if (r.refusal) {
        if (auto origin = parser.header("origin")) {
          r.refusal->headers.emplace_back("Access-Control-Allow-Origin", std::string(*origin));
          r.refusal->headers.emplace_back("Vary", "Origin");
        }
      }
      return r;
    }
  }
  if (!body_follows) a.request = std::move(*decoded);
  return a;
}

bool RequestRouter::isTrustedProxy(const PeerInfo& peer) const {
  return conf::anyContains(snapshot_->config().listen.trusted_proxies, peer.ip16);
}

PeerInfo RequestRouter::clientAddress(const codec::HttpRequestParser& parser,
                                      const PeerInfo& peer) const {
  const std::vector<conf::Cidr>& trusted = snapshot_->config().listen.trusted_proxies;
  if (trusted.empty() || !conf::anyContains(trusted, peer.ip16)) return peer;
  // Every X-Forwarded-For line is one list (RFC 9110 section 5.3): a client's own line before
  // the proxy's must not hide the hop the proxy appended.
  const std::vector<std::string_view> hops = parser.headerList("x-forwarded-for");
  // Walk from the right: the first address not a trusted proxy is the client.
  PeerInfo out = peer;
  for (size_t i = hops.size(), walked = 0; i > 0 && walked < 32; --i, ++walked) {
    std::string_view item = hops[i - 1];
    auto ip = conf::parseIp(item);
    if (!ip) break;  // garbage: keep the last trustworthy hop
    out.ip = std::string(item);
    out.ip16 = *ip;
    if (!conf::anyContains(trusted, *ip)) break;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> RequestRouter::corsHeaders(
    const codec::HttpRequestParser& parser) const {
  std::vector<std::pair<std::string, std::string>> out;
  auto origin = parser.header("origin");
  if (!origin || parser.headerCount("origin") != 1 || !listedOrigin(snapshot_->config(), *origin)) {
    return out;
  }
  out.emplace_back("Access-Control-Allow-Origin", std::string(*origin));
  out.emplace_back("Access-Control-Expose-Headers", std::string(kExposeHeaders));
  out.emplace_back("Vary", "Origin");
  return out;
}

HttpResponse RequestRouter::preflight(const codec::HttpRequestParser& parser) const {
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  // Whatever the answer, it depends on the Origin: a cache keeping the no-CORS answer for one
  // Origin must not serve it to another (attack round 26: only the allowed answer said so).
  r.headers.emplace_back("Vary", "Origin");
  auto origin = parser.header("origin");
  if (!origin || !listedOrigin(snapshot_->config(), *origin)) return r;
  r.headers.emplace_back("Access-Control-Allow-Origin", std::string(*origin));
  r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, PUT, HEAD, OPTIONS");
  std::string allow_headers =
      "authorization, content-type, upstash-encoding, upstash-response-format, "
      "upstash-sync-token";
  // upstash-telemetry-* cannot be a wildcard in Allow-Headers: echo the requested ones.
  for (std::string_view h : parser.headerList("access-control-request-headers")) {
    bool telemetry =
        h.size() > 18 && h.size() < 64 && ascii::startsWithIgnoreCase(h, "upstash-telemetry-");
    for (size_t i = 0; telemetry && i < h.size(); ++i) {
      unsigned char ch = static_cast<unsigned char>(h[i]);
      telemetry = std::isalnum(ch) || ch == '-';
    }
    if (telemetry) allow_headers += ", " + std::string(h);
  }
  r.headers.emplace_back("Access-Control-Allow-Headers", std::move(allow_headers));
  r.headers.emplace_back("Access-Control-Expose-Headers", std::string(kExposeHeaders));
  r.headers.emplace_back("Access-Control-Max-Age", "600");
  return r;
}

}  // namespace kw::proxy
