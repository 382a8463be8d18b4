// Live is decided by resolveCredential; a token that is not live is told apart (forged, expired,
// early, revoked) by verifyJwtIgnoringTimes and then the time and revocation checks.
#include "proxy/scan/credential_verdict.h"

#include "policy/credentials.h"
#include "policy/jwt.h"
#include "proxy/router/credential_resolver.h"

namespace kw::proxy {

std::string_view credentialStateName(CredentialState state) {
  switch (state) {
    case CredentialState::Live:
      return "live";
    case CredentialState::NotYetValid:
      return "not-yet-valid";
    case CredentialState::Expired:
      return "expired";
    case CredentialState::Revoked:
      return "revoked";
    case CredentialState::Unknown:
      return "unknown";
    case CredentialState::Invalid:
      return "invalid";
  }
  return "unknown";
}

CredentialVerdict judgeCredential(scan::FindingKind kind, std::string_view secret,
                                  const conf::Snapshot& snapshot, int64_t now_s,
                                  const std::unordered_set<std::string>& revoked) {
  CredentialVerdict v;
  if (kind == scan::FindingKind::KeywardKey) {
    const conf::ClientEntry* entry = snapshot.findClientByApiKey(secret);
    if (entry == nullptr) {
      v.reason = "no client holds this key";
      return v;
    }
    v.client = entry->config->spec.name;
    const ResolvedCredential r = resolveCredential(secret, snapshot, now_s, &revoked);
    v.state = r.ok() ? CredentialState::Live : CredentialState::Invalid;
    if (!r.ok()) v.reason = "the client does not accept static keys";
    return v;
  }
  if (kind != scan::FindingKind::Jwt) return v;

  // Signature and claims, whatever the times: is the token ours? Then its times and the
  // revocation list, as the gateway checks them on every use.
  const policy::JwtRules& rules = snapshot.jwtRules();
  auto claims = policy::verifyJwtIgnoringTimes(secret, snapshot.jwtKeys(), rules);
  if (!claims) {
    const std::string& why = claims.error().message;
    const bool foreign = why.find("kid") != std::string::npos ||
                         why.find("signature") != std::string::npos ||
                         why.find("alg") != std::string::npos;
    v.state = foreign ? CredentialState::Unknown : CredentialState::Invalid;
    v.reason = why;
    return v;
  }
  v.client = claims->client;
  v.jti = claims->jti;
  v.exp = claims->exp;
  if (Status times = policy::checkJwtTimes(*claims, rules, now_s); !times) {
    const bool expired = claims->exp + rules.leeway_s <= now_s;
    const bool early = claims->nbf > now_s + rules.leeway_s || claims->iat > now_s + rules.leeway_s;
    v.state = expired ? CredentialState::Expired
              : early ? CredentialState::NotYetValid
                      : CredentialState::Invalid;
    v.reason = times.error().message;
    return v;
  }
  if (policy::isJwtRevoked(*claims, &revoked)) {
    v.state = CredentialState::Revoked;
    v.reason = "jti is in signing.revoked_file";
    return v;
  }
  const ResolvedCredential r = resolveCredential(secret, snapshot, now_s, &revoked);
  v.state = r.ok() ? CredentialState::Live : CredentialState::Invalid;
  if (!r.ok()) {
    v.reason = r.failure == CredentialFailure::UnknownClient
                   ? "its client claim names no configured client"
                   : "its client does not accept tokens";
  }
  return v;
}

}  // namespace kw::proxy
