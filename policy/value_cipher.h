// Value encryption (README, Value encryption): the stored form of a value under an encrypted key
// pattern, `kw1.<key id>.<base64url(nonce || ciphertext || tag)>`, sealed with AES-256-GCM.
// Pure: the caller supplies the nonce (proxy/ draws it from the CSPRNG), so sealing is
// deterministic here and table-testable.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kw::policy {

inline constexpr size_t kValueKeyBytes = 32;
inline constexpr size_t kValueNonceBytes = 12;
inline constexpr size_t kValueTagBytes = 16;
inline constexpr size_t kMaxValueKeyId = 32;
inline constexpr size_t kMaxValueKeys = 64;
inline constexpr std::string_view kEnvelopePrefix = "kw1.";
// A value (plaintext) keyward seals or opens: Redis's own bulk limit.
inline constexpr size_t kMaxSealedValue = size_t{512} << 20;

using ValueNonce = std::array<uint8_t, kValueNonceBytes>;

// `[A-Za-z0-9_-]{1,32}`: no '.', so an envelope splits one way only.
[[nodiscard]] bool isValidValueKeyId(std::string_view id);

// What binds a value to where it is stored: the key name, and for a hash value its field, each
// length-prefixed so that no two (key, field) pairs, nor a string key and a hash field, share
// one encoding.
[[nodiscard]] std::string valueAssociatedData(std::string_view key);
[[nodiscard]] std::string valueAssociatedData(std::string_view key, std::string_view field);

// An envelope split into its parts, with the sealed bytes decoded.
struct EnvelopeParts {
  std::string_view key_id;
  std::string sealed;  // nonce || ciphertext || tag
};
enum class EnvelopeParse : uint8_t {
  Ok,
  NotEnvelope,  // does not start with "kw1.": plaintext as far as keyward can tell
  Malformed,    // starts like one but is not one (bad id, bad base64url, too short)
};
[[nodiscard]] EnvelopeParse parseEnvelope(std::string_view text, EnvelopeParts& out);

// One value key. The secret is wiped when the key is destroyed.
class ValueKey {
 public:
  // `secret` must be kValueKeyBytes long and `id` valid (nullopt otherwise).
  static std::optional<ValueKey> make(std::string_view id, std::string_view secret);
  ValueKey(const ValueKey&) = default;
  ValueKey& operator=(const ValueKey&) = default;
  ValueKey(ValueKey&&) = default;
  ValueKey& operator=(ValueKey&&) = default;
  ~ValueKey();
  [[nodiscard]] const std::string& id() const { return id_; }
  [[nodiscard]] const uint8_t* secret() const { return secret_.data(); }

 private:
  ValueKey() = default;
  std::string id_;
  std::array<uint8_t, kValueKeyBytes> secret_{};
};

enum class OpenResult : uint8_t {
  Ok,
  NotEnvelope,  // plaintext (the caller applies `plaintext: refuse|pass`)
  Malformed,
  UnknownKey,
  Tampered,  // the tag does not verify: changed bytes, or moved to another key or field
};
[[nodiscard]] std::string_view openResultName(OpenResult r);

// The keys of `encryption.keys`, in order: the first seals, every one opens.
class ValueKeyring {
 public:
  ValueKeyring() = default;
  explicit ValueKeyring(std::vector<ValueKey> keys) : keys_(std::move(keys)) {}
  [[nodiscard]] bool empty() const { return keys_.empty(); }
  [[nodiscard]] const std::vector<ValueKey>& keys() const { return keys_; }
  // The envelope of `plaintext` under the first key, or nullopt when there is no key, the value is
  // over kMaxSealedValue or the cipher fails.
  [[nodiscard]] std::optional<std::string> seal(std::string_view plaintext, std::string_view ad,
                                                const ValueNonce& nonce) const;
  // Opens `stored` into `plaintext` (cleared first; untouched content on failure is never
  // partial: it is cleared again).
  [[nodiscard]] OpenResult open(std::string_view stored, std::string_view ad,
                                std::string& plaintext) const;

 private:
  std::vector<ValueKey> keys_;
};

}  // namespace kw::policy
