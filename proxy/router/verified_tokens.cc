// Verified JWTs by keyed digest, per configuration snapshot, bounded.
#include "proxy/router/verified_tokens.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>

namespace kw::proxy {

VerifiedTokens::VerifiedTokens() {
  // Without a secret key the digests could be predicted: then every token is verified in full.
  enabled_ = RAND_bytes(key_.data(), static_cast<int>(key_.size())) == 1;
}

size_t VerifiedTokens::DigestHash::operator()(const Digest& d) const {
  size_t h = 0;
  std::memcpy(&h, d.data(), sizeof h);  // the digest is keyed and uniform: any 8 bytes hash it
  return h;
}

VerifiedTokens::Digest VerifiedTokens::digest(std::string_view token) const {
  Digest d{};
  unsigned int n = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(token.data()), token.size(), d.data(), &n);
  return d;
}

void VerifiedTokens::use(const std::shared_ptr<const conf::Snapshot>& snapshot) {
  if (snapshot == snapshot_) return;
  snapshot_ = snapshot;
  entries_.clear();
  order_.clear();
}

const policy::JwtClaims* VerifiedTokens::find(std::string_view token) const {
  if (!enabled_ || entries_.empty()) return nullptr;
  auto it = entries_.find(digest(token));
  if (it == entries_.end()) return nullptr;
  ++hits_;
  return &it->second;
}

void VerifiedTokens::add(std::string_view token, policy::JwtClaims claims) {
  if (!enabled_) return;
  const Digest d = digest(token);
  if (entries_.count(d) != 0) return;
  while (entries_.size() >= kMaxEntries) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  entries_.emplace(d, std::move(claims));
  order_.push_back(d);
}

}  // namespace kw::proxy
