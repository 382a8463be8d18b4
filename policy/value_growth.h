// Commands that make Redis allocate a string as long as an offset they name: SETRANGE, SETBIT,
// and BITFIELD's SET and INCRBY. A request of 60 bytes could make the shared Redis allocate
// 512 MiB (attack round 15: two of them took its memory from 15 MB to 1.26 GB), where writing a
// value costs its bytes. So the size a command would grow its value to is bounded like a value
// sent whole: by listen.max_body_bytes (ClientSpec::max_grown_value_bytes).
#pragma once

#include <cstdint>

#include "policy/decision.h"
#include "policy/key_extract.h"

namespace kw::policy {

// Allow when `cmd` grows no value past `max_bytes` (or is none of these commands); Deny
// ValueTooLarge at the offset's argument otherwise, and SyntaxError at an offset or BITFIELD
// type that is not plain decimal as Redis reads it (read differently here, it could grow more
// than it seems, so it is not passed on).
Decision checkValueGrowth(Argv argv, const CommandInfo& cmd, uint64_t max_bytes);

// The bytes `cmd` may grow a value to (the largest over a BITFIELD's writes; 0 for other
// commands and for offsets checkValueGrowth refuses). One request's commands together are held
// to the same bound by the router (attack round 16: a /pipeline of 200 SETRANGEs, each within
// it, made 250 MB from 7.9 KB).
uint64_t valueGrowth(Argv argv, const CommandInfo& cmd);

// SRANDMEMBER, HRANDFIELD and ZRANDMEMBER with a negative count return that many elements
// (repeats allowed) whatever the key holds: -10,000,000 on a 3-member set made Redis build
// 210 MB for 1.5 s before upstream.max_reply_elements dropped the reply (attack round 16). Deny
// ReplyTooLarge at the count when the reply would hold more than `max_elements` values (twice
// the count WITHVALUES / WITHSCORES), SyntaxError when the count is not plain decimal.
Decision checkRandomCount(Argv argv, const CommandInfo& cmd, uint64_t max_elements);

}  // namespace kw::policy
