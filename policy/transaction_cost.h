// What a /multi-exec may hold: Redis runs it whole, so pacing cannot split it.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>

#include "policy/decision.h"
#include "policy/key_extract.h"

namespace kw::policy {

// The costly commands of one transaction so far. Costly: a data-sized, scanning (SCAN, HSCAN,
// SSCAN, ZSCAN) or whole-collection (collectionRead) command, and a read (valueRead: @read, or a
// write that returns the stored value, as GETEX, LMOVE and the pops do) of a key an earlier read
// of the transaction named: Redis builds the whole EXEC reply before keyward reads
// a byte of it, so one large value read 400 times is 400 copies (attack round 27: 8,000 bytes of
// GETs of one 9 MiB value held Redis 16.5 s and took it to 3.6 GB). A key read again after a
// write (GET k, INCR k, GET k) counts the same: once.
struct TransactionCost {
  size_t costly = 0;
  std::unordered_set<std::string> read;  // keys read so far
  Extraction extraction;                 // scratch
};

// `forwarded` is an allowed command of a /multi-exec as it will be sent. Allow (and count), or
// TransactionDataSized for the one past kMaxDataSizedInTransaction.
[[nodiscard]] Decision countInTransaction(TransactionCost& cost,
                                          std::span<const std::string_view> forwarded,
                                          const CommandInfo* command);

}  // namespace kw::policy
