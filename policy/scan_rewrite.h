// SCAN for key-restricted clients: check the effective MATCH, or add one (B3).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "policy/client_policy.h"
#include "policy/key_pattern.h"

namespace kw::policy {

// Rules (README, Policy semantics, "Keyspace-wide commands"):
// - options are parsed like scanGenericCommand: pairs of MATCH / COUNT / TYPE in any case, any
//   order, repeated; the LAST MATCH wins. A dangling or unknown option is a SyntaxError.
// - a client with read on "*" runs SCAN as sent.
// - otherwise the effective MATCH must lie inside one readable pattern (KeyPattern::contains:
//   the same glob text, or the pattern's literal prefix L then `*` and MATCH starting with the
//   bytes of L with no glob metacharacter among them). When the client sent several MATCH
//   options, the argv is rewritten to keep only the effective one, so an upstream that took the
//   first would still see only the checked pattern.
// - without MATCH: with exactly one readable pattern, `MATCH <pattern>` ({sub} bound) is
//   appended; with none or several, ScanDenied (the client must say which one).
// - COUNT must be a positive decimal as Redis reads it (else SyntaxError); over kMaxScanCount it
//   is lowered to it, for every client: COUNT is a hint of how much to walk per call, and Redis
//   walks that many buckets whatever MATCH filters, other tenants' keys included (attack round
//   17: SCAN 0 COUNT 1000000000 over 2,000,000 keys held Redis for 1.4 s; four in a pipeline
//   gave another tenant a 504). Fewer keys per call, the same keys over the whole iteration.
// - a MATCH with a '*' that does not end it (matchTail, policy/command_table.h): past
//   kMaxMatchTail bytes from that '*', ScanPattern (after the check above, for a key-restricted
//   client); within it, COUNT is lowered to kMaxTailMatchCount instead, and the same for a
//   pattern keyward adds.
// TYPE passes unchanged. `rewritten` stays empty when argv goes as is.
inline constexpr uint64_t kMaxScanCount = 1000;
[[nodiscard]] Decision checkScan(Argv argv, const KeyPatternSet& keys, std::string_view sub,
                                 EvalScratch& scratch, std::vector<std::string_view>& rewritten);

// The other walks (kBoundedCount): HSCAN/SSCAN/ZSCAN key cursor [MATCH p] [COUNT n] (HSCAN also
// NOVALUES) and XAUTOCLAIM key group consumer min-idle start [COUNT n] [JUSTID]. Their COUNT is
// how much Redis walks per call, whatever it returns (attack round 19: HSCAN ... COUNT 10000000
// with a MATCH that matched nothing held Redis 0.99 s over 1,000,000 fields, ZSCAN 3.35 s over
// 2,000,000 members, XAUTOCLAIM 3.06 s over a 1,000,000-entry pending list; three in a pipeline
// gave another tenant a 504): over kMaxScanCount it is lowered to it. Options are read as Redis
// reads them: pairs, or the one flag alone; a COUNT that is not a positive decimal, a dangling
// or an unknown option is a SyntaxError. The last MATCH's tail bounds COUNT as SCAN's does (the
// ScanPattern refusal, kMaxTailMatchCount). `rewritten` stays empty when argv goes as is.
[[nodiscard]] Decision boundCount(Argv argv, std::string_view command,
                                  std::vector<std::string_view>& rewritten);

}  // namespace kw::policy
