// Fuzzes JWT parsing and verification: never crash, never accept a token not signed by a key.
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "policy/credentials.h"
#include "policy/json_object.h"
#include "policy/jwt.h"

namespace {

using kw::policy::JwtKey;
using kw::policy::JwtKeyConstSharedPtr;

struct Ring {
  std::vector<JwtKeyConstSharedPtr> keys;
  Ring() {
    // A fixed HS256 secret: the fuzzer may find the right MAC only by breaking HMAC.
    keys.push_back(*JwtKey::fromSecret("hs", std::string(32, 'k')));
    EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char* p = nullptr;
    const long n = BIO_get_mem_data(b, &p);
    keys.push_back(*JwtKey::fromPem("ed", std::string_view(p, static_cast<size_t>(n)), false));
    BIO_free(b);
    EVP_PKEY_free(k);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Ring ring;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)kw::policy::parseJsonObject(in);
  std::string decoded;
  if (kw::policy::base64UrlDecode(in, decoded)) {
    // Round trip: the strict decoder accepts only canonical encodings.
    if (kw::policy::base64UrlEncode(decoded) != in) std::abort();
  }
  auto got = kw::policy::verifyJwt(in, ring.keys, {}, 1'800'000'000);
  // The ring's keys are random or secret: a fuzzer-made token must never verify.
  if (got.has_value()) std::abort();
  // The input as the claims of a token signed with the ring's HS256 key, so the claim checks
  // run: whatever verifies carries a client, and a jti only from the revocable set.
  const std::string input = kw::policy::base64UrlEncode(R"({"alg":"HS256","kid":"hs"})") + "." +
                            kw::policy::base64UrlEncode(in);
  auto sig = ring.keys.front()->sign(input);
  if (!sig) std::abort();
  auto claims = kw::policy::verifyJwt(input + "." + kw::policy::base64UrlEncode(*sig), ring.keys,
                                      {}, 1'800'000'000);
  if (claims &&
      (claims->client.empty() || (!claims->jti.empty() && !kw::policy::isSafeJti(claims->jti)))) {
    std::abort();
  }
  return 0;
}
