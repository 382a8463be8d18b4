// Symlink-safe atomic replace and read for keyward's own files (quota state, revocation list).
#include "proxy/io/atomic_file.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace kw::proxy {
namespace {

Error ioError(const std::string& what, const std::string& path) {
  return makeError(ErrorCode::Io, what + " " + path + ": " + std::strerror(errno));
}

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

Status replaceFileAtomically(const std::string& path, std::string_view content) {
  unsigned char rnd[8];
  if (RAND_bytes(rnd, sizeof rnd) != 1) return makeError(ErrorCode::Io, "no randomness");
  std::string tmp = path + ".tmp.";
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char b : rnd) {
    tmp.push_back(kHex[b >> 4]);
    tmp.push_back(kHex[b & 15]);
  }
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ioError("cannot create", tmp);
  if (!writeAll(fd, content)) {
    Error e = ioError("cannot write", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  }
  if (::fsync(fd) != 0) {
    Error e = ioError("cannot fsync", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = ioError("cannot rename to", path);
    ::unlink(tmp.c_str());
    return e;
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);  // the rename itself durable
    ::close(dfd);
  }
  return Ok{};
}

Result<std::optional<std::string>> readFileNoFollow(const std::string& path, size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
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
    if (text.size() > max_bytes) {
      ::close(fd);
      return makeError(ErrorCode::TooLarge,
                       path + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  ::close(fd);
  return std::optional<std::string>(std::move(text));
}

}  // namespace kw::proxy
