// Which values a command writes or reads under encrypted key patterns, and which commands may
// not touch such keys at all (README, Value encryption). Pure: it names argv and reply positions;
// proxy/ seals and opens.
#pragma once

#include <cstdint>
#include <vector>

#include "policy/decision.h"
#include "policy/key_extract.h"
#include "policy/key_pattern.h"

namespace kw::policy {

// A value and where it is stored: `arg` is the argv index of a value to seal, or the reply-array
// index of a value to open; the key and (hash values) the field are argv indexes.
struct ValueSlot {
  uint32_t arg = 0;
  uint32_t key_arg = 0;
  int32_t field_arg = -1;  // -1: a string value
};

enum class ReplyValues : uint8_t {
  None,
  Whole,            // the reply itself is the value at `whole`
  Elements,         // reply[open[i].arg] is the value at open[i] (MGET, HMGET)
  FieldValuePairs,  // [field, value, ...] of the hash at `whole.key_arg` (HGETALL, HRANDFIELD)
  PairValuesOnly,   // HVALS: sent as HGETALL, the client gets the values alone
};

struct ValueWork {
  std::vector<ValueSlot> seal;
  ReplyValues reply = ReplyValues::None;
  ValueSlot whole;              // Whole (arg unused), FieldValuePairs / PairValuesOnly (key)
  std::vector<ValueSlot> open;  // Elements
  [[nodiscard]] bool empty() const { return seal.empty() && reply == ReplyValues::None; }
  void clear() {
    seal.clear();
    open.clear();
    reply = ReplyValues::None;
    whole = {};
  }
};

// Allow when the command may run (filling `work` with what to seal and open; empty when it
// touches no encrypted key), else Deny ValueEncrypted at the first encrypted key it would read or
// change otherwise than the covered commands do. `encrypted` holds encryption.patterns; `ex` is
// the command's extraction.
[[nodiscard]] Decision valueDecision(Argv argv, const Extraction& ex,
                                     const KeyPatternSet& encrypted, PatternScratch& scratch,
                                     ValueWork& work);

}  // namespace kw::policy
