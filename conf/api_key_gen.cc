// New random static API keys (kw_ + base64url of 32 CSPRNG bytes) and their sha256: reference.
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

}  // namespace kw::conf
