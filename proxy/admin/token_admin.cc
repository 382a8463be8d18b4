// Mints signed tokens and appends revoked jti values for the admin /v1/tokens endpoints.
#include "proxy/admin/token_admin.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>

#include "conf/config.h"
#include "policy/client_policy.h"
#include "policy/credentials.h"
#include "policy/json_object.h"
#include "policy/jwt.h"
#include "proxy/codec/json_escape.h"
#include "proxy/codec/reply_json.h"
#include "proxy/io/atomic_file.h"
#include "proxy/router/router_shared.h"

namespace kw::proxy {
namespace {

TokenAdminResponse fail(int status, std::string_view message) {
  return {status, codec::jsonError(message)};
}

// The string member `name`, or nullopt when absent; `bad` is set when present but not a string.
std::optional<std::string> stringMember(const policy::JsonObject& o, std::string_view name,
                                        bool& bad) {
  const policy::JsonMember* m = o.find(name);
  if (m == nullptr) return std::nullopt;
  if (m->kind != policy::JsonMember::Kind::String) {
    bad = true;
    return std::nullopt;
  }
  return m->text;
}

}  // namespace

TokenAdminResponse mintTokenRequest(const conf::Snapshot& snapshot, std::string_view body,
                                    int64_t now_s) {
  auto obj = policy::parseJsonObject(body);
  if (!obj) return fail(400, "ERR body must be a JSON object");
  bool bad = false;
  auto client = stringMember(*obj, "client", bad);
  auto sub = stringMember(*obj, "sub", bad);
  auto ttl = stringMember(*obj, "ttl", bad);
  if (bad) return fail(400, "ERR client, sub and ttl must be strings");
  if (!client || snapshot.findClientByName(*client) == nullptr) {
    return fail(400, "ERR client must name a configured client");
  }
  if (!snapshot.findClientByName(*client)->config->accepts_jwt) {
    return fail(400, "ERR client does not accept jwt credentials (its credentials: list)");
  }
  if (sub && !sub->empty() && !policy::isValidSub(*sub)) {
    return fail(400, "ERR sub must match [A-Za-z0-9._@-]{1,128}");
  }
  int64_t ttl_s = 15 * 60;
  if (ttl) {
    auto d = conf::parseDuration(*ttl);
    if (!d) return fail(400, "ERR ttl is not a duration");
    ttl_s = d->count() / 1000;
  }
  if (ttl_s <= 0) return fail(400, "ERR ttl must be at least 1s");
  if (ttl_s > snapshot.jwtRules().max_ttl_s) return fail(400, "ERR ttl exceeds signing.max_ttl");
  if (snapshot.jwtKeys().empty() || !snapshot.jwtKeys().front()->canSign()) {
    return fail(400, "ERR no signing key can sign");
  }
  unsigned char rnd[16];
  if (RAND_bytes(rnd, sizeof(rnd)) != 1) return fail(500, "ERR no randomness");
  policy::JwtClaims claims;
  claims.client = *client;
  claims.sub = sub ? *sub : std::string();
  claims.jti =
      policy::base64UrlEncode(std::string_view(reinterpret_cast<const char*>(rnd), sizeof(rnd)));
  claims.iat = now_s;
  claims.exp = now_s + ttl_s;
  auto token = policy::signJwt(*snapshot.jwtKeys().front(), claims, snapshot.jwtRules());
  if (!token) return fail(500, "ERR cannot sign");
  std::string out = "{\"token\":";
  codec::appendJsonString(out, *token);
  out += ",\"expires_at\":" + std::to_string(claims.exp) + ",\"jti\":";
  codec::appendJsonString(out, claims.jti);
  out += "}";
  return {200, std::move(out)};
}

TokenAdminResponse revokeTokenRequest(const conf::Snapshot& snapshot, std::string_view body) {
  auto obj = policy::parseJsonObject(body);
  if (!obj) return fail(400, "ERR body must be a JSON object");
  bool bad = false;
  auto jti = stringMember(*obj, "jti", bad);
  if (bad || !jti || !policy::isSafeJti(*jti)) {
    return fail(400, "ERR jti must match [A-Za-z0-9._:-]{1,128}");
  }
  const std::string& file = snapshot.config().signing.revoked_file;
  if (file.empty()) return fail(400, "ERR signing.revoked_file is not configured");
  // Neither the read nor the write follows a symlink planted at the file or beside it.
  auto read = readFileNoFollow(file, conf::kMaxRevokedBytes);
  if (!read) {
    return fail(500, read.error().code == ErrorCode::TooLarge ? "ERR revoked_file is too large"
                                                              : "ERR cannot read revoked_file");
  }
  std::string content = read->value_or(std::string());
  if (!content.empty() && content.back() != '\n') content += '\n';
  content += *jti;
  content += '\n';
  if (!replaceFileAtomically(file, content)) return fail(500, "ERR cannot write revoked_file");
  return {200, "{\"revoked\":true}"};
}

std::function<bool(std::string_view, std::string_view, int&, std::string&)> tokenAdminHook(
    RouterShared& shared, std::function<void()> on_revoked) {
  return [&shared, on_revoked = std::move(on_revoked)](std::string_view path, std::string_view body,
                                                       int& status, std::string& out) {
    TokenAdminResponse r;
    if (path == "/v1/tokens") {
      const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
      r = mintTokenRequest(*shared.snapshot(), body, now_s);
    } else if (path == "/v1/tokens/revoke") {
      // Read again first: a file gone since the last look must not be started afresh with only
      // this jti (attack round 16: revoke, delete, revoke within a second lifted the first).
      shared.reloadRevocations();
      r = shared.revocationsKnown()
              ? revokeTokenRequest(*shared.snapshot(), body)
              : fail(503,
                     "ERR signing.revoked_file cannot be read or is gone (every JWT is refused "
                     "until it is back); restore it before revoking more");
      if (r.status == 200) {
        // Answered only once every worker has the new list (README, Workers).
        shared.reloadRevocations();
        if (on_revoked) on_revoked();
      }
    } else {
      return false;
    }
    status = r.status;
    out = std::move(r.body);
    return true;
  };
}

}  // namespace kw::proxy
