// Previews keep a short prefix (the part that names the credential's type) and the length.
#include "scan/redact.h"

#include <algorithm>

namespace kw::scan {
namespace {

void appendPrintable(std::string& out, std::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
}

std::string prefixAndLength(std::string_view secret, size_t shown) {
  shown = std::min(shown, secret.size() / 4);
  std::string out;
  appendPrintable(out, secret.substr(0, shown));
  out += "...(" + std::to_string(secret.size()) + ")";
  return out;
}

// scheme://user:***@host: the user and host say which server, the password is gone.
std::string redactUrl(std::string_view url) {
  const size_t scheme_end = url.find("://");
  const size_t at = url.rfind('@');
  const size_t colon = url.find(':', scheme_end + 3);
  std::string out;
  if (scheme_end == std::string_view::npos || at == std::string_view::npos || colon > at) {
    return prefixAndLength(url, 8);
  }
  appendPrintable(out, url.substr(0, std::min<size_t>(colon + 1, 64)));
  out += "***@";
  appendPrintable(out, url.substr(at + 1, 64));
  return out;
}

}  // namespace

std::string redactedPreview(FindingKind kind, std::string_view secret) {
  switch (kind) {
    case FindingKind::KeywardKey:
      return prefixAndLength(secret, 7);
    case FindingKind::Jwt:
      return prefixAndLength(secret, 10);
    case FindingKind::RedisUrl:
      return redactUrl(secret);
    case FindingKind::UpstashToken:
      return prefixAndLength(secret, 6);
    case FindingKind::UpstashVariable:
    case FindingKind::PublicVariable:
      return prefixAndLength(secret, 4);
  }
  return prefixAndLength(secret, 0);
}

}  // namespace kw::scan
