// Replacing a file keyward owns without trusting what sits at (or next to) its path.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "policy/result.h"

namespace kw::proxy {

// Writes `content` to `path` atomically: a new temp file beside it under a random name created
// with O_CREAT|O_EXCL|O_NOFOLLOW (so a planted file or symlink at that name is never written
// through: the open fails instead), mode 0600, written, fsynced, then renamed over `path` (which
// replaces a symlink at `path` itself, never its target) and the directory fsynced. On failure
// the temp file is removed and `path` is untouched. Messages name the path and errno, no content.
Status replaceFileAtomically(const std::string& path, std::string_view content);

// Reads all of `path` (at most `max_bytes`, else TooLarge) without following a symlink at it
// (O_NOFOLLOW: a symlink is an error). A missing file is nullopt.
Result<std::optional<std::string>> readFileNoFollow(const std::string& path, size_t max_bytes);

}  // namespace kw::proxy
