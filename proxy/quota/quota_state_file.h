// Reads and atomically replaces quota.state_file (format: policy/quota_state.h).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "policy/quota_state.h"
#include "policy/result.h"

namespace kw::proxy {

// nullopt when the file does not exist (first start); an error when it cannot be read or is not
// a valid state file (the caller refuses to start rather than hand out fresh budgets).
Result<std::optional<policy::QuotaState>> loadQuotaStateFile(const std::string& path);
// Writes `path`.tmp, fsyncs it, renames it over `path`, fsyncs the directory: a crash leaves
// either the old or the new file, never a torn one.
Status saveQuotaStateFile(const std::string& path, const policy::QuotaState& state);

// Saves on a thread of its own, so a slow fsync never stalls the event loop. Only the newest
// submitted state is written; the loop thread takes the snapshot (cheap), this thread the I/O.
class QuotaStateWriter {
 public:
  explicit QuotaStateWriter(std::string path);
  ~QuotaStateWriter();  // writes what is pending, then joins
  QuotaStateWriter(const QuotaStateWriter&) = delete;
  QuotaStateWriter& operator=(const QuotaStateWriter&) = delete;

  void submit(policy::QuotaState state);
  // Writes `state` now on the calling thread, after any pending write (shutdown).
  Status saveNow(const policy::QuotaState& state);
  // The last background failure since the previous call ("" when none), for the loop to log.
  std::string takeError();

 private:
  void run();
  Status write(const policy::QuotaState& state, uint64_t gen);
  const std::string path_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<policy::QuotaState> pending_;
  bool stop_ = false;
  std::string error_;
  uint64_t next_gen_ = 0;  // under mu_: the order states were handed in
  uint64_t pending_gen_ = 0;
  std::mutex io_;             // one writer of the file at a time
  uint64_t written_gen_ = 0;  // under io_: an older state never replaces a newer one
  std::thread thread_;
};

}  // namespace kw::proxy
