// The audit log's file (README, Audit log): records are chained (codec/audit_chain.h) and
// written by a thread of their own, so a slow or failing disk never stalls the event loop.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "policy/result.h"

namespace kw::proxy {

class AuditLog {
 public:
  struct Options {
    std::string path;
    // on_failure: refuse. While the file cannot be written (or the buffer is full) accepting()
    // is false: the gateway answers 503 and runs nothing that would go unaudited.
    bool refuse = true;
    // Records waiting for the disk, at most (a record of a request that ran is kept past it in
    // refuse mode: those are bounded by the open connections, as nothing new is accepted).
    size_t max_buffered_bytes = size_t{16} << 20;
    std::chrono::milliseconds retry_every{250};  // a failed open or write is tried again
  };

  // Continues the chain from the file's last line when the file exists; an existing file whose
  // last line cannot be read is an error (its chain could not be continued). A file that cannot
  // be opened for writing yet is not: records wait (and refuse mode refuses) until it can.
  static Result<std::unique_ptr<AuditLog>> open(Options options);
  ~AuditLog();  // close(5 s)
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Any thread. False in refuse mode while the file cannot be written, the buffer is full, or
  // an open or write has not returned for 2 s (a hung NFS mount, a FIFO nobody reads).
  [[nodiscard]] bool accepting() const;
  // `record`: one JSON object "{...}" (its "prev" is added by the writer). `ran`: the request
  // may have acted (its record is never dropped in refuse mode). A dropped record leaves an
  // {"event":"audit_gap","dropped":N} record in its place, in the chain.
  void append(std::string record, bool ran);
  // SIGHUP: the file is opened again by name (after a rotation: a new file, same chain).
  void reopen();
  // Waits until every appended record is written or `limit` passes; true when all are.
  bool flush(std::chrono::milliseconds limit);
  // Writes what it can within `limit`, stops the writer; returns the records not written. A
  // writer stuck in a system call past `limit` is left behind (stuck() stays true): its owner
  // must then not destroy this object (main leaks it at exit).
  uint64_t close(std::chrono::milliseconds limit);
  // The writer has been inside one open or write for longer than 2 s (or never returned from
  // close()).
  [[nodiscard]] bool stuck() const;

  struct Stats {
    uint64_t written = 0;   // records (and gap records) on disk
    uint64_t dropped = 0;   // records dropped because the buffer was full
    uint64_t failures = 0;  // failed opens and writes
    uint64_t buffered_bytes = 0;
    bool failing = false;
    std::string head;  // SHA-256 hex of the last line written (the next record's prev)
  };
  [[nodiscard]] Stats stats() const;
  // Failures and recoveries since the last call, as (event, detail) for the loop to log.
  std::vector<std::pair<std::string, std::string>> takeEvents();

 private:
  AuditLog(Options options, std::string prev_hex);
  void run();
  // Writer thread only.
  bool openFile();
  bool writeOut();
  // Why the open file is no longer the one at the path ("" when it is): deleted, or (checked
  // once a second) renamed or replaced without a SIGHUP. The writer then opens the path again.
  std::string fileMoved();
  void fail(const std::string& what, int err);
  void publish();

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;  // records, reopen or stop
  std::condition_variable idle_;  // everything written (flush)
  // Under mu_.
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  uint64_t gap_ = 0;  // dropped since the last record queued
  uint64_t appended_ = 0;
  uint64_t done_ = 0;  // records written (appended_ - done_ are waiting)
  bool reopen_ = false;
  bool stop_ = false;
  bool sleeping_ = false;  // the writer waits for a record (not on its batching clock)
  std::chrono::steady_clock::time_point stop_by_{};  // close(): give up writing after it
  bool failing_ = false;
  size_t out_pending_ = 0;  // chained bytes not yet written
  uint64_t failures_ = 0;
  uint64_t dropped_ = 0;
  std::string head_;  // the chain's head on disk (Stats::head)
  std::vector<std::pair<std::string, std::string>> events_;
  std::atomic<bool> accepting_{true};
  // Steady-clock milliseconds at which the writer entered open(2) or write(2); 0 outside them.
  std::atomic<int64_t> busy_since_ms_{0};
  bool exited_ = false;  // under mu_: run() returned
  std::condition_variable exited_cv_;
  // Writer thread only.
  std::string prev_hex_;
  uint64_t uncounted_newlines_ = 0;  // in out_: the newline ending a line cut by a crash
  std::string error_;                // the last failure
  uint64_t completed_ = 0;           // lines written since the last publish
  int fd_ = -1;
  std::chrono::steady_clock::time_point last_path_check_{};
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  std::string out_;     // chained lines not yet written
  size_t out_off_ = 0;  // of out_, bytes written
  std::thread thread_;
};

}  // namespace kw::proxy
