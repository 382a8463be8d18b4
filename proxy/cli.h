// Command-line parsing for the keyward executable (README, Command line).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policy/result.h"

namespace kw::proxy {

enum class CliCommand : uint8_t {
  Serve,
  Check,
  TokenNew,
  TokenMint,
  Scan,
  Explain,
  PolicyTest,
  AuditVerify,
  EncryptionNewKey,
  Version,
  Help
};

struct CliArgs {
  CliCommand command = CliCommand::Help;
  std::string config_path;         // serve, check, token mint, scan (optional there)
  std::string client;              // token new / mint
  std::string sub;                 // token mint (optional)
  std::string ttl;                 // token mint (optional duration text, default 15m)
  std::string jti;                 // token mint (optional)
  std::string format;              // scan: text (default), json, sarif; explain: text, json
  std::string route;               // explain: command (default), pipeline, multi-exec, subscribe
  std::string json;                // explain: --json '[[...],...]'
  std::vector<std::string> argv;   // explain: the command after --
  bool revoke = false;             // scan
  std::vector<std::string> paths;  // scan; policy test: the case files; audit verify: the logs
};

// Parses argv[1..]: `serve --config F`, `--config F`, `check --config F`,
// `token new --client NAME`,
// `token mint --config F --client NAME [--sub ID] [--ttl 15m] [--jti ID]`,
// `scan [--config F] [--format text|json|sarif] [--revoke] PATH...`,
// `explain --config F --client NAME [--sub ID] [--route R] [--format text|json] -- CMD ARG...`
// (or `--json '[[...]]'`), `policy test --config F FILE...`, `audit verify FILE...`,
// `encryption new-key`, `version`,
// `help`.
// `--config=F` is accepted too.
[[nodiscard]] Result<CliArgs> parseCli(const std::vector<std::string_view>& args);

// One-paragraph usage text.
std::string_view cliUsage();

}  // namespace kw::proxy
