// Which keyspace-notification channels a pub/sub channel or pattern can reach (README, Policy
// semantics). Redis publishes `__keyspace@<db>__:<key>` (payload: the event) and
// `__keyevent@<db>__:<event>` (payload: the key), so both carry key names of every tenant.
#pragma once

#include <cstdint>
#include <string_view>

#include "policy/glob.h"

namespace kw::policy {

inline constexpr std::string_view kKeyspacePrefix = "__keyspace@";
inline constexpr std::string_view kKeyeventPrefix = "__keyevent@";
inline constexpr std::string_view kKeyspaceDb0 = "__keyspace@0__:";

struct NotificationReach {
  enum class Kind : uint8_t {
    None,          // reaches no notification channel
    KeyspaceKey,   // exactly `__keyspace@0__:<key>`: names only `key` (literal)
    KeyspaceKeys,  // a pattern `__keyspace@0__:<glob>` (literal head): names keys matching `key`
    Everything,    // may name any key: a keyevent channel, or a pattern that can reach either kind
    OtherDb,       // a literal notification channel of a database other than 0
  };
  Kind kind = Kind::None;
  std::string_view key;  // KeyspaceKey: the key; KeyspaceKeys: the key glob (views the input)
};

// `pattern`: `channel` is a PSUBSCRIBE / PUBSUB CHANNELS glob, matched against channel names.
// Conservative: a pattern that can match any string starting with one of the two prefixes and is
// not provably confined to `__keyspace@0__:<glob>` is Everything. `scratch` is reused.
NotificationReach notificationReach(std::string_view channel, bool pattern, Glob& scratch);

}  // namespace kw::policy
