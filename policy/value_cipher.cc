// AES-256-GCM envelopes for values under encrypted key patterns (value_cipher.h).
#include "policy/value_cipher.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <memory>

#include "policy/base64url.h"

namespace kw::policy {

namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// Fetched once: OpenSSL 3 looks a cipher up again on every init given the legacy EVP_aes_256_gcm()
// (a locked property query per value).
const EVP_CIPHER* aes256gcm() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

// One context per thread, reset per use: no allocation per value.
EVP_CIPHER_CTX* cipherContext() {
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  if (ctx) EVP_CIPHER_CTX_reset(ctx.get());
  return ctx.get();
}

void appendLength(std::string& out, size_t n) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((static_cast<uint64_t>(n) >> shift) & 0xff));
  }
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

bool isValidValueKeyId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxValueKeyId &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
         });
}

std::string valueAssociatedData(std::string_view key) {
  std::string ad("kw1\0s", 5);  // the kind byte keeps a string value from a hash field's
  appendLength(ad, key.size());
  ad.append(key);
  return ad;
}

std::string valueAssociatedData(std::string_view key, std::string_view field) {
  std::string ad("kw1\0h", 5);
  appendLength(ad, key.size());
  ad.append(key);
  appendLength(ad, field.size());
  ad.append(field);
  return ad;
}

EnvelopeParse parseEnvelope(std::string_view text, EnvelopeParts& out) {
  if (!text.starts_with(kEnvelopePrefix)) return EnvelopeParse::NotEnvelope;
  text.remove_prefix(kEnvelopePrefix.size());
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos) return EnvelopeParse::Malformed;
  out.key_id = text.substr(0, dot);
  if (!isValidValueKeyId(out.key_id)) return EnvelopeParse::Malformed;
  const std::string_view body = text.substr(dot + 1);
  // base64url of at most kMaxSealedValue + nonce + tag bytes.
  if (body.size() > (kMaxSealedValue + kValueNonceBytes + kValueTagBytes + 2) / 3 * 4) {
    return EnvelopeParse::Malformed;
  }
  if (!base64UrlDecode(body, out.sealed) || out.sealed.size() < kValueNonceBytes + kValueTagBytes) {
    out.sealed.clear();
    return EnvelopeParse::Malformed;
  }
  return EnvelopeParse::Ok;
}

std::optional<ValueKey> ValueKey::make(std::string_view id, std::string_view secret) {
  if (!isValidValueKeyId(id) || secret.size() != kValueKeyBytes) return std::nullopt;
  ValueKey k;
  k.id_.assign(id);
  std::copy(secret.begin(), secret.end(), reinterpret_cast<char*>(k.secret_.data()));
  return k;
}

ValueKey::~ValueKey() { OPENSSL_cleanse(secret_.data(), secret_.size()); }

std::string_view openResultName(OpenResult r) {
  switch (r) {
    case OpenResult::Ok:
      return "ok";
    case OpenResult::NotEnvelope:
      return "plaintext";
    case OpenResult::Malformed:
      return "malformed";
    case OpenResult::UnknownKey:
      return "unknown_key";
    case OpenResult::Tampered:
      return "tampered";
  }
  return "unknown";
}

std::optional<std::string> ValueKeyring::seal(std::string_view plaintext, std::string_view ad,
                                              const ValueNonce& nonce) const {
  if (keys_.empty() || plaintext.size() > kMaxSealedValue) return std::nullopt;
  const ValueKey& key = keys_.front();
  EVP_CIPHER_CTX* ctx = cipherContext();
  if (ctx == nullptr || aes256gcm() == nullptr) return std::nullopt;
  std::string sealed(kValueNonceBytes + plaintext.size() + kValueTagBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(sealed.data());
  std::copy(nonce.begin(), nonce.end(), out);
  int n = 0;
  int fin = 0;
  if (EVP_EncryptInit_ex(ctx, aes256gcm(), nullptr, key.secret(), nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx, nullptr, &n, bytes(ad), static_cast<int>(ad.size())) != 1 ||
      EVP_EncryptUpdate(ctx, out + kValueNonceBytes, &n, bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx, out + kValueNonceBytes + n, &fin) != 1 ||
      static_cast<size_t>(n + fin) != plaintext.size() ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kValueTagBytes,
                          out + kValueNonceBytes + plaintext.size()) != 1) {
    return std::nullopt;
  }
  std::string envelope(kEnvelopePrefix);
  envelope.append(key.id());
  envelope.push_back('.');
  envelope.append(base64UrlEncode(sealed));
  return envelope;
}

OpenResult ValueKeyring::open(std::string_view stored, std::string_view ad,
                              std::string& plaintext) const {
  plaintext.clear();
  EnvelopeParts parts;
  switch (parseEnvelope(stored, parts)) {
    case EnvelopeParse::Ok:
      break;
    case EnvelopeParse::NotEnvelope:
      return OpenResult::NotEnvelope;
    case EnvelopeParse::Malformed:
      return OpenResult::Malformed;
  }
  const auto key = std::find_if(keys_.begin(), keys_.end(),
                                [&](const ValueKey& k) { return k.id() == parts.key_id; });
  if (key == keys_.end()) return OpenResult::UnknownKey;
  EVP_CIPHER_CTX* ctx = cipherContext();
  if (ctx == nullptr || aes256gcm() == nullptr) return OpenResult::Tampered;
  const auto* in = reinterpret_cast<const unsigned char*>(parts.sealed.data());
  const size_t len = parts.sealed.size() - kValueNonceBytes - kValueTagBytes;
  plaintext.resize(len);
  auto* out = reinterpret_cast<unsigned char*>(plaintext.data());
  int n = 0;
  int fin = 0;
  // The tag is set before the data: GCM checks it at Final, and nothing is returned unless it
  // verifies (the buffer is cleared on failure).
  std::array<unsigned char, kValueTagBytes> tag{};
  std::copy(in + kValueNonceBytes + len, in + kValueNonceBytes + len + kValueTagBytes, tag.begin());
  const bool ok =
      EVP_DecryptInit_ex(ctx, aes256gcm(), nullptr, key->secret(), in) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kValueTagBytes, tag.data()) == 1 &&
      EVP_DecryptUpdate(ctx, nullptr, &n, bytes(ad), static_cast<int>(ad.size())) == 1 &&
      EVP_DecryptUpdate(ctx, out, &n, in + kValueNonceBytes, static_cast<int>(len)) == 1 &&
      EVP_DecryptFinal_ex(ctx, out + n, &fin) == 1 && static_cast<size_t>(n + fin) == len;
  if (!ok) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    plaintext.clear();
    return OpenResult::Tampered;
  }
  return OpenResult::Ok;
}

}  // namespace kw::policy
