// The audit writer thread: chains records as they leave the queue, appends them to the file,
// and on a failed open or write keeps them and tries again until the file takes them.
#include "proxy/io/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "proxy/codec/audit_chain.h"
#include "proxy/io/access_log.h"

namespace kw::proxy {

namespace {

constexpr size_t kMaxLineBytes = size_t{64} << 20;  // a longer last line is not ours
constexpr size_t kWriteChunk = size_t{1} << 20;
constexpr auto kCollectFor = std::chrono::milliseconds(5);  // a busy writer's batching window
constexpr size_t kWakeAt = size_t{1} << 20;                 // queued bytes that wake it anyway
constexpr int64_t kStuckAfterMs = 2000;  // one open or write this long: the file is failing

int64_t steadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Marks the writer as inside a system call that may hang, for stuck().
struct BusyMark {
  explicit BusyMark(std::atomic<int64_t>& since) : since_(since) {
    since_.store(steadyMs(), std::memory_order_release);
  }
  ~BusyMark() { since_.store(0, std::memory_order_release); }
  BusyMark(const BusyMark&) = delete;
  BusyMark& operator=(const BusyMark&) = delete;
  std::atomic<int64_t>& since_;
};

// The record standing for `dropped` records the buffer had no room for.
std::string gapRecord(uint64_t dropped) {
  return "{\"time\":\"" + nowRfc3339() +
         "\",\"event\":\"audit_gap\",\"dropped\":" + std::to_string(dropped) + "}";
}

// Where the line holding byte `off` of `text` starts (lines end with '\n').
size_t lineStart(const std::string& text, size_t off) {
  if (off == 0) return 0;
  const size_t nl = text.rfind('\n', off - 1);
  return nl == std::string::npos ? 0 : nl + 1;
}

constexpr size_t kMaxTornLines = 16;  // crash fragments after the last record, at most

struct Tail {
  std::optional<std::string> last;  // the last whole record (without its newline)
  bool terminated = true;           // the file ends with a newline
  // Lines after `last` that are not records, in file order: writes cut short by crashes (a
  // crash may also cut the record that marks an earlier one). Only when !terminated.
  std::vector<std::string> fragments;
};

// The end of `path` (nothing when it is absent, empty or not a regular file).
Result<Tail> readTail(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return Tail{};
    return Error{ErrorCode::InvalidArgument,
                 "audit.file: cannot read " + path + ": " + std::strerror(errno)};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
    ::close(fd);
    return Tail{};
  }
  const auto refuse = [&](const std::string& why) -> Result<Tail> {
    ::close(fd);
    return Error{ErrorCode::InvalidArgument, "audit.file: " + path + ": " + why};
  };
  std::string buf;  // the file's end, grown backwards
  off_t end = st.st_size;
  Tail tail;
  for (;;) {
    // Lines of buf from the end (the first one is whole only once the file's start is in).
    tail = Tail{};
    tail.terminated = !buf.empty() && buf.back() == '\n';
    size_t stop = tail.terminated ? buf.size() - 1 : buf.size();
    bool found = false;
    for (size_t lines = 0; !buf.empty() && lines <= kMaxTornLines + 1; ++lines) {
      const size_t nl = stop == 0 ? std::string::npos : buf.rfind('\n', stop - 1);
      if (nl == std::string::npos && end > 0) break;  // not whole yet: read more
      const size_t from = nl == std::string::npos ? 0 : nl + 1;
      std::string line = buf.substr(from, stop - from);
      if (codec::auditPrevOf(line)) {
        tail.last = std::move(line);
        found = true;
        break;
      }
      // Not a record: a crash fragment only in a file that ends inside a line.
      if (tail.terminated) return refuse("its last line is not an audit record; move it aside");
      tail.fragments.insert(tail.fragments.begin(), std::move(line));
      if (tail.fragments.size() > kMaxTornLines) {
        return refuse("more than 16 lines after its last record are not records; move it aside");
      }
      if (nl == std::string::npos) {
        found = true;  // the file's start: no record before the fragments
        break;
      }
      stop = nl;
    }
    if (found || end == 0) break;
    if (buf.size() > 2 * kMaxLineBytes) return refuse("its last line is longer than 64 MiB");
    const size_t step = std::min<size_t>(64 * 1024, static_cast<size_t>(end));
    std::string chunk(step, '\0');
    if (::pread(fd, chunk.data(), step, end - static_cast<off_t>(step)) !=
        static_cast<ssize_t>(step)) {
      return refuse("cannot read its last record");
    }
    end -= static_cast<off_t>(step);
    buf.insert(0, chunk);
  }
  ::close(fd);
  return tail;
}

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::open(Options options) {
  auto tail = readTail(options.path);
  if (!tail) return tail.error();
  std::string prev = tail->last ? codec::auditDigestHex(*tail->last) : codec::auditGenesisHex();
  std::string lead;  // written before any record: ends a cut line, marks crash fragments
  if (!tail->terminated) lead = "\n";
  if (!tail->fragments.empty()) {
    // Writes cut short by crashes: the chain continues from the last whole record, and this
    // record names every fragment, so verify can check past them (found by the attack runs).
    std::string mark = "{\"time\":\"" + nowRfc3339() + "\",\"event\":\"audit_torn\",\"lines\":[";
    for (size_t i = 0; i < tail->fragments.size(); ++i) {
      const std::string& f = tail->fragments[i];
      mark += (i == 0 ? "{\"bytes\":" : ",{\"bytes\":") + std::to_string(f.size()) +
              ",\"sha256\":\"" + codec::auditDigestHex(f) + "\"}";
    }
    mark += "]}";
    const std::string line = codec::chainRecord(mark, prev);
    prev = codec::auditDigestHex(line);
    lead += line + "\n";  // one write with the newline: a crash cannot split them apart
  }
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(options), std::move(prev)));
  if (!lead.empty()) {
    log->out_ = std::move(lead);
    log->uncounted_newlines_ = tail->terminated ? 0 : 1;
    log->head_.clear();  // not on disk yet
    log->appended_ = tail->fragments.empty() ? 0 : 1;
  }
  // The first open here, before any request: refuse mode refuses from the start when the file
  // cannot be written (the writer thread then retries).
  if (!log->openFile()) {
    log->failing_ = true;
    log->failures_ = 1;
    log->events_.emplace_back("audit_write_failed", log->error_);
    log->accepting_.store(!log->options_.refuse, std::memory_order_release);
  }
  log->thread_ = std::thread([p = log.get()] { p->run(); });
  return log;
}

AuditLog::AuditLog(Options options, std::string prev_hex)
    : options_(std::move(options)), head_(prev_hex), prev_hex_(std::move(prev_hex)) {}

AuditLog::~AuditLog() {
  if (thread_.joinable()) close(std::chrono::seconds(5));
  if (fd_ >= 0) ::close(fd_);
}

void AuditLog::append(std::string record, bool ran) {
  bool wake = false;
  {
    std::lock_guard lk(mu_);
    // A busy writer collects records on its own clock: only an idle one, or a large backlog,
    // needs waking.
    wake = std::exchange(sleeping_, false) || queued_bytes_ + record.size() >= kWakeAt;
    const bool full = queued_bytes_ + out_pending_ + record.size() > options_.max_buffered_bytes;
    if (full && !(options_.refuse && ran)) {
      ++gap_;
      ++dropped_;
    } else {
      if (gap_ > 0) {
        std::string gap = gapRecord(gap_);
        queued_bytes_ += gap.size();
        queue_.push_back(std::move(gap));
        ++appended_;
        gap_ = 0;
      }
      queued_bytes_ += record.size();
      queue_.push_back(std::move(record));
      ++appended_;
    }
    if (options_.refuse && queued_bytes_ + out_pending_ >= options_.max_buffered_bytes) {
      accepting_.store(false, std::memory_order_release);
    }
  }
  if (wake) wake_.notify_one();
}

void AuditLog::reopen() {
  std::lock_guard lk(mu_);
  reopen_ = true;
  wake_.notify_one();
}

bool AuditLog::flush(std::chrono::milliseconds limit) {
  std::unique_lock lk(mu_);
  return idle_.wait_for(lk, limit, [&] { return done_ == appended_; });
}

uint64_t AuditLog::close(std::chrono::milliseconds limit) {
  std::unique_lock lk(mu_);
  if (!thread_.joinable()) return appended_ - done_ + gap_;
  stop_ = true;
  stop_by_ = std::chrono::steady_clock::now() + limit;
  wake_.notify_one();
  // A writer blocked in write(2) cannot be interrupted: wait a little past its own deadline,
  // then leave it behind rather than hang the shutdown.
  if (exited_cv_.wait_for(lk, limit + std::chrono::milliseconds(500), [&] { return exited_; })) {
    lk.unlock();
    thread_.join();
    lk.lock();
  } else {
    thread_.detach();
  }
  return appended_ - done_ + gap_;
}

bool AuditLog::stuck() const {
  const int64_t since = busy_since_ms_.load(std::memory_order_acquire);
  return since != 0 && steadyMs() - since >= kStuckAfterMs;
}

bool AuditLog::accepting() const {
  if (!options_.refuse) return true;
  return accepting_.load(std::memory_order_acquire) && !stuck();
}

AuditLog::Stats AuditLog::stats() const {
  std::lock_guard lk(mu_);
  Stats s;
  s.written = done_;
  s.dropped = dropped_;
  s.failures = failures_;
  s.buffered_bytes = queued_bytes_ + out_pending_;
  s.failing = failing_ || stuck();
  s.head = head_;
  return s;
}

std::vector<std::pair<std::string, std::string>> AuditLog::takeEvents() {
  std::lock_guard lk(mu_);
  return std::exchange(events_, {});
}

void AuditLog::fail(const std::string& what, int err) {
  error_ = what + " " + options_.path + ": " + std::strerror(err);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool AuditLog::openFile() {
  const BusyMark busy(busy_since_ms_);
  // Non-blocking open: a FIFO without a reader fails (ENXIO) instead of hanging; writes then
  // block as usual (on this thread only).
  const int fd = ::open(options_.path.c_str(),
                        O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0640);
  if (fd < 0) {
    fail("cannot open", errno);
    return false;
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    const int err = errno;
    ::close(fd);
    fail("cannot open", err);
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail("cannot stat", err);
    return false;
  }
  fd_ = fd;
  const bool same = st.st_dev == dev_ && st.st_ino == ino_;
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  // A line cut short by a failed write continues in the same file; in another file (rotated
  // or replaced meanwhile) it is written again whole.
  if (!same) out_off_ = lineStart(out_, out_off_);
  return true;
}

std::string AuditLog::fileMoved() {
  // Deleted while open: whatever is written now is lost at close (found by the attack run).
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && st.st_nlink == 0) return "the open file was deleted";
  // Renamed or replaced without a SIGHUP: once a second, follow the name.
  const auto now = std::chrono::steady_clock::now();
  if (now - last_path_check_ < std::chrono::seconds(1)) return {};
  last_path_check_ = now;
  if (::stat(options_.path.c_str(), &st) != 0) return "the file is no longer at its path";
  if (st.st_dev != dev_ || st.st_ino != ino_) return "another file is at its path";
  return {};
}

bool AuditLog::writeOut() {
  const BusyMark busy(busy_since_ms_);
  while (out_off_ < out_.size()) {
    const size_t len = std::min(out_.size() - out_off_, kWriteChunk);
    const ssize_t n = ::write(fd_, out_.data() + out_off_, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fail("cannot write", n < 0 ? errno : EIO);
      // Lines written whole are done: keep only the rest.
      const size_t whole = lineStart(out_, out_off_);
      out_.erase(0, whole);
      out_off_ -= whole;
      return false;
    }
    const char* p = out_.data() + out_off_;
    uint64_t lines = static_cast<uint64_t>(std::count(p, p + n, '\n'));
    const uint64_t skip = std::min(lines, uncounted_newlines_);  // the newline ending a cut line
    uncounted_newlines_ -= skip;
    completed_ += lines - skip;
    out_off_ += static_cast<size_t>(n);
  }
  out_.clear();
  out_off_ = 0;
  return true;
}

void AuditLog::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    std::deque<std::string> batch;
    batch.swap(queue_);
    out_pending_ += queued_bytes_;  // an estimate until chained below
    queued_bytes_ = 0;
    const bool reopen = std::exchange(reopen_, false);
    lk.unlock();
    for (const std::string& r : batch) {
      std::string line = codec::chainRecord(r, prev_hex_);
      prev_hex_ = codec::auditDigestHex(line);
      out_ += line;
      out_ += '\n';
    }
    std::string moved;
    if (fd_ >= 0 && !reopen && !out_.empty()) moved = fileMoved();
    if ((reopen || !moved.empty()) && fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    bool ok = fd_ >= 0 || openFile();
    if (ok) ok = writeOut();
    lk.lock();
    out_pending_ = out_.size() - out_off_;
    done_ += std::exchange(completed_, 0);
    if (out_pending_ == 0) head_ = prev_hex_;
    if (!moved.empty()) events_.emplace_back("audit_file_reopened", moved);
    if (!ok) {
      ++failures_;
      if (!failing_) events_.emplace_back("audit_write_failed", error_);
    } else if (failing_) {
      events_.emplace_back("audit_recovered", std::string());
    }
    failing_ = !ok;
    accepting_.store(!options_.refuse ||
                         (!failing_ && queued_bytes_ + out_pending_ < options_.max_buffered_bytes),
                     std::memory_order_release);
    if (done_ == appended_) idle_.notify_all();
    if (stop_ && ((queue_.empty() && out_pending_ == 0 && gap_ == 0) ||
                  std::chrono::steady_clock::now() >= stop_by_)) {
      break;
    }
    if (stop_ && gap_ > 0 && queue_.empty()) {
      // Records dropped last: their gap record still goes in.
      queue_.push_back(gapRecord(gap_));
      ++appended_;
      gap_ = 0;
      continue;
    }
    if (!ok) {
      wake_.wait_for(lk, options_.retry_every, [&] { return reopen_; });
    } else if (!stop_ && !batch.empty()) {
      // Busy: collect for a moment rather than be woken by every record (a futex wake per
      // request on the loop otherwise); a large backlog or a reopen or stop wakes it early.
      wake_.wait_for(lk, kCollectFor, [&] { return reopen_ || stop_ || queued_bytes_ >= kWakeAt; });
    } else if (!stop_) {
      sleeping_ = true;  // idle: the next record wakes it
      wake_.wait(lk, [&] { return !queue_.empty() || reopen_ || stop_; });
      sleeping_ = false;
    }
  }
  exited_ = true;
  exited_cv_.notify_all();
}

}  // namespace kw::proxy
