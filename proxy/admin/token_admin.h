// Admin token endpoints (README, Operating it): POST /v1/tokens mints, POST /v1/tokens/revoke
// revokes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "conf/snapshot.h"

namespace kw::proxy {

class RouterShared;

struct TokenAdminResponse {
  int status = 200;
  std::string body;  // JSON
};

// POST /v1/tokens {"client":"...","sub":"...","ttl":"15m"} (sub and ttl optional) at `now_s`:
// 200 {"token":"...","expires_at":N,"jti":"..."} signed with the first signing key, a random jti,
// ttl capped by signing.max_ttl (above it: 400). 400 on a bad body, unknown client or no key
// that can sign. The token appears only in the response body.
[[nodiscard]] TokenAdminResponse mintTokenRequest(const conf::Snapshot& snapshot,
                                                  std::string_view body, int64_t now_s);

// POST /v1/tokens/revoke {"jti":"..."}: appends the jti to signing.revoked_file atomically (temp
// file + rename in the same directory). 200 {"revoked":true}; 400 on a bad body or when no
// revoked_file is configured; 500 when the file cannot be written. The caller then reloads the
// in-memory set (RouterShared::reloadRevocations).
[[nodiscard]] TokenAdminResponse revokeTokenRequest(const conf::Snapshot& snapshot,
                                                    std::string_view body);

// The AdminHooks::v1_post handler for POST /v1/tokens and /v1/tokens/revoke against the shared
// snapshot; after a revocation it re-reads the revocation file into `shared` and calls
// `on_revoked` (which has every worker take it).
std::function<bool(std::string_view, std::string_view, int&, std::string&)> tokenAdminHook(
    RouterShared& shared, std::function<void()> on_revoked);

}  // namespace kw::proxy
