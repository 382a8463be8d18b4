// Key-spec metadata behind the command table (internal to policy/: extraction uses it).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "policy/command_table.h"

namespace kw::policy {

enum class BeginSearch : uint8_t { Index, Keyword, Unknown };
enum class FindKeys : uint8_t { Range, Keynum, Unknown };

// One Redis 7 key spec (docs/redis-acl-notes.md 2.1), `access` already mapped to kAccess* bits.
struct KeySpec {
  BeginSearch begin;
  int16_t index;             // Index: argv position of the first key
  std::string_view keyword;  // Keyword: token that precedes the keys
  int16_t startfrom;         // Keyword: where the search starts (< 0 counts from the end)
  FindKeys find;
  int16_t a;  // Range: lastkey   Keynum: keynumidx
  int16_t b;  // Range: keystep   Keynum: firstkey
  int16_t c;  // Range: limit     Keynum: keystep
  uint8_t access;
};

// Which extractor runs: the generic key-spec engine, or a parser that mirrors the Redis
// implementation where the spec is incomplete, variable or wrong (B1/B2).
enum class KeyParser : uint8_t {
  Specs,
  Sort,
  SortRo,
  Georadius,
  Xread,
  Xreadgroup,
  Migrate,
  Set,
  Bitfield,
  Zadd,
  Xclaim,
  Xautoclaim,
  Eval,
  Evalsha,
  Fcall,
  ScriptLoad,
  Publish,
  Subscribe,
  Psubscribe,
  Copy,
  Select,
  Move,
  Swapdb,
  PubsubNumsub,
  PubsubChannels,
  None,
};

struct CommandMeta {
  KeyParser parser;
  uint8_t group_arg;  // argv index of a consumer-group name, 0 when none
  uint16_t spec_begin;
  uint16_t spec_count;
};

const CommandMeta& commandMeta(const CommandInfo& cmd);
std::span<const KeySpec> keySpecs(const CommandInfo& cmd);

}  // namespace kw::policy
