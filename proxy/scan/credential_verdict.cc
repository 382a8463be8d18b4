// Live is decided by resolveCredential; the reason for a refusal comes from verifyJwt, run
// without the time and revocation checks where needed to tell expired from forged.
#include "proxy/scan/credential_verdict.h"

#include <algorithm>

#include "policy/base64url.h"
#include "policy/credentials.h"
#include "policy/json_object.h"
#include "policy/jwt.h"
#include "proxy/router/credential_resolver.h"

namespace kw::proxy {
namespace {

// An integer claim of the token's (unverified) payload; 0 when absent or unreadable.
int64_t unverifiedClaim(std::string_view token, std::string_view name) {
  const size_t d1 = token.find('.');
  const size_t d2 = token.find('.', d1 + 1);
  std::string raw;
  if (d1 == std::string_view::npos || d2 == std::string_view::npos ||
      !policy::base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1), raw)) {
    return 0;
  }
  auto obj = policy::parseJsonObject(raw);
  if (!obj) return 0;
  const policy::JsonMember* m = obj->find(name);
  return m != nullptr && m->kind == policy::JsonMember::Kind::Integer ? m->integer : 0;
}

}  // namespace

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

  const auto& keys = snapshot.jwtKeys();
  const policy::JwtRules& rules = snapshot.jwtRules();
  auto now = policy::verifyJwt(secret, keys, rules, now_s, nullptr);
  if (now) {
    v.client = now->client;
    v.jti = now->jti;
    v.exp = now->exp;
    if (policy::isJwtRevoked(*now, &revoked)) {
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
  // Refused now for its times: verified again at a moment inside them (the signature and every
  // other claim are still checked), to name its client and jti.
  const std::string why = now.error().message;
  const bool expired = why == "token expired";
  const bool early =
      why.rfind("token not yet valid", 0) == 0 || why == "token issued in the future";
  if (!expired && !early) {
    const bool foreign = why.find("kid") != std::string::npos ||
                         why.find("signature") != std::string::npos ||
                         why.find("alg") != std::string::npos;
    v.state = foreign ? CredentialState::Unknown : CredentialState::Invalid;
    v.reason = why;
    return v;
  }
  v.state = expired ? CredentialState::Expired : CredentialState::NotYetValid;
  v.reason = why;
  const int64_t then =
      expired ? unverifiedClaim(secret, "exp") - 1
              : std::max(unverifiedClaim(secret, "nbf"), unverifiedClaim(secret, "iat"));
  auto at_then = policy::verifyJwt(secret, keys, rules, then, nullptr);
  if (!at_then) {
    v.state = CredentialState::Unknown;
    v.reason = at_then.error().message;
    return v;
  }
  v.client = at_then->client;
  v.jti = at_then->jti;
  v.exp = at_then->exp;
  return v;
}

}  // namespace kw::proxy
