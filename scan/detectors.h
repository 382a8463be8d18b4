// The leak detectors of `keyward scan` (README, Leak scanning): what a leaked credential looks
// like, tested at one position of a text. Pure functions, no I/O; LeakScanner finds the
// positions worth testing and streams files through them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kw::scan {

enum class FindingKind : uint8_t {
  UpstashToken,     // an Upstash REST token, recognised by its shape
  UpstashVariable,  // a value assigned to UPSTASH_..._TOKEN / KV_REST_API_..._TOKEN
  RedisUrl,         // redis:// or rediss:// carrying a password
  KeywardKey,       // a keyward static API key (kw_ + 43 base64url characters)
  Jwt,              // a compact signed JWT
  PublicVariable,   // a secret behind NEXT_PUBLIC_ / VITE_ / PUBLIC_ / REACT_APP_ / EXPO_PUBLIC_
};
inline constexpr FindingKind kAllKinds[] = {FindingKind::UpstashToken, FindingKind::UpstashVariable,
                                            FindingKind::RedisUrl,     FindingKind::KeywardKey,
                                            FindingKind::Jwt,          FindingKind::PublicVariable};

// "upstash-token", "redis-url", ... (the text, JSON and SARIF rule id).
std::string_view kindName(FindingKind kind);
// One sentence: what was found and why it must not ship.
std::string_view kindDescription(FindingKind kind);

// The longest text one match reads, from the position it was tested at: a JWT of
// policy::kMaxTokenBytes behind a 128-byte variable name and its separator. A streaming scan
// keeps at least this much after each position it tests.
inline constexpr size_t kMaxMatchSpan = 8 * 1024 + 512;

struct Match {
  FindingKind kind = FindingKind::Jwt;
  size_t begin = 0;  // the secret: [begin, end) of the text
  size_t end = 0;
  size_t name_begin = 0;  // the variable it was assigned to, when there is one
  size_t name_end = 0;
  [[nodiscard]] bool hasName() const { return name_end > name_begin; }
};

// A credential that starts at `text[at]`. The text's end counts as a boundary (the caller
// passes at least kMaxMatchSpan bytes after `at` unless the input ends sooner); the byte before
// `at`, when there is one, must not continue the credential (a token inside a longer base64 run
// is not a token). Tried in turn: keyward key, JWT, Redis URL, Upstash token, then a sensitive
// variable assignment (NAME=value, NAME: value, "NAME": "value", ...), whose value is reported
// as one of the shapes when it is one.
[[nodiscard]] std::optional<Match> matchAt(std::string_view text, size_t at);

// A value that could be a credential: at least 12 bytes, no whitespace, not a URL, not a
// placeholder, and varied enough (entropy) to not be a word.
[[nodiscard]] bool looksLikeSecret(std::string_view value);

// A value a variable named as a credential (..._TOKEN, ..._PASSWORD) could hold: at least 8
// bytes, no whitespace, not a URL, not a placeholder, not another variable's name (upper case,
// digits and _ only). Entropy is not asked for.
[[nodiscard]] bool looksLikeValue(std::string_view value);

// "your_token_here", "<password>", "${REDIS_PASSWORD}", "xxxx", "changeme", ...: text that
// stands in for a secret in docs and examples.
[[nodiscard]] bool isPlaceholder(std::string_view value);

}  // namespace kw::scan
