// Value encryption between the router and the upstreams (README, Value encryption). The router
// seals a request's values before any upstream sees them; each upstream opens its replies with
// openReplies before encoding them for the client, so both upstream kinds answer alike.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/value_cipher.h"
#include "policy/value_rules.h"
#include "proxy/codec/resp_value.h"

namespace kw::proxy {

// The answer for a command whose reply held a value that did not open (CONTRACT: never
// ciphertext, never partial plaintext).
inline constexpr std::string_view kValueOpenError =
    "ERR value under an encrypted pattern could not be decrypted";

// What to open in one forwarded command's reply; self-contained (the request is gone by then).
struct ReplyOpen {
  policy::ReplyValues kind = policy::ReplyValues::None;
  std::string ad;   // Whole: the value's associated data
  std::string key;  // FieldValuePairs / PairValuesOnly: the hash (each field is in the reply)
  std::vector<std::pair<uint32_t, std::string>> elements;  // Elements: (reply index, ad)
};

// How replies are opened: the snapshot's keys and encryption.plaintext.
struct ValueOpener {
  const policy::ValueKeyring* ring = nullptr;
  bool pass_plaintext = false;
};

// keyward_encryption_{encrypted,decrypted,failures}_total: values sealed, values opened, and
// command replies answered kValueOpenError.
struct ValueCryptStats {
  std::atomic<uint64_t> encrypted{0};
  std::atomic<uint64_t> decrypted{0};
  std::atomic<uint64_t> failures{0};
};
ValueCryptStats& valueCryptStats();

// `argv` with the values `work` names replaced by envelopes under the ring's first key (fresh
// CSPRNG nonce each), into `forward` (views into `views` and `owned`). False when a value could
// not be sealed (no key, no randomness): the command must not be sent.
[[nodiscard]] bool sealValues(const policy::ValueWork& work, policy::Argv argv,
                              const policy::ValueKeyring& ring, std::list<std::string>& owned,
                              std::list<std::vector<std::string_view>>& views,
                              policy::Argv& forward);

// The reply side of `work` for `argv` (the command as the client sent it).
[[nodiscard]] ReplyOpen replyOpen(const policy::ValueWork& work, policy::Argv argv);

// Opens replies[i] as opens[i] says (same length; an empty `opens` opens nothing). Plaintext goes
// into `store` (its elements never move). A reply with a value that does not open, or that is
// not shaped as its command's reply, becomes the kValueOpenError error. Returns the indexes of
// the replies changed (resp2 bodies re-serialise those).
std::vector<size_t> openReplies(std::span<codec::RespValue> replies,
                                std::span<const ReplyOpen> opens, const ValueOpener& opener,
                                std::list<std::string>& store);

}  // namespace kw::proxy
