// What a file looks like from outside (identity, size, modification time), to notice that
// someone changed or replaced it without reading it.
#pragma once

#include <cstdint>
#include <string>

namespace kw::proxy {

struct FileStamp {
  bool exists = false;
  uint64_t device = 0;
  uint64_t inode = 0;  // a rename over the file changes it
  int64_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

// The stamp of `path` now; exists == false when it cannot be stat'ed.
FileStamp fileStamp(const std::string& path);

}  // namespace kw::proxy
