// Maps a bearer token to its client entry: static keys by digest, JWTs by signature and claims.
#include "proxy/router/credential_resolver.h"

#include "policy/jwt.h"

namespace kw::proxy {

std::string_view credentialFailureReason(CredentialFailure f) {
  switch (f) {
    case CredentialFailure::Missing:
    case CredentialFailure::UnknownKey:
      return "auth";
    case CredentialFailure::BadJwt:
    case CredentialFailure::UnknownClient:
      return "auth_jwt";
    case CredentialFailure::WrongKind:
      return "auth_kind";
  }
  return "auth";
}

ResolvedCredential resolveCredential(std::string_view token, const conf::Snapshot& snapshot,
                                     int64_t now_s, const std::unordered_set<std::string>* revoked,
                                     bool revocations_known, VerifiedTokens* verified) {
  ResolvedCredential r;
  if (token.empty()) {
    r.failure = CredentialFailure::Missing;
    return r;
  }
  const bool static_shaped = token.substr(0, 3) == "kw_";
  if (static_shaped || token.find('.') == std::string_view::npos) {
    r.entry = snapshot.findClientByApiKey(token, &r.key_digest);
    r.failure = CredentialFailure::UnknownKey;
    if (r.entry != nullptr && !r.entry->config->accepts_api_key) {
      r.entry = nullptr;
      r.failure = CredentialFailure::WrongKind;
    }
    return r;
  }
  r.is_jwt = true;
  r.failure = CredentialFailure::BadJwt;
  if (snapshot.jwtKeys().empty() || !revocations_known) return r;
  if (token.size() > policy::kMaxTokenBytes) return r;
  const std::optional<VerifiedTokens::Digest> key =
      verified != nullptr ? verified->keyOf(token) : std::nullopt;
  const policy::JwtClaims* known = key ? verified->find(*key) : nullptr;
  std::optional<policy::JwtClaims> checked;
  if (known != nullptr) {
    // Verified before under this snapshot: only what time and revocation change is checked.
    if (!policy::checkJwtTimes(*known, snapshot.jwtRules(), now_s) ||
        policy::isJwtRevoked(*known, revoked)) {
      return r;
    }
  } else {
    // verifyJwt checks the signature, every claim (sub format included) and the list.
    auto verified_now =
        policy::verifyJwt(token, snapshot.jwtKeys(), snapshot.jwtRules(), now_s, revoked);
    if (!verified_now) return r;
    checked = std::move(*verified_now);
  }
  const policy::JwtClaims& claims = known != nullptr ? *known : *checked;
  const conf::ClientEntry* entry = snapshot.findClientByName(claims.client);
  if (entry == nullptr) {
    r.failure = CredentialFailure::UnknownClient;
    return r;
  }
  // A signing key may only speak for clients that accept JWTs (`credentials:`).
  if (!entry->config->accepts_jwt) {
    r.failure = CredentialFailure::WrongKind;
    return r;
  }
  r.entry = entry;
  r.exp = claims.exp;
  r.sub = claims.sub;
  r.jti = claims.jti;
  r.kid = claims.kid;
  if (checked && key) verified->add(*key, std::move(*checked));
  return r;
}

}  // namespace kw::proxy
