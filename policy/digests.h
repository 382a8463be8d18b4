// OpenSSL 3 message digests fetched once. EVP_sha256() and friends are "implicit fetch" handles:
// every EVP_Digest or HMAC call with them looks the implementation up again in the provider store
// (under a lock), which showed as most of the cost of hashing an API key per request.
#pragma once

#include <openssl/evp.h>

namespace kw::policy {

const EVP_MD* sha256Digest();
const EVP_MD* sha1Digest();

}  // namespace kw::policy
