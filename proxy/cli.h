// Command-line parsing for the keyward executable (CONTRACT.md section 1).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/result.h"

namespace kw::proxy {

enum class CliCommand : uint8_t { Serve, Check, TokenNew, Version, Help };

struct CliArgs {
  CliCommand command = CliCommand::Help;
  std::string config_path;  // serve, check
  std::string client;       // token new
};

// Parses argv[1..]: `serve --config F`, `--config F`, `check --config F`,
// `token new --client NAME`, `version`, `help`. `--config=F` is accepted too.
[[nodiscard]] Result<CliArgs> parseCli(const std::vector<std::string_view>& args);

// One-paragraph usage text.
std::string_view cliUsage();

}  // namespace kw::proxy
