// Fuzzes the value envelope (policy/value_cipher.h). Raw text: parsing and opening never crash,
// a parsed envelope is well formed, and nothing opens that no key sealed. Round trip: a value
// sealed from the input opens under its own key name and field only, and any one changed byte of
// its envelope makes it fail to open.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "policy/value_cipher.h"

namespace {

using kw::policy::EnvelopeParse;
using kw::policy::EnvelopeParts;
using kw::policy::OpenResult;
using kw::policy::ValueKey;
using kw::policy::ValueKeyring;

const ValueKeyring& ring() {
  static const ValueKeyring r({*ValueKey::make("v2", std::string(32, '\x02')),
                               *ValueKey::make("v1", std::string(32, '\x01'))});
  return r;
}

// Splits at the first NUL: (head, rest); rest empty when there is none.
std::pair<std::string_view, std::string_view> cut(std::string_view s) {
  const size_t at = s.find('\0');
  if (at == std::string_view::npos) return {s, {}};
  return {s.substr(0, at), s.substr(at + 1)};
}

void rawText(std::string_view in) {
  const auto [text, ad] = cut(in);
  EnvelopeParts parts;
  if (kw::policy::parseEnvelope(text, parts) == EnvelopeParse::Ok) {
    KW_FUZZ_CHECK(kw::policy::isValidValueKeyId(parts.key_id));
    KW_FUZZ_CHECK(parts.sealed.size() >= kw::policy::kValueNonceBytes + kw::policy::kValueTagBytes);
  }
  std::string plain;
  const OpenResult r = ring().open(text, ad, plain);
  // Forging a GCM tag is what the fuzzer cannot do: nothing opens.
  KW_FUZZ_CHECK(r != OpenResult::Ok);
  KW_FUZZ_CHECK(plain.empty());
}

void roundTrip(std::string_view in) {
  auto [value, rest] = cut(in);
  auto [key, rest2] = cut(rest);
  auto [field, tail] = cut(rest2);
  const bool hash = !rest2.empty();
  const std::string ad =
      hash ? kw::policy::valueAssociatedData(key, field) : kw::policy::valueAssociatedData(key);
  kw::policy::ValueNonce nonce{};
  for (size_t i = 0; i < nonce.size() && i < tail.size(); ++i)
    nonce[i] = static_cast<uint8_t>(tail[i]);
  const auto env = ring().seal(value, ad, nonce);
  KW_FUZZ_CHECK(env.has_value());
  KW_FUZZ_CHECK(env->starts_with("kw1.v2."));
  std::string plain;
  KW_FUZZ_CHECK(ring().open(*env, ad, plain) == OpenResult::Ok);
  KW_FUZZ_CHECK(plain == value);
  // Another key name, or the same name as the other kind (string vs hash field).
  const std::string other_key = kw::policy::valueAssociatedData(std::string(key) + "x");
  KW_FUZZ_CHECK(ring().open(*env, other_key, plain) != OpenResult::Ok);
  const std::string other_kind =
      hash ? kw::policy::valueAssociatedData(key) : kw::policy::valueAssociatedData(key, "");
  KW_FUZZ_CHECK(ring().open(*env, other_kind, plain) != OpenResult::Ok);
  KW_FUZZ_CHECK(plain.empty());
  // One changed byte anywhere (position and change from the input).
  if (tail.size() > nonce.size() + 1) {
    std::string bad = *env;
    const size_t at = static_cast<uint8_t>(tail[nonce.size()]) * 256u +
                      static_cast<uint8_t>(tail[nonce.size() + 1]);
    const char delta = tail.size() > nonce.size() + 2 ? tail[nonce.size() + 2] : 1;
    bad[at % bad.size()] = static_cast<char>(bad[at % bad.size()] ^ (delta == 0 ? 1 : delta));
    KW_FUZZ_CHECK(ring().open(bad, ad, plain) != OpenResult::Ok);
    KW_FUZZ_CHECK(plain.empty());
  }
}

}  // namespace

// Input: mode byte, then for mode 0 (raw): text '\0' associated-data; for mode 1 (round trip):
// value '\0' key ['\0' field '\0'] nonce-bytes change-position(2) change-xor.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    rawText(in);
  } else {
    roundTrip(in);
  }
  return 0;
}
