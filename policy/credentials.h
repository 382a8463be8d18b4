// Static API key credentials: SHA-256 references, format checks, constant-time comparison.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kw::policy {

using Sha256 = std::array<uint8_t, 32>;

inline constexpr std::string_view kApiKeyPrefix = "kw_";
inline constexpr size_t kApiKeyBodyChars = 43;  // base64url of 32 bytes, no padding
inline constexpr size_t kApiKeyChars = 3 + kApiKeyBodyChars;

Sha256 sha256(std::string_view text);
// Lowercase hex of the SHA-256 of `text` (64 characters).
std::string sha256Hex(std::string_view text);
std::string toHex(const Sha256& digest);
// "sha256:<64 lowercase hex>" -> digest; nullopt for anything else (uppercase hex refused).
std::optional<Sha256> parseSha256Ref(std::string_view ref);
// Constant time in the length of the inputs (lengths themselves are not secret).
bool constantTimeEquals(std::string_view a, std::string_view b);
// kw_ + exactly 43 base64url characters whose last one carries no stray bits.
bool isWellFormedApiKey(std::string_view key);

// The only jti a token may carry (^[A-Za-z0-9._:-]{1,128}$): a token with any other jti is
// refused at verification, so every jti that passes can be written to the revocation file, sent
// to /v1/tokens/revoke and minted with --jti, and reads back byte for byte (no '#', no spaces,
// nothing a line-based file trims or skips).
inline constexpr size_t kMaxJtiChars = 128;
bool isSafeJti(std::string_view jti);

}  // namespace kw::policy
