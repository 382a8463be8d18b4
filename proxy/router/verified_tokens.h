// VerifiedTokens: JWTs whose signature and claims were verified once, recognised again without
// a signature check (an Ed25519 verification costs more than the rest of a GET).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "conf/snapshot.h"
#include "policy/jwt.h"

typedef struct evp_mac_ctx_st EVP_MAC_CTX;

namespace kw::proxy {

// A hit gives the claims the token verified with; the caller checks them again against the time
// and the revocation list (policy::checkJwtTimes, isJwtRevoked), so an entry never outlives its
// token's exp or a revocation. Entries belong to one configuration snapshot: a reload (new keys,
// rules or clients) empties the cache. Tokens are known only by a keyed digest (HMAC-SHA256 with
// a random per-process key): the cache holds no token, and how long a lookup takes tells nothing
// about any token but the one asked for. Only verified tokens are added. Bounded: kMaxEntries,
// the oldest dropped first; an entry holds at most ~1 KiB (a configured client's name and kid, a
// sub and a jti of at most 128 bytes each).
class VerifiedTokens {
 public:
  static constexpr size_t kMaxEntries = 16384;

  using Digest = std::array<uint8_t, 32>;

  VerifiedTokens();
  // Entries of another snapshot are dropped (call before find/add with the snapshot in use).
  void use(const std::shared_ptr<const conf::Snapshot>& snapshot);
  // A token's key, computed once per request for find and add; none while the cache is off.
  [[nodiscard]] std::optional<Digest> keyOf(std::string_view token) const;
  // The claims the token with this key verified with, or null.
  [[nodiscard]] const policy::JwtClaims* find(const Digest& key) const;
  void add(const Digest& key, policy::JwtClaims claims);
  [[nodiscard]] size_t size() const { return entries_.size(); }
  [[nodiscard]] uint64_t hits() const { return hits_; }

 private:
  struct DigestHash {
    size_t operator()(const Digest& d) const;
  };
  struct MacFree {
    void operator()(evp_mac_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_mac_ctx_st, MacFree> mac_;  // HMAC-SHA256, keyed at construction
  std::shared_ptr<const conf::Snapshot> snapshot_;
  std::unordered_map<Digest, policy::JwtClaims, DigestHash> entries_;
  std::deque<Digest> order_;  // oldest first
  mutable uint64_t hits_ = 0;
  bool enabled_ = false;
};

}  // namespace kw::proxy
