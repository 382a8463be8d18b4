// Parsers for config values: durations, rates, host:port, CIDRs, upstream URLs.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "conf/config.h"

namespace kw::conf {
namespace {

Error configError(std::string message) { return makeError(ErrorCode::Config, std::move(message)); }

// Quotes a user-supplied (non-secret) value for a message: bounded, control bytes escaped.
std::string quoted(std::string_view v) {
  std::string out = "\"";
  const size_t limit = 64;
  for (size_t i = 0; i < v.size() && i < limit; ++i) {
    const unsigned char c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (v.size() > limit) out += "...";
  out += '"';
  return out;
}

// Decimal digits only, no sign, at most 18 digits (fits in int64 without overflow).
bool parseDecimal(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

bool isHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

bool parsePort(std::string_view s, uint16_t& port) {
  uint64_t v = 0;
  if (s.size() > 5 || !parseDecimal(s, v) || v > 65535) return false;
  port = static_cast<uint16_t>(v);
  return true;
}

bool isValidHostName(std::string_view h) {
  return !h.empty() && h.size() <= 253 && std::all_of(h.begin(), h.end(), isHostChar);
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percentDecode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hexValue(in[i + 1]);
    const int lo = hexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

}  // namespace

Result<Duration> parseDuration(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::string_view unit = text.substr(digits);
  uint64_t n = 0;
  if (digits == 0 || !parseDecimal(text.substr(0, digits), n)) {
    return configError("expected a duration such as 500ms, 30s, 15m, 2h or 7d, got " +
                       quoted(text));
  }
  uint64_t ms_per_unit = 0;
  if (unit == "ms") {
    ms_per_unit = 1;
  } else if (unit == "s") {
    ms_per_unit = 1000;
  } else if (unit == "m") {
    ms_per_unit = 60ULL * 1000;
  } else if (unit == "h") {
    ms_per_unit = 3600ULL * 1000;
  } else if (unit == "d") {
    ms_per_unit = 24ULL * 3600 * 1000;
  } else {
    return configError(unit.empty()
                           ? "duration " + quoted(text) + " has no unit (ms, s, m, h, d)"
                           : "duration " + quoted(text) + " has an unknown unit (ms, s, m, h, d)");
  }
  // At most 100 years keeps every later arithmetic (now + d) far from overflow.
  const uint64_t kMaxMs = 100ULL * 366 * 24 * 3600 * 1000;
  if (n > kMaxMs / ms_per_unit) return configError("duration " + quoted(text) + " is too long");
  return Duration(static_cast<int64_t>(n * ms_per_unit));
}

Result<policy::Rate> parseRate(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string bad =
      "expected a rate such as 50/s, 100/m, 1000/h or 10/30s, got " + quoted(text);
  if (slash == std::string_view::npos) return configError(bad);
  uint64_t count = 0;
  if (!parseDecimal(text.substr(0, slash), count)) return configError(bad);
  if (count == 0)
    return configError("rate " + quoted(text) + " allows nothing (omit it for no limit)");
  if (count > 1000000000ULL) return configError("rate " + quoted(text) + " is too large");
  std::string_view per = text.substr(slash + 1);
  uint64_t period_ms = 0;
  if (per == "s") {
    period_ms = 1000;
  } else if (per == "m") {
    period_ms = 60ULL * 1000;
  } else if (per == "h") {
    period_ms = 3600ULL * 1000;
  } else if (per == "d") {
    period_ms = 24ULL * 3600 * 1000;
  } else {
    auto d = parseDuration(per);
    if (!d) return configError(bad);
    if (d->count() < 1) return configError("rate " + quoted(text) + " has a zero period");
    if (d->count() > 31LL * 24 * 3600 * 1000) {
      return configError("rate " + quoted(text) + " has a period over 31d (use per_day/per_month)");
    }
    period_ms = static_cast<uint64_t>(d->count());
  }
  return policy::Rate{count, period_ms};
}

std::optional<std::array<uint8_t, 16>> parseIp(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  const std::string s(text);
  std::array<uint8_t, 16> out{};
  if (s.find(':') == std::string::npos) {
    unsigned char v4[4];
    if (inet_pton(AF_INET, s.c_str(), v4) != 1) return std::nullopt;
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, v4, 4);
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.data()) != 1) return std::nullopt;
  return out;
}

bool Cidr::contains(const std::array<uint8_t, 16>& ip16) const {
  const size_t full = prefix_len / 8;
  if (std::memcmp(ip16.data(), addr.data(), full) != 0) return false;
  const unsigned rest = prefix_len % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (ip16[full] & mask) == (addr[full] & mask);
}

bool anyContains(const std::vector<Cidr>& cidrs, const std::array<uint8_t, 16>& ip16) {
  return std::any_of(cidrs.begin(), cidrs.end(), [&](const Cidr& c) { return c.contains(ip16); });
}

Result<Cidr> parseCidr(std::string_view text) {
  const std::string bad =
      "expected an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32, got " + quoted(text);
  const size_t slash = text.find('/');
  const std::string_view ip_text = text.substr(0, slash);
  auto ip = parseIp(ip_text);
  if (!ip) return configError(bad);
  const bool v4 = ip_text.find(':') == std::string_view::npos;
  const uint64_t max_len = v4 ? 32 : 128;
  uint64_t len = max_len;
  if (slash != std::string_view::npos) {
    const std::string_view len_text = text.substr(slash + 1);
    if (len_text.size() > 3 || !parseDecimal(len_text, len) || len > max_len) {
      return configError(bad);
    }
  }
  Cidr c;
  c.addr = *ip;
  c.prefix_len = static_cast<uint8_t>(v4 ? len + 96 : len);
  c.text = std::string(text);
  Cidr masked = c;
  for (size_t bit = c.prefix_len; bit < 128; ++bit) {
    masked.addr[bit / 8] = static_cast<uint8_t>(masked.addr[bit / 8] & ~(0x80 >> (bit % 8)));
  }
  if (masked.addr != c.addr) {
    return configError("CIDR " + quoted(text) + " has host bits set after the prefix");
  }
  return c;
}

Result<HostPort> parseHostPort(std::string_view text) {
  const std::string bad = "expected host:port, [v6]:port or :port, got " + quoted(text);
  HostPort hp;
  hp.text = std::string(text);
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return configError(bad);
    }
    hp.host = std::string(text.substr(1, close - 1));
    unsigned char v6[16];
    if (hp.host.find(':') == std::string::npos || inet_pton(AF_INET6, hp.host.c_str(), v6) != 1) {
      return configError(bad);
    }
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return configError(bad);
    hp.host = std::string(text.substr(0, colon));
    if (hp.host.find(':') != std::string::npos) {
      return configError("IPv6 addresses need brackets: [" + hp.host + "]:port");
    }
    if (!hp.host.empty() && !isValidHostName(hp.host)) return configError(bad);
    port_text = text.substr(colon + 1);
  }
  if (!parsePort(port_text, hp.port)) return configError(bad + " (port must be 0-65535)");
  return hp;
}

std::string_view upstreamKindName(UpstreamKind kind) {
  switch (kind) {
    case UpstreamKind::RestHttps:
      return "https";
    case UpstreamKind::RestHttp:
      return "http";
    case UpstreamKind::Redis:
      return "redis";
    case UpstreamKind::Rediss:
      return "rediss";
  }
  return "?";
}

// The URL itself may carry a password, so messages never quote it.
Status parseUpstreamUrl(std::string_view url, UpstreamConfig& out) {
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return configError("upstream URL must start with https://, http://, redis:// or rediss://");
  }
  std::string scheme(url.substr(0, sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  UpstreamConfig u;
  u.ca_file = out.ca_file;
  u.timeout = out.timeout;
  u.connections = out.connections;
  uint16_t default_port = 0;
  if (scheme == "https") {
    u.kind = UpstreamKind::RestHttps, default_port = 443;
  } else if (scheme == "http") {
    u.kind = UpstreamKind::RestHttp, default_port = 80;
  } else if (scheme == "redis") {
    u.kind = UpstreamKind::Redis, default_port = 6379;
  } else if (scheme == "rediss") {
    u.kind = UpstreamKind::Rediss, default_port = 6379;
  } else {
    return configError("upstream URL scheme must be https, http, redis or rediss");
  }
  const bool redis = u.kind == UpstreamKind::Redis || u.kind == UpstreamKind::Rediss;
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return configError("upstream URL contains a space or control character");
    }
  }
  std::string_view rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return configError("upstream URL may not have a query or fragment");
  }
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    if (!redis) {
      return configError("an https/http upstream URL may not carry credentials; use token_env");
    }
    const std::string_view userinfo = authority.substr(0, at);
    const size_t colon = userinfo.find(':');
    std::string user;
    std::string pass;
    if (!percentDecode(userinfo.substr(0, colon), user) ||
        (colon != std::string_view::npos && !percentDecode(userinfo.substr(colon + 1), pass))) {
      return configError("upstream URL has a bad percent-escape in its credentials");
    }
    u.username = std::move(user);
    u.token = std::move(pass);
    authority = authority.substr(at + 1);
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return configError("upstream URL has a bad IPv6 host");
    u.host = std::string(authority.substr(1, close - 1));
    unsigned char v6[16];
    if (inet_pton(AF_INET6, u.host.c_str(), v6) != 1) {
      return configError("upstream URL has a bad IPv6 host");
    }
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return configError("upstream URL has a bad port");
      port_text = after.substr(1);
      if (port_text.empty()) return configError("upstream URL has a bad port");
    }
  } else {
    const size_t colon = authority.find(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return configError("upstream URL has a bad port");
    }
    if (!isValidHostName(u.host)) return configError("upstream URL has no valid host");
  }
  u.port = default_port;
  if (!port_text.empty() && (!parsePort(port_text, u.port) || u.port == 0)) {
    return configError("upstream URL has a bad port (1-65535)");
  }
  const std::string host_display =
      u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  if (redis) {
    if (!path.empty() && path != "/") {
      uint64_t db = 0;
      if (path.size() > 6 || !parseDecimal(path.substr(1), db)) {
        return configError("redis upstream URL path must be /<database number>");
      }
      u.db = static_cast<uint32_t>(db);
    }
    u.display =
        scheme + "://" + host_display + ":" + std::to_string(u.port) + "/" + std::to_string(u.db);
  } else {
    std::string p(path);
    while (!p.empty() && p.back() == '/') p.pop_back();
    u.path = p;
    u.display = scheme + "://" + host_display + ":" + std::to_string(u.port) + u.path;
  }
  u.url = std::string(url);
  out = std::move(u);
  return Ok{};
}

}  // namespace kw::conf
