// `keyward policy test` case files (README, Changing a policy safely): YAML lists of requests and
// the decisions expected for them. conf/ parses them (it is the only user of yaml-cpp); the
// runner lives in proxy/tools.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "policy/result.h"

namespace kw::conf {

enum class CaseRoute : uint8_t {
  Command,    // `command: [GET, k]`: one command in a request body (POST / or a path)
  Pipeline,   // `pipeline: [[...], ...]`: /pipeline, each command decided on its own
  MultiExec,  // `multi-exec: [[...], ...]`: /multi-exec, all or nothing
  Subscribe,  // `subscribe: [SUBSCRIBE, ch]`: the streaming route
};

struct PolicyCase {
  std::string name;
  uint32_t line = 0;  // of the case's first key, for FILE:LINE messages
  std::string client;
  std::string sub;  // empty: the credential carries none
  CaseRoute route = CaseRoute::Command;
  std::vector<std::vector<std::string>> commands;
  // One per command for pipelines; one for the other routes. Each "allow", "deny" or
  // "deny:<reason>" (a reason name such as key_denied).
  std::vector<std::string> expect;
};

inline constexpr size_t kMaxPolicyCases = 100000;
inline constexpr size_t kMaxCaseFileBytes = 16 * 1024 * 1024;

// Reads one case file; errors are "FILE:LINE:COL: message" lines (every one found).
Result<std::vector<PolicyCase>> loadPolicyCases(const std::string& path);
Result<std::vector<PolicyCase>> parsePolicyCases(const std::string& text,
                                                 const std::string& source_name);

}  // namespace kw::conf
