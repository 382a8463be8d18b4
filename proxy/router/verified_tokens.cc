// Verified JWTs by keyed digest, per configuration snapshot, bounded.
#include "proxy/router/verified_tokens.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstring>

namespace kw::proxy {

void VerifiedTokens::MacFree::operator()(evp_mac_ctx_st* ctx) const { EVP_MAC_CTX_free(ctx); }

VerifiedTokens::VerifiedTokens() {
  // The MAC is fetched and keyed once: a one-shot HMAC() looks the algorithm up and allocates on
  // every call, which cost more than the rest of the lookup. Without randomness or the MAC, the
  // cache stays off (every token is verified in full).
  std::array<uint8_t, 32> key{};
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) return;
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) return;
  mac_.reset(EVP_MAC_CTX_new(mac));
  EVP_MAC_free(mac);  // the context holds its own reference
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  enabled_ = mac_ && EVP_MAC_init(mac_.get(), key.data(), key.size(), params) == 1;
  OPENSSL_cleanse(key.data(), key.size());
}

size_t VerifiedTokens::DigestHash::operator()(const Digest& d) const {
  size_t h = 0;
  std::memcpy(&h, d.data(), sizeof h);  // the digest is keyed and uniform: any 8 bytes hash it
  return h;
}

std::optional<VerifiedTokens::Digest> VerifiedTokens::keyOf(std::string_view token) const {
  if (!enabled_) return std::nullopt;
  Digest d{};
  size_t n = 0;
  // A null key re-initialises the context with the key it already holds.
  if (EVP_MAC_init(mac_.get(), nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(mac_.get(), reinterpret_cast<const unsigned char*>(token.data()),
                     token.size()) != 1 ||
      EVP_MAC_final(mac_.get(), d.data(), &n, d.size()) != 1 || n != d.size()) {
    return std::nullopt;
  }
  return d;
}

void VerifiedTokens::use(const std::shared_ptr<const conf::Snapshot>& snapshot) {
  if (snapshot == snapshot_) return;
  snapshot_ = snapshot;
  entries_.clear();
  order_.clear();
}

const policy::JwtClaims* VerifiedTokens::find(const Digest& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  ++hits_;
  return &it->second;
}

void VerifiedTokens::add(const Digest& key, policy::JwtClaims claims) {
  if (entries_.count(key) != 0) return;
  while (entries_.size() >= kMaxEntries) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  entries_.emplace(key, std::move(claims));
  order_.push_back(key);
}

}  // namespace kw::proxy
