// New random secrets: static API keys (kw_ + base64url of 32 CSPRNG bytes) with their sha256:
// reference, and value-encryption keys.
#include "conf/api_key_gen.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>

#include "policy/credentials.h"
#include "policy/jwt.h"

namespace kw::conf {

Result<NewApiKey> newApiKey() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return makeError(ErrorCode::Internal, "the random number generator failed");
  }
  NewApiKey out;
  out.key = std::string(policy::kApiKeyPrefix) +
            policy::base64UrlEncode(
                std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  OPENSSL_cleanse(bytes.data(), bytes.size());
  out.reference = "sha256:" + policy::sha256Hex(out.key);
  return out;
}

Result<std::string> newValueKey() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return makeError(ErrorCode::Internal, "the random number generator failed");
  }
  std::string key = policy::base64UrlEncode(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  OPENSSL_cleanse(bytes.data(), bytes.size());
  // Standard alphabet and padding: what `openssl rand -base64 32` prints, and what most secret
  // stores expect.
  for (char& c : key) c = c == '-' ? '+' : c == '_' ? '/' : c;
  key += '=';
  return key;
}

}  // namespace kw::conf
