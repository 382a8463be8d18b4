// Static API key credentials: SHA-256 references, format checks, constant-time comparison.
#include "policy/credentials.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "policy/base64url.h"
#include "policy/digests.h"

namespace kw::policy {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int lowerHexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

Sha256 sha256(std::string_view text) {
  Sha256 out{};
  unsigned int len = 0;
  // EVP_Digest with SHA-256 cannot fail for in-memory input short of OOM.
  EVP_Digest(text.data(), text.size(), out.data(), &len, sha256Digest(), nullptr);
  return out;
}

std::string toHex(const Sha256& digest) {
  std::string out;
  out.reserve(64);
  for (uint8_t b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string sha256Hex(std::string_view text) { return toHex(sha256(text)); }

std::optional<Sha256> parseSha256Ref(std::string_view ref) {
  constexpr std::string_view kPrefix = "sha256:";
  if (ref.size() != kPrefix.size() + 64 || ref.substr(0, kPrefix.size()) != kPrefix) {
    return std::nullopt;
  }
  Sha256 out{};
  for (size_t i = 0; i < 32; ++i) {
    const int hi = lowerHexValue(ref[kPrefix.size() + 2 * i]);
    const int lo = lowerHexValue(ref[kPrefix.size() + 2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return out;
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool isWellFormedApiKey(std::string_view key) {
  if (key.size() != kApiKeyChars || key.substr(0, kApiKeyPrefix.size()) != kApiKeyPrefix) {
    return false;
  }
  // 43 characters carry 258 bits: the strict decoder also refuses stray low bits (canonical).
  std::string bytes;
  return base64UrlDecode(key.substr(kApiKeyPrefix.size()), bytes);
}

bool isSafeJti(std::string_view jti) {
  if (jti.empty() || jti.size() > kMaxJtiChars) return false;
  for (char c : jti) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace kw::policy
