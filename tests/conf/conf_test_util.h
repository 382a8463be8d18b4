// Shared helpers for the conf tests: fake environment, temp dirs, a minimal valid config.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "conf/loader.h"

namespace kw::conf::testing {

inline EnvLookup fakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

inline EnvLookup defaultEnv() {
  return fakeEnv({{"UPSTASH_REDIS_REST_URL", "https://demo-1234.upstash.io"},
                  {"UPSTASH_REDIS_REST_TOKEN", "AXXXupstashtoken0123456789"},
                  {"KEYWARD_ADMIN_TOKEN", "admin-token-0123456789abcdef"}});
}

// A fresh directory removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kwconfXXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (p == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string write(const std::string& rel, const std::string& content) const {
    const std::filesystem::path p = std::filesystem::path(path_) / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }

 private:
  std::string path_;
};

// Minimal valid config; `extra` is appended at the top level (before clients).
inline std::string minimalConfig(const std::string& extra = "",
                                 const std::string& client_extra = "") {
  return "listen:\n"
         "  address: \"127.0.0.1:8443\"\n"
         "upstream:\n"
         "  url_env: UPSTASH_REDIS_REST_URL\n"
         "  token_env: UPSTASH_REDIS_REST_TOKEN\n" +
         extra +
         "clients:\n"
         "  - name: app\n"
         "    commands: [\"+get\"]\n"
         "    keys: [\"app:*\"]\n" +
         client_extra;
}

inline Result<Config> load(const std::string& text, const EnvLookup& env = defaultEnv(),
                           const std::string& base_dir = "/etc/keyward") {
  return loadConfigText(text, "kw.yaml", base_dir, env);
}

// The whole error text (fails the test when loading succeeded).
inline std::string loadError(const std::string& text, const EnvLookup& env = defaultEnv(),
                             const std::string& base_dir = "/etc/keyward") {
  auto r = load(text, env, base_dir);
  EXPECT_FALSE(r.has_value()) << "expected an error for:\n" << text;
  return r.has_value() ? std::string() : r.error().message;
}

}  // namespace kw::conf::testing
