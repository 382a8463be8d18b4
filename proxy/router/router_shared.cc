// The state all workers' routers share; see router_shared.h.
#include "proxy/router/router_shared.h"

#include <filesystem>

#include "conf/loader.h"
#include "proxy/io/access_log.h"

namespace kw::proxy {

RouterShared::RouterShared(conf::SnapshotConstSharedPtr snapshot)
    : quota_(snapshot->config().budget) {
  setSnapshot(std::move(snapshot));
}

RouterShared::View RouterShared::view() const {
  std::lock_guard<std::mutex> lock(mu_);
  return View{snapshot_, revoked_, revocations_known_, generation_.load(std::memory_order_relaxed)};
}

conf::SnapshotConstSharedPtr RouterShared::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

void RouterShared::setSnapshot(conf::SnapshotConstSharedPtr snapshot) {
  quota_.setBudget(snapshot->config().budget);
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(snapshot);
  loadRevocationsLocked();
}

void RouterShared::reloadRevocations() {
  std::lock_guard<std::mutex> lock(mu_);
  loadRevocationsLocked();
}

void RouterShared::loadRevocationsLocked() {
  const std::string& file = snapshot_->config().signing.revoked_file;
  revocations_known_ = true;
  revoked_stamp_ = fileStamp(file);  // before the read: a change after it is noticed later
  std::error_code ec;  // set for a missing file too; other failures leave the type unknown
  const bool missing = !file.empty() && std::filesystem::symlink_status(file, ec).type() ==
                                            std::filesystem::file_type::not_found;
  if (file.empty()) {
    revoked_.reset();
    revoked_file_seen_.clear();
  } else if (missing && revoked_file_seen_ == file) {
    // It was there and is gone (attack round 15b: deleting it lifted every revocation, and the
    // next revoke started a fresh file with only its own jti). Missing at the first read is a
    // first start; afterwards it is refused as an unreadable file is, until it is back (an
    // empty file lifts every revocation, knowingly).
    revocations_known_ = false;
    logEvent("revoked_file_unreadable",
             {{"error", file + ": missing (it was read before); restore it, or write an empty "
                               "file to lift every revocation"}});
  } else if (auto list = conf::loadRevokedFile(file)) {
    revoked_ = std::make_shared<const RevokedSet>(std::move(*list));
    if (!missing) revoked_file_seen_ = file;
  } else {
    // Fail closed: without the list a revoked token would pass, so every JWT is refused until
    // a reload reads it again (static API keys keep working).
    revocations_known_ = false;
    logEvent("revoked_file_unreadable", {{"error", list.error().message}});
  }
  // Published last: a router that sees the new generation reads all of the above.
  generation_.fetch_add(1, std::memory_order_release);
}

}  // namespace kw::proxy
