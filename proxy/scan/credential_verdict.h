// What a credential found by `keyward scan --config` means to that keyward: which client it
// opens, and whether the gateway would accept it now (the same resolveCredential the gateway
// runs on every request, so the scan cannot disagree with it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

#include "conf/snapshot.h"
#include "scan/detectors.h"

namespace kw::proxy {

enum class CredentialState : uint8_t {
  Live,         // accepted now
  NotYetValid,  // signed by our key, accepted once its nbf/iat is reached
  Expired,
  Revoked,
  Unknown,  // not ours: no client holds the key, or no configured key signed the token
  Invalid,  // signed by our key but refused (unknown client, bad claims)
};
std::string_view credentialStateName(CredentialState state);

struct CredentialVerdict {
  CredentialState state = CredentialState::Unknown;
  std::string client;  // the keyward client, when one was matched
  std::string jti;     // JWTs: the jti claim (safe characters only; empty when absent)
  int64_t exp = 0;     // JWTs: the exp claim
  std::string reason;  // why it is not live (safe to print: no token bytes)
};

// `secret` is a finding of kind KeywardKey or Jwt; other kinds are not keyward's to judge.
[[nodiscard]] CredentialVerdict judgeCredential(scan::FindingKind kind, std::string_view secret,
                                                const conf::Snapshot& snapshot, int64_t now_s,
                                                const std::unordered_set<std::string>& revoked);

}  // namespace kw::proxy
