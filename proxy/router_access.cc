// RequestRouter's access controls around the policy: client address behind trusted proxies,
// and CORS preflight.
#include <algorithm>
#include <cctype>

#include "proxy/codec/reply_json.h"
#include "proxy/request_router.h"

namespace kw::proxy {

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

}  // namespace kw::proxy
