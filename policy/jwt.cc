// JWT verification and signing with a fail-closed parser: anything unexpected is a refusal.
#include "policy/jwt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "policy/base64url.h"
#include "policy/client_policy.h"
#include "policy/credentials.h"
#include "policy/digests.h"
#include "policy/json_object.h"

namespace kw::policy {
namespace {

constexpr size_t kMinHmacSecret = 32;

Error refuse(std::string why) { return makeError(ErrorCode::InvalidArgument, std::move(why)); }

bool jsonStringSafe(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

std::string_view jwtAlgName(JwtAlg alg) {
  switch (alg) {
    case JwtAlg::EdDSA:
      return "EdDSA";
    case JwtAlg::HS256:
      return "HS256";
  }
  return "?";
}

JwtKey::~JwtKey() {
  EVP_PKEY_free(pkey_);
  OPENSSL_cleanse(secret_.data(), secret_.size());
}

Result<JwtKeyConstSharedPtr> JwtKey::fromPem(std::string id, std::string_view pem,
                                             bool is_private) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!bio) return makeError(ErrorCode::Internal, "out of memory");
  EVP_PKEY* pkey = is_private ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr)
                              : PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!pkey) return makeError(ErrorCode::Config, "key " + id + ": not a PEM Ed25519 key");
  if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(pkey);
    return makeError(ErrorCode::Config, "key " + id + ": EdDSA keys must be Ed25519");
  }
  std::shared_ptr<JwtKey> key(new JwtKey(std::move(id), JwtAlg::EdDSA));
  key->pkey_ = pkey;
  key->can_sign_ = is_private;
  return JwtKeyConstSharedPtr(std::move(key));
}

Result<JwtKeyConstSharedPtr> JwtKey::fromSecret(std::string id, std::string_view secret) {
  if (secret.size() < kMinHmacSecret) {
    return makeError(ErrorCode::Config, "key " + id + ": HS256 secret shorter than 32 bytes");
  }
  std::shared_ptr<JwtKey> key(new JwtKey(std::move(id), JwtAlg::HS256));
  key->secret_.assign(secret);
  key->can_sign_ = true;
  return JwtKeyConstSharedPtr(std::move(key));
}

bool JwtKey::samePublicKey(const JwtKey& other) const {
  return pkey_ != nullptr && other.pkey_ != nullptr && EVP_PKEY_eq(pkey_, other.pkey_) == 1;
}

bool JwtKey::verify(std::string_view input, std::string_view sig) const {
  switch (alg_) {
    case JwtAlg::HS256: {
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      if (!HMAC(sha256Digest(), secret_.data(), static_cast<int>(secret_.size()),
                reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len)) {
        return false;
      }
      return sig.size() == len && CRYPTO_memcmp(mac, sig.data(), len) == 0;
    }
    case JwtAlg::EdDSA: {
      if (sig.size() != 64) return false;
      EVP_MD_CTX* ctx = EVP_MD_CTX_new();
      if (!ctx) return false;
      const bool ok =
          EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pkey_) == 1 &&
          EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                           reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
      EVP_MD_CTX_free(ctx);
      return ok;
    }
  }
  return false;
}

Result<std::string> JwtKey::sign(std::string_view input) const {
  if (!can_sign_) return makeError(ErrorCode::Config, "key " + id_ + " cannot sign");
  switch (alg_) {
    case JwtAlg::HS256: {
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      if (!HMAC(sha256Digest(), secret_.data(), static_cast<int>(secret_.size()),
                reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len)) {
        return makeError(ErrorCode::Internal, "HMAC failed");
      }
      return std::string(reinterpret_cast<char*>(mac), len);
    }
    case JwtAlg::EdDSA: {
      std::string sig(64, '\0');
      size_t len = sig.size();
      EVP_MD_CTX* ctx = EVP_MD_CTX_new();
      const bool ok =
          ctx && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pkey_) == 1 &&
          EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                         reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
      EVP_MD_CTX_free(ctx);
      if (!ok || len != 64) return makeError(ErrorCode::Internal, "Ed25519 signing failed");
      return sig;
    }
  }
  return makeError(ErrorCode::Internal, "unknown algorithm");
}

namespace {

Result<JsonObject> decodeSegment(std::string_view seg, const char* what) {
  std::string json;
  if (seg.empty() || !base64UrlDecode(seg, json)) {
    return refuse(std::string("malformed base64url in the token ") + what);
  }
  auto obj = parseJsonObject(json);
  if (!obj) return refuse(std::string("token ") + what + ": " + obj.error().message);
  return obj;
}

// NumericDate claims must be integers (fractions and exponents are refused: fail closed).
bool intClaim(const JsonObject& o, std::string_view name, int64_t& out, bool& present,
              std::string& why) {
  const JsonMember* m = o.find(name);
  present = m != nullptr;
  if (!m) return true;
  if (m->kind != JsonMember::Kind::Integer || m->integer < 0) {
    why = std::string(name) + " must be a non-negative integer";
    return false;
  }
  out = m->integer;
  return true;
}

bool stringClaim(const JsonObject& o, std::string_view name, std::string& out, std::string& why) {
  const JsonMember* m = o.find(name);
  if (!m) return true;
  if (m->kind != JsonMember::Kind::String) {
    why = std::string(name) + " must be a string";
    return false;
  }
  out = m->text;
  return true;
}

Result<const JwtKey*> checkHeader(const JsonObject& h,
                                  const std::vector<JwtKeyConstSharedPtr>& keys, std::string& kid) {
  for (const auto& m : h.members) {
    if (m.name != "alg" && m.name != "kid" && m.name != "typ") {
      // crit, jku, jwk, x5u, x5c, ... : anything keyward does not understand is refused.
      return refuse("unsupported token header parameter");
    }
  }
  const JsonMember* alg = h.find("alg");
  const JsonMember* k = h.find("kid");
  const JsonMember* typ = h.find("typ");
  if (!alg || alg->kind != JsonMember::Kind::String) return refuse("token header has no alg");
  if (typ &&
      (typ->kind != JsonMember::Kind::String || (typ->text != "JWT" && typ->text != "jwt"))) {
    return refuse("token typ must be JWT");
  }
  if (!k || k->kind != JsonMember::Kind::String || k->text.empty()) {
    return refuse("token header has no kid");
  }
  kid = k->text;
  for (const auto& key : keys) {
    if (key->id() != kid) continue;
    if (alg->text != jwtAlgName(key->alg())) return refuse("token alg does not match its key");
    return key.get();
  }
  return refuse("unknown kid");
}

}  // namespace

namespace {

// verifyJwt's checks in order; `now_s` null skips the time checks (verifyJwtIgnoringTimes).
Result<JwtClaims> verify(std::string_view token, const std::vector<JwtKeyConstSharedPtr>& keys,
                         const JwtRules& rules, const int64_t* now_s,
                         const std::unordered_set<std::string>* revoked) {
  if (token.size() > kMaxTokenBytes) return refuse("token too large");
  const size_t d1 = token.find('.');
  const size_t d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return refuse("token is not a compact JWS");
  }
  auto header = decodeSegment(token.substr(0, d1), "header");
  if (!header) return header.error();
  JwtClaims claims;
  auto key = checkHeader(*header, keys, claims.kid);
  if (!key) return key.error();

  std::string sig;
  if (!base64UrlDecode(token.substr(d2 + 1), sig)) return refuse("malformed token signature");
  if (!(*key)->verify(token.substr(0, d2), sig)) return refuse("bad token signature");

  auto body = decodeSegment(token.substr(d1 + 1, d2 - d1 - 1), "claims");
  if (!body) return body.error();
  const JsonObject& c = *body;
  std::string why, iss;
  bool has_exp = false, has_iat = false, has_nbf = false;
  const JsonMember* client = c.find("client");
  if (!client || client->kind != JsonMember::Kind::String || client->text.empty()) {
    return refuse("token has no client claim");
  }
  claims.client = client->text;
  if (!intClaim(c, "exp", claims.exp, has_exp, why) ||
      !intClaim(c, "iat", claims.iat, has_iat, why) ||
      !intClaim(c, "nbf", claims.nbf, has_nbf, why) || !stringClaim(c, "sub", claims.sub, why) ||
      !stringClaim(c, "jti", claims.jti, why) || !stringClaim(c, "iss", iss, why)) {
    return refuse("token claim " + why);
  }
  if (!has_exp) return refuse("token has no exp");
  if (now_s != nullptr) {
    if (Status times = checkJwtTimes(claims, rules, *now_s); !times) return times.error();
  }
  if (c.find("sub") && !isValidSub(claims.sub)) return refuse("token sub has invalid characters");
  // A jti outside the safe set could never be revoked by every path (credentials.h).
  if (c.find("jti") && !isSafeJti(claims.jti))
    return refuse("token jti must match [A-Za-z0-9._:-]{1,128}");
  if (!rules.issuer.empty() && iss != rules.issuer) return refuse("token issuer mismatch");
  if (!rules.audience.empty()) {
    const JsonMember* aud = c.find("aud");
    bool ok = false;
    if (aud && aud->kind == JsonMember::Kind::String) {
      ok = aud->text == rules.audience;
    } else if (aud && aud->kind == JsonMember::Kind::Array && aud->all_strings) {
      for (const auto& a : aud->strings) ok = ok || a == rules.audience;
    }
    if (!ok) return refuse("token audience mismatch");
  } else if (const JsonMember* aud = c.find("aud");
             aud && aud->kind != JsonMember::Kind::String &&
             !(aud->kind == JsonMember::Kind::Array && aud->all_strings)) {
    return refuse("token claim aud must be a string or an array of strings");
  }
  if (isJwtRevoked(claims, revoked)) return refuse("token revoked");
  return claims;
}

}  // namespace

Result<JwtClaims> verifyJwt(std::string_view token, const std::vector<JwtKeyConstSharedPtr>& keys,
                            const JwtRules& rules, int64_t now_s,
                            const std::unordered_set<std::string>* revoked) {
  return verify(token, keys, rules, &now_s, revoked);
}

Result<JwtClaims> verifyJwtIgnoringTimes(std::string_view token,
                                         const std::vector<JwtKeyConstSharedPtr>& keys,
                                         const JwtRules& rules) {
  return verify(token, keys, rules, nullptr, nullptr);
}

Status checkJwtTimes(const JwtClaims& claims, const JwtRules& rules, int64_t now_s) {
  if (claims.exp + rules.leeway_s <= now_s) return refuse("token expired");
  if (claims.exp > now_s + rules.max_ttl_s + rules.leeway_s) {
    return refuse("token exp is further ahead than signing.max_ttl");
  }
  if (claims.nbf > now_s + rules.leeway_s) return refuse("token not yet valid (nbf)");
  if (claims.iat > now_s + rules.leeway_s) return refuse("token issued in the future");
  return Ok{};
}

bool isJwtRevoked(const JwtClaims& claims, const std::unordered_set<std::string>* revoked) {
  return revoked != nullptr && !claims.jti.empty() && revoked->count(claims.jti) != 0;
}

Result<std::string> signJwt(const JwtKey& key, const JwtClaims& claims, const JwtRules& rules) {
  for (std::string_view s : {std::string_view(claims.client), std::string_view(claims.sub),
                             std::string_view(claims.jti), std::string_view(key.id()),
                             std::string_view(rules.issuer), std::string_view(rules.audience)}) {
    if (!jsonStringSafe(s)) return makeError(ErrorCode::InvalidArgument, "unsafe claim text");
  }
  if (!claims.jti.empty() && !isSafeJti(claims.jti)) {
    return makeError(ErrorCode::InvalidArgument, "jti must match [A-Za-z0-9._:-]{1,128}");
  }
  const std::string header = "{\"alg\":\"" + std::string(jwtAlgName(key.alg())) + "\",\"kid\":\"" +
                             key.id() + "\",\"typ\":\"JWT\"}";
  std::string body = "{\"client\":\"" + claims.client + "\"";
  if (!claims.sub.empty()) body += ",\"sub\":\"" + claims.sub + "\"";
  if (!claims.jti.empty()) body += ",\"jti\":\"" + claims.jti + "\"";
  if (!rules.issuer.empty()) body += ",\"iss\":\"" + rules.issuer + "\"";
  if (!rules.audience.empty()) body += ",\"aud\":\"" + rules.audience + "\"";
  if (claims.iat) body += ",\"iat\":" + std::to_string(claims.iat);
  if (claims.nbf) body += ",\"nbf\":" + std::to_string(claims.nbf);
  body += ",\"exp\":" + std::to_string(claims.exp) + "}";
  std::string input = base64UrlEncode(header) + "." + base64UrlEncode(body);
  auto sig = key.sign(input);
  if (!sig) return sig.error();
  return input + "." + base64UrlEncode(*sig);
}

}  // namespace kw::policy
