// SHA-256 links between audit records.
#include "proxy/codec/audit_chain.h"

#include "policy/credentials.h"

namespace kw::proxy::codec {

std::string auditDigestHex(std::string_view line) { return policy::toHex(policy::sha256(line)); }

const std::string& auditGenesisHex() {
  static const std::string genesis = auditDigestHex(kAuditGenesis);
  return genesis;
}

std::string chainRecord(std::string_view record, std::string_view prev_hex) {
  std::string out;
  out.reserve(record.size() + 12 + prev_hex.size());
  out.append(record.substr(0, record.size() - 1));  // without '}'
  out += record.size() > 2 ? ",\"prev\":\"" : "\"prev\":\"";
  out += prev_hex;
  out += "\"}";
  return out;
}

std::optional<std::string_view> auditPrevOf(std::string_view line) {
  constexpr std::string_view kKey = "\"prev\":\"";
  const size_t tail = kKey.size() + kDigestHexChars + 2;  // key, digest, '"' and '}'
  if (line.size() < tail + 1 || line.substr(line.size() - 2) != "\"}") return std::nullopt;
  const std::string_view at = line.substr(line.size() - tail);
  if (at.substr(0, kKey.size()) != kKey) return std::nullopt;
  const char before = line[line.size() - tail - 1];
  if (before != ',' && before != '{') return std::nullopt;
  const std::string_view hex = at.substr(kKey.size(), kDigestHexChars);
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return hex;
}

}  // namespace kw::proxy::codec
