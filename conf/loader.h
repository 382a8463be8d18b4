// Loading a config file: YAML -> validated kw::conf::Config, every error as FILE:LINE:COL: message.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "policy/result.h"

namespace kw::conf {

// Looks an environment variable up; nullopt when unset. Injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup processEnv();  // getenv

// Bounds on what a config may hold (beyond these the file is refused).
inline constexpr size_t kMaxConfigBytes = 4 * 1024 * 1024;
inline constexpr size_t kMaxConfigDepth = 32;  // nesting of YAML collections
inline constexpr size_t kMaxClients = 10000;
inline constexpr size_t kMaxPatternsPerList = 4096;  // per list (commands, keys, ...)
inline constexpr size_t kMaxPatternBytes = 1024;
inline constexpr size_t kMaxApiKeysPerClient = 64;
inline constexpr size_t kMaxSecretFileBytes = 64 * 1024;
inline constexpr size_t kMaxSigningKeys = 64;

// Reads and validates `path` (environment from processEnv()). On failure, error().message holds
// every error found, one "FILE:LINE:COL: message" per line (ErrorCode::Config).
Result<Config> loadConfigFile(const std::string& path);
Result<Config> loadConfigFile(const std::string& path, const EnvLookup& env);

// Validates `text`; `source_name` prefixes each error, relative paths resolve against
// `base_dir` (made absolute against the working directory if relative). Secret files named by
// *_file fields are read here.
Result<Config> loadConfigText(std::string_view text, const std::string& source_name,
                              const std::string& base_dir, const EnvLookup& env);

// Like loadConfigText, but returns every error (empty = valid) without a Config.
std::vector<std::string> collectConfigErrors(std::string_view text, const std::string& source_name,
                                             const std::string& base_dir, const EnvLookup& env);

// `keyward check`: every loader error, plus: every named file exists and is readable (TLS
// cert/key/CA, upstream CA, signing key files, revoked_file or its directory, the quota state
// file's directory), signing keys parse, and every client policy compiles. Empty = valid.
// `warnings` (when given) gets "FILE:LINE:COL: warning: ..." lines for a valid config that does
// not do what it says: a `commands` rule naming a command the policy never forwards.
std::vector<std::string> checkConfigFile(const std::string& path,
                                         std::vector<std::string>* warnings = nullptr);
std::vector<std::string> checkConfigFile(const std::string& path, const EnvLookup& env,
                                         std::vector<std::string>* warnings = nullptr);

}  // namespace kw::conf
