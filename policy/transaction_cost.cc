// countInTransaction: see the header.
#include "policy/transaction_cost.h"

#include "policy/command_table.h"

namespace kw::policy {

Decision countInTransaction(TransactionCost& cost, std::span<const std::string_view> forwarded,
                            const CommandInfo* command) {
  // Redis runs the whole transaction before any other tenant's command: pacing, which
  // interleaves them, cannot split it (attack round 21: 100 XPENDING IDLE held Redis 11 s).
  // Scanning commands walk up to their COUNT, capped at 1000, however little they return
  // (attack round 23: 10,000 HSCAN in one /multi-exec held Redis 3.7 s). Whole-collection reads
  // are built whole before keyward reads one (attack round 25: 80 HGETALL of a 200,000-field
  // hash held Redis 10.8 s).
  // The subcommand's traits (COMMAND DOCS, XINFO CONSUMERS), not its container's.
  if (const CommandInfo* run = commandOf(forwarded); run != nullptr) command = run;
  bool costly = command != nullptr && (command->traits & (kBoundedCount | kScanLike)) != 0;
  costly = costly || (command != nullptr &&
                      (collectionRead(*command, forwarded) || dataSized(*command, forwarded)));
  // A read is also a write that returns the stored value (GETEX, LMOVE k k, XCLAIM; attack
  // round 29a: 300 GETEX of one 10 MB key held Redis 2.7 s).
  if (!costly && command != nullptr && valueRead(*command, forwarded) &&
      extract(forwarded, cost.extraction).allowed()) {
    for (const KeyRef& k : cost.extraction.keys) {
      if ((k.access & kAccessRead) == 0 || k.arg >= forwarded.size()) continue;
      if (!cost.read.emplace(forwarded[k.arg]).second) costly = true;
    }
  }
  if (costly && ++cost.costly > kMaxDataSizedInTransaction) {
    return Decision::deny(Reason::TransactionDataSized, -1, command);
  }
  return Decision::allow(command);
}

}  // namespace kw::policy
