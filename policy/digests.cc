// Digests fetched once: see the header.
#include "policy/digests.h"

namespace kw::policy {
namespace {
// Fetched on first use (thread-safe static init) and kept for the process. A failed fetch (no
// default provider) falls back to the implicit-fetch handle, which then reports the error.
const EVP_MD* fetchOr(const char* name, const EVP_MD* fallback) {
  const EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  return md != nullptr ? md : fallback;
}
}  // namespace

const EVP_MD* sha256Digest() {
  static const EVP_MD* const md = fetchOr("SHA2-256", EVP_sha256());
  return md;
}

const EVP_MD* sha1Digest() {
  static const EVP_MD* const md = fetchOr("SHA1", EVP_sha1());
  return md;
}

}  // namespace kw::policy
