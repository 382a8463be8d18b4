// quota.state_file I/O: bounded read, strict parse, atomic replace.
#include "proxy/quota_state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "proxy/atomic_file.h"

namespace kw::proxy {
namespace {

Error ioError(const std::string& what, const std::string& path) {
  return makeError(ErrorCode::Io, what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

Result<std::optional<policy::QuotaState>> loadQuotaStateFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<policy::QuotaState>();
    return ioError("cannot open", path);
  }
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Error e = ioError("cannot read", path);
      ::close(fd);
      return e;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > policy::kQuotaStateMaxBytes) break;
  }
  ::close(fd);
  auto st = policy::parseQuotaState(text);
  if (!st) {
    return makeError(ErrorCode::InvalidArgument, "quota state file " + path + ": " +
                                                     st.error().message +
                                                     " (remove it to start with fresh counters)");
  }
  return std::optional<policy::QuotaState>(std::move(*st));
}

Status saveQuotaStateFile(const std::string& path, const policy::QuotaState& state) {
  return replaceFileAtomically(path, policy::formatQuotaState(state));
}

QuotaStateWriter::QuotaStateWriter(std::string path)
    : path_(std::move(path)), thread_([this] { run(); }) {}

QuotaStateWriter::~QuotaStateWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void QuotaStateWriter::submit(policy::QuotaState state) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ = std::move(state);
    pending_gen_ = ++next_gen_;
  }
  cv_.notify_one();
}

Status QuotaStateWriter::saveNow(const policy::QuotaState& state) {
  uint64_t gen = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.reset();  // older than `state`
    gen = ++next_gen_;
  }
  return write(state, gen);
}

Status QuotaStateWriter::write(const policy::QuotaState& state, uint64_t gen) {
  std::lock_guard<std::mutex> io(io_);
  if (gen < written_gen_) return Ok{};  // a newer state is already on disk
  written_gen_ = gen;
  return saveQuotaStateFile(path_, state);
}

std::string QuotaStateWriter::takeError() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(error_, std::string());
}

void QuotaStateWriter::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || pending_.has_value(); });
    if (!pending_) return;  // stopping with nothing left to write
    policy::QuotaState state = std::move(*pending_);
    const uint64_t gen = pending_gen_;
    pending_.reset();
    lock.unlock();
    Status st = write(state, gen);
    lock.lock();
    if (!st) error_ = st.error().message;
  }
}

}  // namespace kw::proxy
