// quota.state_file I/O: bounded read, strict parse, atomic replace.
#include "proxy/quota/quota_state_file.h"

#include <filesystem>
#include <utility>

#include "proxy/io/atomic_file.h"

namespace kw::proxy {
Result<std::optional<policy::QuotaState>> loadQuotaStateFile(const std::string& path) {
  auto text = readFileNoFollow(path, policy::kQuotaStateMaxBytes);
  if (!text) return text.error();
  if (!*text) return std::optional<policy::QuotaState>();
  auto st = policy::parseQuotaState(**text);
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
