// Internal to conf/: typed readers over YamlNode that record FILE:LINE:COL errors.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/config.h"
#include "conf/loader.h"
#include "conf/yaml_tree.h"

namespace kw::conf {

// Error sink and path resolution for one load.
class Ctx {
 public:
  Ctx(const std::string& source, const std::string& base_dir, const EnvLookup& env,
      std::vector<std::string>& errors)
      : source_(source), base_dir_(base_dir), env_(env), errors_(errors) {}

  std::string loc(const YamlMark& m) const;
  // "FILE:LINE:COL: field: message" (field may be empty).
  void error(const YamlMark& m, std::string_view field, std::string_view message);
  // Absolute, normalized path (relative ones against the config file's directory).
  std::string resolve(std::string_view path) const;
  const EnvLookup& env() const { return env_; }
  const std::string& source() const { return source_; }
  const std::string& baseDir() const { return base_dir_; }
  size_t errorCount() const { return errors_.size(); }
  // Where path fields were found (may be null).
  std::vector<std::pair<std::string, std::string>>* path_locations = nullptr;

 private:
  const std::string& source_;
  const std::string& base_dir_;
  const EnvLookup& env_;
  std::vector<std::string>& errors_;
};

// Reads one YAML map, tracking which keys were asked for; finish() reports the others.
class MapReader {
 public:
  MapReader(Ctx& ctx, const YamlNode& node, std::string field);
  bool valid() const { return valid_; }
  // The value under `key`, or nullptr when absent (or when the node is not a map).
  const YamlNode* get(std::string_view key);
  // Same, but a null value (`key:` with nothing after it) counts as absent.
  const YamlNode* getPresent(std::string_view key);
  // "field.key" for messages.
  std::string sub(std::string_view key) const;
  const YamlMark& mark() const { return node_.mark; }
  void requireKey(std::string_view key);  // error "missing required key" when absent
  void finish();

 private:
  Ctx& ctx_;
  const YamlNode& node_;
  std::string field_;
  bool valid_ = false;
  std::vector<bool> used_;
  std::vector<std::string_view> known_;
};

std::string quote(std::string_view v);  // bounded, escaped, for non-secret values only
std::string kindName(const YamlNode& n);

bool readString(Ctx& ctx, const YamlNode& n, std::string_view field, std::string& out,
                size_t max_len = 4096);
bool readUint(Ctx& ctx, const YamlNode& n, std::string_view field, uint64_t lo, uint64_t hi,
              uint64_t& out);
bool readBool(Ctx& ctx, const YamlNode& n, std::string_view field, bool& out);
bool readDurationField(Ctx& ctx, const YamlNode& n, std::string_view field, Duration min,
                       Duration& out);
bool readPath(Ctx& ctx, const YamlNode& n, std::string_view field, std::string& out);
// A list of strings (null = empty). `locs` (optional) gets ("<loc_key>[i]", "FILE:LINE:COL").
bool readStringList(Ctx& ctx, const YamlNode& n, std::string_view field, size_t max_count,
                    size_t max_len, std::vector<std::string>& out,
                    std::vector<std::pair<std::string, std::string>>* locs = nullptr,
                    std::string_view loc_key = {});

enum class SecretRead : uint8_t { Absent, Found, Failed };
// `name`, `name_env`, `name_file` (at most one). The literal form is an error unless
// `literal_ok`. `where` gets the mark of the form used.
SecretRead readSecret(Ctx& ctx, MapReader& m, std::string_view name, bool literal_ok,
                      std::string& out, YamlMark& where);

// Sections of the client list (conf/schema_clients.cc).
void readClients(Ctx& ctx, const YamlNode& n, std::vector<ClientConfig>& out);

}  // namespace kw::conf
