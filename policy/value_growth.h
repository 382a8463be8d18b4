// What one command can make Redis do that its arguments show, bounded before it is sent: values
// grown by offsets, negative RAND* counts, keys read more than once.
//
// Commands that make Redis allocate a string as long as an offset they name: SETRANGE, SETBIT,
// and BITFIELD's SET and INCRBY. A request of 60 bytes could make the shared Redis allocate
// 512 MiB (attack round 15: two of them took its memory from 15 MB to 1.26 GB), where writing a
// value costs its bytes. So the size a command would grow its value to is bounded like a value
// sent whole: by listen.max_body_bytes (ClientSpec::max_grown_value_bytes).
#pragma once

#include <cstdint>
#include <vector>

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

// The request-wide rule on valueGrowth, one allowed command at a time: `grown` sums what the
// request's commands so far may grow values to. Allow (and add), or ValueTooLarge when the sum
// would pass `max_bytes`. The router and the policy tools both decide by it.
Decision countGrowth(uint64_t& grown, Argv argv, const CommandInfo& cmd, uint64_t max_bytes);

// SRANDMEMBER, HRANDFIELD and ZRANDMEMBER with a negative count return that many elements
// (repeats allowed) whatever the key holds: -10,000,000 on a 3-member set made Redis build
// 210 MB for 1.5 s before upstream.max_reply_elements dropped the reply (attack round 16). Deny
// ReplyTooLarge at the count when the reply would hold more than `max_elements` values (twice
// the count WITHVALUES / WITHSCORES), SyntaxError when the count is not plain decimal, and
// RepeatedPicks below -kMaxRandomRepeats: a negative count may return one large element that
// many times (attack round 29a).
Decision checkRandomCount(Argv argv, const CommandInfo& cmd, uint64_t max_elements);

// A key that a command only reads (MGET, BITOP's sources, SUNION/SINTER/SDIFF and their STORE
// forms, ZUNION/ZINTER/ZDIFF, SINTERCARD, PFMERGE's sources, EXISTS, XREAD STREAMS...) named
// more than once: each naming costs Redis a pass over the value, or a copy of it into the
// reply, so one key repeated multiplies the cost by the body's length, not by the data stored
// (attack round 17: BITOP OR with a 100 MB key named 60 times, 686 bytes, held Redis 6.9 s;
// MGET of it named 20 times took Redis from 303 MB to 2.16 GB). Deny RepeatedKey at the
// second naming. Keys also written (LMOVE k k, SMOVE, RENAME) are not counted. The same for
// the fields of a kFieldReads command (HMGET k f f ...: each naming copies the value into the
// reply; attack round 26: an 8 MiB value named 300 times held Redis 16.5 s and 2.36 GB): Deny
// RepeatedField. And the entry IDs of a kEntryReads command (XCLAIM: each naming claims and
// copies the entry again; attack round 29a: one 100 KB entry named 10,000 times took Redis
// 955 MB up): RepeatedEntry, or SyntaxError at an ID not in canonical form. `slots` is scratch
// (EvalScratch::trim lets go of a large one).
Decision checkRepeatedReads(Argv argv, const Extraction& ex, const CommandInfo& cmd,
                            std::vector<uint32_t>& slots);

}  // namespace kw::policy
