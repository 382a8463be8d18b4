// What each leaked credential looks like (docs/scan-rules.md has the rules and their
// reasons). Every loop is bounded, so one test reads at most kMaxMatchSpan bytes.
#include "scan/detectors.h"

#include <array>
#include <cmath>
#include <string>

#include "policy/ascii.h"
#include "policy/base64url.h"
#include "policy/jwt.h"

namespace kw::scan {
namespace {

constexpr size_t kKeyBodyChars = 43;          // kw_ + 43 base64url characters (256 bits)
constexpr size_t kMinUpstashChars = 40;       // shortest Upstash token seen is 58
constexpr size_t kMaxUpstashChars = 300;      // longest is under 120
constexpr size_t kMinJwtSignatureChars = 16;  // HS256 43, EdDSA 86
constexpr size_t kMaxUrlAuthority = 256;
constexpr size_t kMaxNameBytes = 64;  // the scanner's trigger sees UPSTASH within these
constexpr size_t kMaxValueBytes = policy::kMaxTokenBytes;
// An unquoted value (.env, YAML, minified JS) runs to the next separator, so a text of
// "+NEXT_PUBLIC_REDIS=" repeated makes every name's value overlap the next ones: a short bound
// keeps the work per position small (a longer JWT is still found by its own shape).
constexpr size_t kMaxBareValueBytes = 128;
constexpr size_t kMaxBlanks = 16;
static_assert(kMaxNameBytes + 2 + kMaxBlanks + 2 + kMaxBlanks + 2 + kMaxValueBytes + 2 <
              kMaxMatchSpan);

bool isB64Url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}
bool isB64Any(char c) { return isB64Url(c) || c == '+' || c == '/'; }
bool isUpperName(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }
bool isIdentifier(char c) { return isUpperName(c) || (c >= 'a' && c <= 'z') || c == '$'; }
bool isBlank(char c) { return c == ' ' || c == '\t'; }

bool startsWith(std::string_view s, size_t at, std::string_view prefix) {
  return s.size() - at >= prefix.size() && s.substr(at, prefix.size()) == prefix;
}

// The end of the run of `pred` characters from `at`, looking at most `limit` characters.
template <class Pred>
size_t runEnd(std::string_view s, size_t at, size_t limit, Pred pred) {
  size_t e = at;
  while (e < s.size() && e - at < limit && pred(s[e])) ++e;
  return e;
}

std::optional<Match> keywardKey(std::string_view t, size_t at) {
  if (!startsWith(t, at, "kw_") || (at > 0 && isB64Url(t[at - 1]))) return std::nullopt;
  const size_t e = runEnd(t, at + 3, kKeyBodyChars + 1, isB64Url);
  if (e - at - 3 != kKeyBodyChars) return std::nullopt;
  // A generated key is 32 random bytes; strict decoding refuses 43-letter words.
  std::string raw;
  if (!policy::base64UrlDecode(t.substr(at + 3, kKeyBodyChars), raw) || raw.size() != 32) {
    return std::nullopt;
  }
  return Match{FindingKind::KeywardKey, at, e};
}

bool jsonObjectSegment(std::string_view seg, bool need_alg) {
  std::string raw;
  if (!policy::base64UrlDecode(seg, raw) || raw.empty() || raw.front() != '{') return false;
  return !need_alg || raw.find("\"alg\"") != std::string::npos;
}

std::optional<Match> jwt(std::string_view t, size_t at) {
  if (!startsWith(t, at, "eyJ")) return std::nullopt;
  if (at > 0 && (isB64Url(t[at - 1]) || t[at - 1] == '.')) return std::nullopt;
  const size_t limit = policy::kMaxTokenBytes;
  const size_t e1 = runEnd(t, at, limit, isB64Url);
  if (e1 >= t.size() || t[e1] != '.') return std::nullopt;
  const size_t e2 = runEnd(t, e1 + 1, limit, isB64Url);
  if (e2 == e1 + 1 || e2 >= t.size() || t[e2] != '.') return std::nullopt;
  const size_t e3 = runEnd(t, e2 + 1, limit, isB64Url);
  if (e3 - e2 - 1 < kMinJwtSignatureChars || e3 - at > limit) return std::nullopt;
  // A fourth segment makes it a JWE (encrypted, not a bearer credential of ours).
  if (e3 + 1 < t.size() && t[e3] == '.' && isB64Url(t[e3 + 1])) return std::nullopt;
  if (!jsonObjectSegment(t.substr(at, e1 - at), true) ||
      !jsonObjectSegment(t.substr(e1 + 1, e2 - e1 - 1), false)) {
    return std::nullopt;
  }
  return Match{FindingKind::Jwt, at, e3};
}

// Characters that end a URL's authority in code, config and prose.
bool endsAuthority(char c) {
  return static_cast<unsigned char>(c) <= ' ' || c == '/' || c == '?' || c == '#' || c == '"' ||
         c == '\'' || c == '`' || c == '<' || c == '>' || c == '\\' || c == ',' || c == ';' ||
         c == '(' || c == ')' || c == '{' || c == '}';  // [ and ] stay: IPv6 hosts
}

std::optional<Match> redisUrl(std::string_view t, size_t at) {
  size_t p = at;
  if (!ascii::startsWithIgnoreCase(t.substr(p), "redis")) return std::nullopt;
  p += 5;
  if (at > 0) {
    const char prev = t[at - 1];
    if (isB64Url(prev) || prev == '+' || prev == '.') return std::nullopt;
  }
  if (p < t.size() && (t[p] == 's' || t[p] == 'S')) ++p;
  if (startsWith(t, p, "://")) {
    p += 3;
  } else if (startsWith(t, p, ":\\/\\/")) {
    p += 5;  // "redis:\/\/..." inside JSON that escapes '/'
  } else {
    return std::nullopt;
  }
  const size_t end = runEnd(t, p, kMaxUrlAuthority + 1, [](char c) { return !endsAuthority(c); });
  if (end - p > kMaxUrlAuthority) return std::nullopt;
  const std::string_view authority = t.substr(p, end - p);
  const size_t amp = authority.rfind('@');
  if (amp == std::string_view::npos || amp + 1 == authority.size()) return std::nullopt;
  const std::string_view userinfo = authority.substr(0, amp);
  const size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view password = userinfo.substr(colon + 1);
  if (isPlaceholder(password)) return std::nullopt;
  return Match{FindingKind::RedisUrl, at, end};
}

// Upstash REST tokens are base64 of a version byte (1, or 2 for read-only), the database id
// and three more bytes, then ASCII (a UUID and hex, or "p1" + hex + "p10"). Random base64
// (images, hashes) almost never decodes to 24 or more alphanumeric bytes at that offset.
std::optional<Match> upstashToken(std::string_view t, size_t at) {
  if (at >= t.size() || t[at] != 'A' || (at > 0 && isB64Any(t[at - 1]))) return std::nullopt;
  const size_t e = runEnd(t, at, kMaxUpstashChars, isB64Any);
  if (e - at < kMinUpstashChars || e - at >= kMaxUpstashChars) return std::nullopt;
  size_t end = e;
  while (end < t.size() && end - e < 2 && t[end] == '=') ++end;
  std::string url(t.substr(at, e - at));
  for (char& c : url) c = c == '+' ? '-' : c == '/' ? '_' : c;
  std::string raw;
  if (!policy::base64UrlDecode(url, raw) || raw.size() < 30) return std::nullopt;
  if (raw[0] != 1 && raw[0] != 2) return std::nullopt;
  size_t tail = 0;
  for (size_t i = 6; i < raw.size(); ++i) {
    const char c = raw[i];
    const bool ok =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
    if (!ok) return std::nullopt;
    ++tail;
  }
  if (tail < 24) return std::nullopt;
  return Match{FindingKind::UpstashToken, at, end};
}

std::optional<Match> shapeAt(std::string_view t, size_t at) {
  if (auto m = keywardKey(t, at)) return m;
  if (auto m = jwt(t, at)) return m;
  if (auto m = redisUrl(t, at)) return m;
  return upstashToken(t, at);
}

constexpr std::array<std::string_view, 5> kPublicPrefixes = {"NEXT_PUBLIC_", "VITE_", "PUBLIC_",
                                                             "REACT_APP_", "EXPO_PUBLIC_"};

bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

// A quoted key's closing quote: ", ' or \" (a JSON string inside a JSON string, as in a
// source map's sourcesContent). Returns the number of bytes it takes.
size_t quoteAt(std::string_view t, size_t p) {
  if (p < t.size() && (t[p] == '"' || t[p] == '\'' || t[p] == '`')) return 1;
  if (p + 1 < t.size() && t[p] == '\\' && (t[p + 1] == '"' || t[p + 1] == '\'')) return 2;
  return 0;
}

bool endsBareValue(char c) {
  return static_cast<unsigned char>(c) <= ' ' || c == ',' || c == ';' || c == '}' || c == ')' ||
         c == ']' || c == '"' || c == '\'' || c == '`' || c == '\\';
}

// An unquoted value that is code, not text: `e.env.TOKEN`, `getToken()`.
bool looksLikeCode(std::string_view v) {
  if (v.empty() || !(isIdentifier(v[0]) && !(v[0] >= '0' && v[0] <= '9'))) return false;
  return contains(v, ".") || contains(v, "(");
}

std::optional<Match> assignment(std::string_view t, size_t at) {
  if (at > 0 && isIdentifier(t[at - 1])) return std::nullopt;
  const size_t name_end = runEnd(t, at, kMaxNameBytes + 1, isUpperName);
  if (name_end - at < 3 || name_end - at > kMaxNameBytes) return std::nullopt;
  const std::string_view name = t.substr(at, name_end - at);
  bool is_public = false;
  for (std::string_view prefix : kPublicPrefixes) {
    is_public =
        is_public || (name.size() > prefix.size() && name.substr(0, prefix.size()) == prefix);
  }
  is_public = is_public && (contains(name, "REDIS") || contains(name, "UPSTASH") ||
                            contains(name, "KV") || contains(name, "TOKEN"));
  const bool is_upstash = (contains(name, "UPSTASH") || contains(name, "KV_REST_API")) &&
                          name.size() >= 5 && name.substr(name.size() - 5) == "TOKEN";
  if (!is_public && !is_upstash) return std::nullopt;

  size_t p = name_end + quoteAt(t, name_end);
  p = runEnd(t, p, kMaxBlanks, isBlank);
  if (p >= t.size()) return std::nullopt;
  if (t[p] == '=') {
    if (p + 1 < t.size() && (t[p + 1] == '=' || t[p + 1] == '>')) return std::nullopt;  // ==, =>
    ++p;
  } else if (t[p] == ':') {
    if (p + 1 < t.size() && t[p + 1] == ':') return std::nullopt;
    p += (p + 1 < t.size() && t[p + 1] == '=') ? 2 : 1;
  } else {
    return std::nullopt;
  }
  p = runEnd(t, p, kMaxBlanks, isBlank);
  const size_t open = quoteAt(t, p);
  const size_t vb = p + open;
  size_t ve = vb;
  if (open != 0) {
    const std::string_view quote = t.substr(p, open);
    ve = runEnd(t, vb, kMaxValueBytes + 1, [](char c) {
      return c != '\n' && c != '\r' && c != '\\' && c != '"' && c != '\'' && c != '`';
    });
    if (ve - vb > kMaxValueBytes || !startsWith(t, ve, quote)) return std::nullopt;
  } else {
    ve = runEnd(t, vb, kMaxBareValueBytes + 1, [](char c) { return !endsBareValue(c); });
    if (ve - vb > kMaxBareValueBytes) return std::nullopt;
  }
  if (ve == vb) return std::nullopt;
  const std::string_view value = t.substr(vb, ve - vb);
  if (auto shape = shapeAt(t.substr(0, ve), vb); shape && shape->end <= ve) {
    shape->name_begin = at;
    shape->name_end = name_end;
    return shape;
  }
  if (open == 0 && looksLikeCode(value)) return std::nullopt;
  // A name that says it holds a credential is believed: any value that is not a placeholder, a
  // plain URL or a word of a few letters (a human password has little entropy). Other names
  // need a value that looks random.
  const bool credential_name = contains(name, "TOKEN") || contains(name, "PASSWORD") ||
                               contains(name, "SECRET") || contains(name, "PASS");
  const bool plausible = credential_name ? looksLikeValue(value) : looksLikeSecret(value);
  if (!plausible) return std::nullopt;
  return Match{is_public ? FindingKind::PublicVariable : FindingKind::UpstashVariable, vb, ve, at,
               name_end};
}

}  // namespace

std::string_view kindName(FindingKind kind) {
  switch (kind) {
    case FindingKind::UpstashToken:
      return "upstash-token";
    case FindingKind::UpstashVariable:
      return "upstash-variable";
    case FindingKind::RedisUrl:
      return "redis-url";
    case FindingKind::KeywardKey:
      return "keyward-key";
    case FindingKind::Jwt:
      return "jwt";
    case FindingKind::PublicVariable:
      return "public-variable";
  }
  return "unknown";
}

std::string_view kindDescription(FindingKind kind) {
  switch (kind) {
    case FindingKind::UpstashToken:
      return "An Upstash REST token: full read and write on the database, and its daily budget.";
    case FindingKind::UpstashVariable:
      return "A value assigned to an Upstash or Vercel KV token variable.";
    case FindingKind::RedisUrl:
      return "A redis:// or rediss:// URL that carries a password.";
    case FindingKind::KeywardKey:
      return "A keyward static API key (kw_...): the client's access until it is removed.";
    case FindingKind::Jwt:
      return "A signed JWT: a bearer credential until it expires or is revoked.";
    case FindingKind::PublicVariable:
      return "A secret in a variable that build tools publish to browsers (NEXT_PUBLIC_, VITE_, "
             "PUBLIC_, REACT_APP_, EXPO_PUBLIC_).";
  }
  return "";
}

std::optional<Match> matchAt(std::string_view text, size_t at) {
  if (at >= text.size()) return std::nullopt;
  if (auto m = shapeAt(text, at)) return m;
  return assignment(text, at);
}

bool isPlaceholder(std::string_view value) {
  if (value.empty()) return true;
  const char first = value.front();
  if (first == '<' || first == '{' || first == '[' || first == '$' || first == '%' ||
      first == '*') {
    return true;
  }
  if (value.find_first_not_of(first) == std::string_view::npos) return true;  // xxxxxxxx
  std::string lower(value);
  for (char& c : lower) c = ascii::toLower(c);
  for (std::string_view word : {"password", "secret", "token", "pass", "passwd", "pw", "null",
                                "undefined", "none", "test", "default"}) {
    if (lower == word) return true;
  }
  for (std::string_view part :
       {"your", "example", "placeholder", "changeme", "change_me", "change-me", "xxxx", "****",
        "....", "redacted", "dummy", "replace_", "replace-", "replaceme", "_here", "-here"}) {
    if (lower.find(part) != std::string::npos) return true;
  }
  return false;
}

bool looksLikeValue(std::string_view value) {
  if (value.size() < 8 || value.size() > kMaxValueBytes) return false;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == 0x7f) return false;
  }
  // Upper case, digits and _ only is another variable's name (a reference), not a password.
  if (value.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_=") == std::string_view::npos) {
    return false;
  }
  return !contains(value, "://") && !isPlaceholder(value);
}

bool looksLikeSecret(std::string_view value) {
  if (value.size() < 12 || value.size() > kMaxValueBytes) return false;
  bool digit = false;
  std::array<uint32_t, 256> counts{};
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= ' ' || u == 0x7f) return false;
    digit = digit || (c >= '0' && c <= '9');
    ++counts[u];
  }
  if (contains(value, "://") || isPlaceholder(value)) return false;
  double bits = 0;
  const auto n = static_cast<double>(value.size());
  for (uint32_t count : counts) {
    if (count != 0) bits -= count / n * std::log2(count / n);
  }
  // Random base64 or hex of 12+ characters has 3.3+ bits a character; words and paths less.
  return digit && bits >= 3.3;
}

}  // namespace kw::scan
