// RequestRouter's access controls around the policy: client address behind trusted proxies,
// CORS preflight, and the per-client rate limits and command budgets.
#include <algorithm>
#include <cctype>
#include <chrono>

#include "proxy/codec/reply_json.h"
#include "proxy/request_router.h"

namespace kw::proxy {

using Clock = std::chrono::steady_clock;

PeerInfo RequestRouter::clientAddress(const codec::HttpRequestParser& parser,
                                      const PeerInfo& peer) const {
  const std::vector<conf::Cidr>& trusted = snapshot_->config().listen.trusted_proxies;
  if (trusted.empty() || !conf::anyContains(trusted, peer.ip16)) return peer;
  auto xff = parser.header("x-forwarded-for");
  if (!xff) return peer;
  // Walk from the right: the first address not a trusted proxy is the client.
  PeerInfo out = peer;
  std::string_view rest = *xff;
  for (int hops = 0; hops < 32 && !rest.empty(); ++hops) {
    size_t comma = rest.rfind(',');
    std::string_view item = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    auto ip = conf::parseIp(item);
    if (!ip) break;  // garbage: keep the last trustworthy hop
    out.ip = std::string(item);
    out.ip16 = *ip;
    if (!conf::anyContains(trusted, *ip)) break;
  }
  return out;
}

HttpResponse RequestRouter::preflight(const codec::HttpRequestParser& parser) const {
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  auto origin = parser.header("origin");
  if (!origin || origin->empty()) return r;
  bool allowed = false;
  for (const auto& c : snapshot_->config().clients) {
    for (const auto& o : c.allow_origins) allowed = allowed || o == *origin || o == "*";
  }
  if (!allowed) return r;
  r.headers.emplace_back("Access-Control-Allow-Origin", std::string(*origin));
  r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, PUT, HEAD, OPTIONS");
  std::string allow_headers =
      "authorization, content-type, upstash-encoding, upstash-response-format, "
      "upstash-sync-token";
  // upstash-telemetry-* cannot be a wildcard in Allow-Headers: echo the requested ones.
  if (auto req = parser.header("access-control-request-headers")) {
    size_t pos = 0;
    while (pos <= req->size()) {
      size_t comma = req->find(',', pos);
      std::string_view h =
          req->substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
      while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
      while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
      bool telemetry = h.size() > 18 && h.size() < 64;
      for (size_t i = 0; telemetry && i < 18; ++i) {
        telemetry = static_cast<char>(std::tolower(static_cast<unsigned char>(h[i]))) ==
                    "upstash-telemetry-"[i];
      }
      for (size_t i = 0; telemetry && i < h.size(); ++i) {
        unsigned char ch = static_cast<unsigned char>(h[i]);
        telemetry = std::isalnum(ch) || ch == '-';
      }
      if (telemetry) allow_headers += ", " + std::string(h);
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
  }
  r.headers.emplace_back("Access-Control-Allow-Headers", std::move(allow_headers));
  r.headers.emplace_back("Access-Control-Expose-Headers", "upstash-sync-token");
  r.headers.emplace_back("Access-Control-Max-Age", "600");
  r.headers.emplace_back("Vary", "Origin");
  return r;
}

namespace {

HttpResponse tooMany(std::string_view what, int64_t retry_s, uint64_t limit, uint64_t window_s) {
  HttpResponse r = errorResponse(429, "ERR " + std::string(what));
  r.headers.emplace_back("Retry-After", std::to_string(retry_s));
  r.headers.emplace_back("RateLimit-Policy",
                         std::to_string(limit) + ";w=" + std::to_string(window_s));
  r.headers.emplace_back("RateLimit", "limit=" + std::to_string(limit) +
                                          ", remaining=0, reset=" + std::to_string(retry_s));
  return r;
}

// The bucket for `key`, (re)made when the configured rate changed.
policy::TokenBucket& bucketFor(std::unordered_map<std::string, policy::TokenBucket>& m,
                               const std::string& key, policy::Rate rate, uint64_t burst,
                               int64_t now) {
  auto it = m.find(key);
  if (it == m.end() || it->second.burst() != burst || it->second.rate().count != rate.count ||
      it->second.rate().period_ms != rate.period_ms) {
    it = m.insert_or_assign(key, policy::TokenBucket(rate, burst, now)).first;
  }
  return it->second;
}

}  // namespace

bool RequestRouter::takeRateToken(const conf::ClientConfig& client, std::string_view identity,
                                  uint64_t commands, HttpResponse& limited) {
  const conf::LimitsConfig& lim = client.limits;
  const int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
          .count();
  policy::TokenBucket* client_bucket = nullptr;
  if (lim.rate.count != 0) {
    uint64_t burst = lim.burst != 0 ? lim.burst : lim.rate.count;
    client_bucket = &bucketFor(buckets_, client.spec.name, lim.rate, burst, now);
    if (!client_bucket->tryTake(1, now)) {
      int64_t wait_ms = client_bucket->msUntil(1, now);
      limited =
          tooMany("rate limit exceeded for this client", wait_ms < 0 ? 1 : (wait_ms + 999) / 1000,
                  lim.rate.count, std::max<uint64_t>(1, lim.rate.period_ms / 1000));
      return false;
    }
  }
  if (lim.per_identity_rate.count != 0) {
    // Bounded memory: one bucket per (client, identity); forget them all past 100k identities.
    if (identity_buckets_.size() > 100000) identity_buckets_.clear();
    std::string key = client.spec.name;
    key += '\0';
    key += identity;
    policy::TokenBucket& b =
        bucketFor(identity_buckets_, key, lim.per_identity_rate, lim.per_identity_rate.count, now);
    if (!b.tryTake(1, now)) {
      if (client_bucket) client_bucket->giveBack(1);
      int64_t wait_ms = b.msUntil(1, now);
      limited = tooMany("rate limit exceeded for this identity",
                        wait_ms < 0 ? 1 : (wait_ms + 999) / 1000, lim.per_identity_rate.count,
                        std::max<uint64_t>(1, lim.per_identity_rate.period_ms / 1000));
      return false;
    }
  }
  if (lim.per_day != 0 || lim.per_month != 0) {
    const int64_t unix_s = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    Budgets& bud = budgets_[client.spec.name];
    if (bud.day.limit() != lim.per_day) bud.day = policy::WindowBudget(lim.per_day);
    if (bud.month.limit() != lim.per_month) bud.month = policy::WindowBudget(lim.per_month);
    const int64_t day = policy::utcDay(unix_s);
    const int64_t month = policy::utcMonth(unix_s);
    bool day_ok = lim.per_day == 0 || bud.day.tryTake(commands, day);
    bool month_ok = day_ok && (lim.per_month == 0 || bud.month.tryTake(commands, month));
    if (!month_ok) {
      if (day_ok && lim.per_day != 0) bud.day.giveBack(commands);
      if (client_bucket) client_bucket->giveBack(1);
      limited = !day_ok ? tooMany("daily command budget exhausted for this client",
                                  policy::secondsToNextUtcDay(unix_s), lim.per_day, 86400)
                        : tooMany("monthly command budget exhausted for this client",
                                  policy::secondsToNextUtcMonth(unix_s), lim.per_month, 30 * 86400);
      return false;
    }
  }
  return true;
}

}  // namespace kw::proxy
