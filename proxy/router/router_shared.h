// RouterShared: what every worker's RequestRouter shares (README, Workers). The config snapshot
// and the JWT revocation list are replaced for all workers at once (a router compares one atomic
// generation before each admission); the quota ledger and the client shares are single objects,
// so limits stay exact however connections spread over workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "conf/snapshot.h"
#include "proxy/io/file_stamp.h"
#include "proxy/quota/quota_ledger.h"
#include "proxy/router/client_shares.h"
#include "proxy/router/growth_ledger.h"

namespace kw::proxy {

class RouterShared {
 public:
  explicit RouterShared(conf::SnapshotConstSharedPtr snapshot);
  RouterShared(const RouterShared&) = delete;
  RouterShared& operator=(const RouterShared&) = delete;

  using RevokedSet = std::unordered_set<std::string>;
  // What a router copies when the generation moved.
  struct View {
    conf::SnapshotConstSharedPtr snapshot;
    std::shared_ptr<const RevokedSet> revoked;  // null: no revoked_file
    bool revocations_known = true;              // false: revoked_file unreadable, JWTs refused
    uint64_t generation = 0;
  };
  [[nodiscard]] View view() const;
  // Counts every replacement of the snapshot or the revocation list.
  [[nodiscard]] uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  [[nodiscard]] conf::SnapshotConstSharedPtr snapshot() const;

  // A reload: the snapshot, its budget and its revocation file, for every worker.
  void setSnapshot(conf::SnapshotConstSharedPtr snapshot);
  // Re-reads signing.revoked_file; when it cannot be read, or is gone after it was read, every
  // JWT is refused until it can be.
  void reloadRevocations();
  // False while revoked_file cannot be read (or is gone): JWTs are refused, and a revoke call
  // must not start a fresh file that would lift the revocations it held.
  [[nodiscard]] bool revocationsKnown() const {
    std::lock_guard<std::mutex> lock(mu_);
    return revocations_known_;
  }
  // How revoked_file looked when it was last read: a watcher re-reads it when it looks
  // otherwise now (compared with what was read, not with the watcher's own last look, so a file
  // written by a revoke and deleted within one look is still noticed: attack round 16).
  [[nodiscard]] FileStamp revokedFileStamp() const {
    std::lock_guard<std::mutex> lock(mu_);
    return revoked_stamp_;
  }

  QuotaLedger& quota() { return quota_; }
  const QuotaLedger& quota() const { return quota_; }
  ShareLedger& shares() { return shares_; }
  GrowthLedger& growth() { return growth_; }

 private:
  void loadRevocationsLocked();

  mutable std::mutex mu_;
  conf::SnapshotConstSharedPtr snapshot_;
  std::shared_ptr<const RevokedSet> revoked_;
  bool revocations_known_ = true;
  std::string revoked_file_seen_;  // the revoked_file path once a read found it there
  FileStamp revoked_stamp_;        // revoked_file as the last read found it
  std::atomic<uint64_t> generation_{0};
  QuotaLedger quota_;
  ShareLedger shares_;
  GrowthLedger growth_;
};

}  // namespace kw::proxy
