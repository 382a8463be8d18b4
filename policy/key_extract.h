// Finds every key (with its access), channel, consumer group and script a command touches.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "policy/command_table.h"
#include "policy/decision.h"

namespace kw::policy {

using Argv = std::span<const std::string_view>;

// Access a key needs. kAccessNone: flag-less key spec (EXISTS, TYPE...): any pattern that
// matches the key at all suffices (Redis 7 semantics, docs/redis-acl-notes.md 1.3).
enum Access : uint8_t { kAccessNone = 0, kAccessRead = 1, kAccessWrite = 2, kAccessReadWrite = 3 };

struct KeyRef {
  uint32_t arg;  // argv index
  uint8_t access;
};
struct ChannelRef {
  uint32_t arg;
  bool pattern;  // PSUBSCRIBE-style pattern (must lie inside an allowed channel pattern)
};
enum class ScriptRef : uint8_t { None, Body, Sha, Function };

struct Extraction {
  const CommandInfo* command = nullptr;  // resolved executable unit (subcommand if any)
  std::vector<KeyRef> keys;
  std::vector<ChannelRef> channels;
  std::vector<uint32_t> groups;  // argv indexes of consumer-group names
  ScriptRef script = ScriptRef::None;
  int32_t script_arg = -1;           // EVAL body, EVALSHA sha, SCRIPT LOAD body, FCALL name
  int32_t db_arg = -1;               // argv index of a database number (SELECT, MOVE, COPY DB..)
  bool sort_reads_external = false;  // SORT BY <pattern with *> or any GET: needs read on "*"
  int32_t sort_external_arg = -1;
  bool all_channels = false;  // PUBSUB CHANNELS (no pattern), NUMPAT: every channel

  void clear();  // keeps capacity: reuse one Extraction per connection
};

// Hard bounds applied before any parsing (every size from the network is bounded).
inline constexpr size_t kMaxArgs = 1u << 20;

// Resolves argv[0] (and the subcommand) and fills `out`. Returns Allow when extraction is
// complete, else a Deny naming the reason (UnknownCommand, UnknownSubcommand, ArityError,
// SyntaxError, TooLarge, EmptyCommand) and the argv index at fault. Parsers mirror the Redis
// implementation (last-wins options), not the key specs, where the two differ.
Decision extract(Argv argv, Extraction& out);

}  // namespace kw::policy
