// Resolves a presented bearer token to a configured client: static API key or signed JWT.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

#include "conf/snapshot.h"
#include "policy/credentials.h"
#include "proxy/router/verified_tokens.h"

namespace kw::proxy {

// Why a credential was refused; every refusal is answered 401 WRONGPASS.
enum class CredentialFailure : uint8_t {
  Missing,        // no token presented
  UnknownKey,     // static-key shaped token that matches no client
  BadJwt,         // signature, kid, alg, iss, aud, time, shape or revoked jti
  UnknownClient,  // a valid JWT whose `client` claim names no configured client
  WrongKind,      // a valid credential of a kind the client's `credentials:` does not accept
};

// The access-log reason for a failure: "auth" for key failures, "auth_jwt" for token failures.
std::string_view credentialFailureReason(CredentialFailure f);

struct ResolvedCredential {
  const conf::ClientEntry* entry = nullptr;  // null on failure; lives as long as the snapshot
  std::string sub;                           // JWT sub claim (empty for static keys / absent)
  std::string jti;                           // JWT jti claim (empty for static keys / absent)
  std::string kid;                           // JWT header's kid (empty for static keys)
  policy::Sha256 key_digest{};               // a static key's SHA-256 (the lookup's own)
  int64_t exp = 0;                           // JWT exp claim (0 for static keys)
  bool is_jwt = false;
  CredentialFailure failure = CredentialFailure::Missing;  // meaningful when entry is null

  [[nodiscard]] bool ok() const { return entry != nullptr; }
};

// `token`: the bearer token text (or nullptr-equivalent empty view when absent). Tokens starting
// `kw_` are static keys; tokens with a '.' are JWTs verified with the snapshot's signing keys and
// rules at `now_s` (Unix seconds) against `revoked` (may be null); anything else is looked up as a
// static key. Never logs or copies the token. With `verified` (bound to `snapshot`, see
// VerifiedTokens::use), a JWT verified before skips its signature check, and one verified now
// is added.
[[nodiscard]] ResolvedCredential resolveCredential(std::string_view token,
                                                   const conf::Snapshot& snapshot, int64_t now_s,
                                                   const std::unordered_set<std::string>* revoked,
                                                   bool revocations_known = true,
                                                   VerifiedTokens* verified = nullptr);

}  // namespace kw::proxy
