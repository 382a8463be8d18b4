// Internal to conf/: YamlNode tree -> Config with per-field validation and FILE:LINE:COL errors.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "conf/loader.h"
#include "conf/yaml_tree.h"

namespace kw::conf {

inline constexpr size_t kMaxErrors = 100;

// Appends every error found to `errors`; `out` is complete only when none was added.
void readConfig(const YamlNode& root, const std::string& source, const std::string& base_dir,
                const EnvLookup& env, Config& out, std::vector<std::string>& errors);

// Text / file -> Config, returning all errors (empty = valid). Implemented in loader.cc.
std::vector<std::string> loadInto(std::string_view text, const std::string& source_name,
                                  const std::string& base_dir, const EnvLookup& env, Config& cfg);
std::vector<std::string> loadFileInto(const std::string& path, const EnvLookup& env, Config& cfg);

// Orders "SOURCE:LINE:COL: ..." lines by line and column (stable; other lines keep their place
// relative to each other, after the located ones).
void sortByLocation(std::vector<std::string>& errors, const std::string& source);

// Escapes control bytes (newlines included) so that one error stays one line.
std::string oneLine(std::string_view message);

// Reads a secret file (bounded by kMaxSecretFileBytes); `why` explains a failure.
bool readSecretFile(const std::string& path, std::string& out, std::string& why);
// Opens a regular file read-only (FIFOs and devices refused, never blocks on open); -1 with the
// reason in `why` for anything else.
int openRegularFile(const std::string& path, std::string& why);
// Reads a regular file (FIFOs and devices refused, never blocks on open) of at most `limit` bytes.
bool readRegularFile(const std::string& path, size_t limit, std::string& out, std::string& why);

}  // namespace kw::conf
