// Compact JWT (RFC 7519) verification and signing: EdDSA (Ed25519) and HS256, through OpenSSL.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "policy/base64url.h"
#include "policy/result.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace kw::policy {

enum class JwtAlg : uint8_t { EdDSA, HS256 };
std::string_view jwtAlgName(JwtAlg alg);

// One configured key (README, Credentials). Holds either an Ed25519 key (public, or private for
// signing) or an HS256 secret. Secrets never appear in messages.
class JwtKey {
 public:
  static Result<std::shared_ptr<const JwtKey>> fromPem(std::string id, std::string_view pem,
                                                       bool is_private);
  static Result<std::shared_ptr<const JwtKey>> fromSecret(std::string id, std::string_view secret);
  ~JwtKey();
  JwtKey(const JwtKey&) = delete;
  JwtKey& operator=(const JwtKey&) = delete;

  const std::string& id() const { return id_; }
  JwtAlg alg() const { return alg_; }
  bool canSign() const { return can_sign_; }

  bool verify(std::string_view signing_input, std::string_view signature) const;
  // EdDSA: both hold the same public key (a private key holds its public half).
  bool samePublicKey(const JwtKey& other) const;
  Result<std::string> sign(std::string_view signing_input) const;

 private:
  JwtKey(std::string id, JwtAlg alg) : id_(std::move(id)), alg_(alg) {}
  std::string id_;
  JwtAlg alg_;
  bool can_sign_ = false;
  EVP_PKEY* pkey_ = nullptr;  // EdDSA
  std::string secret_;        // HS256
};
using JwtKeyConstSharedPtr = std::shared_ptr<const JwtKey>;

struct JwtRules {
  std::string issuer;    // checked when non-empty
  std::string audience;  // checked when non-empty
  int64_t max_ttl_s = 24 * 3600;
  int64_t leeway_s = 30;
};

struct JwtClaims {
  std::string client;
  std::string sub;  // empty when absent
  std::string jti;  // empty when absent
  std::string kid;
  int64_t exp = 0;
  int64_t iat = 0;  // 0 when absent
  int64_t nbf = 0;  // 0 when absent
};

inline constexpr size_t kMaxTokenBytes = 8 * 1024;

// Verifies `token` at time `now_s` (Unix seconds) against `keys` (chosen by the header's kid) and
// `rules`; `revoked` holds revoked jti values. Every refusal is an InvalidArgument error whose
// message is safe to log (no token bytes beyond the kid).
Result<JwtClaims> verifyJwt(std::string_view token, const std::vector<JwtKeyConstSharedPtr>& keys,
                            const JwtRules& rules, int64_t now_s,
                            const std::unordered_set<std::string>* revoked = nullptr);

// Every check of verifyJwt but checkJwtTimes and the revocation list: is the token signed by one
// of `keys` and well formed, whatever its times? For tools judging a token found at rest.
Result<JwtClaims> verifyJwtIgnoringTimes(std::string_view token,
                                         const std::vector<JwtKeyConstSharedPtr>& keys,
                                         const JwtRules& rules);

// The checks of verifyJwt that depend on the time, and on the revocation list: a verified
// token's claims must pass them again on every later use (a cache of verified tokens).
[[nodiscard]] Status checkJwtTimes(const JwtClaims& claims, const JwtRules& rules, int64_t now_s);
[[nodiscard]] bool isJwtRevoked(const JwtClaims& claims,
                                const std::unordered_set<std::string>* revoked);

// Signs a token with `key` for `claims` (client, sub, jti, iat, nbf, exp as given; iss/aud from
// `rules` when set).
Result<std::string> signJwt(const JwtKey& key, const JwtClaims& claims, const JwtRules& rules);

}  // namespace kw::policy
