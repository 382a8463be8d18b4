// A client's `commands` rules (Redis ACL syntax) compiled into a bitset over command ids.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/result.h"

namespace kw::policy {

inline constexpr size_t kMaxCommandRules = 4096;

// Rules apply left to right, as ACL SETUSER does:
//   +@cat / -@cat      every executable unit (command or subcommand) in the category;
//                      +@all / allcommands and -@all / nocommands too.
//   +cmd / -cmd        one command; for a container (CONFIG, CLIENT, ...) all its subcommands.
//   +cmd|sub / -cmd|sub one real subcommand.
// keyward differs from Redis in one way (README, Policy semantics): a @dangerous unit is granted
// only when named one by one. So `+@all` or `+@keyspace` never grant FLUSHALL or KEYS, and
// `+@dangerous` is rejected as a rule that could grant nothing. For containers we take the safe
// reading:
// `+config` grants CONFIG's non-dangerous subcommands only (CONFIG HELP); each dangerous one needs
// its own `+config|set`. `-` rules remove dangerous units like any other. SCRIPT FLUSH/KILL and
// FUNCTION LOAD/DELETE/FLUSH/RESTORE (shared state, README, Policy semantics) are treated as
// @dangerous. Names are case-insensitive. Unknown commands, subcommands and categories, Redis's
// legacy first-argument rules (`+select|0`), and `cmd|sub|arg` are errors, so a typo cannot
// silently grant less (or more) than intended.
class CommandRules {
 public:
  // `field` names the config field in errors: "commands[3]: unknown command 'gett'".
  static Result<CommandRules> compile(std::span<const std::string> rules,
                                      std::string_view field = "commands");

  // The index of the rule that last set or cleared command `id` (-1: none did, so it is not
  // granted), for explanations. `rules` must be ones compile() accepts.
  static int32_t decidingRule(std::span<const std::string> rules, uint16_t id);
  // Would a category rule have granted `id` were it not @dangerous (granted only when named)?
  static bool isNamedOnly(uint16_t id);

  bool allows(uint16_t id) const {
    const size_t w = id >> 6;
    return w < bits_.size() && ((bits_[w] >> (id & 63)) & 1) != 0;
  }
  size_t grantedCount() const;

 private:
  static Result<CommandRules> compileTracking(std::span<const std::string> rules,
                                              std::string_view field, uint32_t track);
  void set(uint16_t id, bool on);
  std::vector<uint64_t> bits_;
  uint32_t track_ = UINT32_MAX;  // decidingRule's command id
  size_t rule_ = 0;              // the rule being applied
  int32_t tracked_rule_ = -1;
};

}  // namespace kw::policy
