// quota.state_file I/O: bounded read, strict parse, atomic replace.
#include "proxy/quota_state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace kw::proxy {
namespace {

Error ioError(const std::string& what, const std::string& path) {
  return makeError(ErrorCode::Io, what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

Result<std::optional<policy::QuotaState>> loadQuotaStateFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
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
  const std::string text = policy::formatQuotaState(state);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ioError("cannot create", tmp);
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Error e = ioError("cannot write", tmp);
      ::close(fd);
      return e;
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Error e = ioError("cannot fsync", tmp);
    ::close(fd);
    return e;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ioError("cannot rename to", path);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);  // the rename itself durable
    ::close(dfd);
  }
  return Ok{};
}

}  // namespace kw::proxy
