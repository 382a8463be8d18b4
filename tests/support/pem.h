// Test helper shared by the policy, conf and proxy suites: an OpenSSL key as PEM text.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <string>

namespace kw::testing {

// The private (PKCS#8) or public (SubjectPublicKeyInfo) PEM of `key`.
inline std::string pemOf(EVP_PKEY* key, bool is_private) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (is_private) {
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PUBKEY(bio, key);
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

}  // namespace kw::testing
