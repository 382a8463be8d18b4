// Classifies channels and channel patterns against Redis's keyspace-notification channels.
#include "policy/notification_channels.h"

namespace kw::policy {

namespace {

bool startsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// notify.c builds the names with "%d" of the db id: only "0__:" is database 0.
NotificationReach literalReach(std::string_view ch) {
  using K = NotificationReach::Kind;
  const bool space = startsWith(ch, kKeyspacePrefix);
  if (!space && !startsWith(ch, kKeyeventPrefix)) return {};
  const std::string_view rest = ch.substr(kKeyspacePrefix.size());
  if (!startsWith(rest, "0__:")) return {K::OtherDb, {}};
  if (space) return {K::KeyspaceKey, ch.substr(kKeyspaceDb0.size())};
  return {K::Everything, {}};
}

}  // namespace

NotificationReach notificationReach(std::string_view channel, bool pattern, Glob& scratch) {
  using K = NotificationReach::Kind;
  if (!pattern) return literalReach(channel);
  // A head of 15 plain bytes `__keyspace@0__:` is matched byte for byte (no metacharacter in
  // it), so the pattern matches `__keyspace@0__:X` exactly when the rest matches X.
  if (startsWith(channel, kKeyspaceDb0))
    return {K::KeyspaceKeys, channel.substr(kKeyspaceDb0.size())};
  scratch.assign(channel);
  if (scratch.canMatchStartingWith(kKeyspacePrefix) ||
      scratch.canMatchStartingWith(kKeyeventPrefix)) {
    return {K::Everything, {}};
  }
  return {};
}

}  // namespace kw::policy
