// Dedicated key parsers that mirror the Redis implementation where key specs fall short.
#pragma once

#include "policy/command_meta.h"
#include "policy/key_extract.h"

namespace kw::policy::parsers {

// Each appends to `out` and returns Allow, or a Deny with the argv index at fault.
Decision specs(Argv argv, const CommandInfo& cmd, Extraction& out);  // the generic engine
Decision sort(Argv argv, const CommandInfo& cmd, Extraction& out, bool read_only);
Decision georadius(Argv argv, const CommandInfo& cmd, Extraction& out);
Decision xread(Argv argv, const CommandInfo& cmd, Extraction& out, bool group);
Decision migrate(Argv argv, const CommandInfo& cmd, Extraction& out);
Decision copy(Argv argv, const CommandInfo& cmd, Extraction& out);

// Case-insensitive ASCII comparison with a lower-case literal.
bool is(std::string_view arg, std::string_view lower_literal);
// Canonical non-negative decimal (no sign, no leading zeros), at most 9 digits.
bool parseCount(std::string_view s, uint32_t& out);

}  // namespace kw::policy::parsers
