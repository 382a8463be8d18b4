// Parses keyward's command line into a CliArgs (no I/O).
#include "proxy/cli.h"

#include <string>

namespace kw::proxy {

namespace {

// Reads `--name VALUE` or `--name=VALUE` at args[i]; advances i past what it used.
bool takeOption(const std::vector<std::string_view>& args, size_t& i, std::string_view name,
                std::string& out, std::string& error) {
  std::string_view a = args[i];
  if (a == name) {
    if (i + 1 >= args.size() || args[i + 1].empty()) {
      error = std::string(name) + " needs a value";
      return true;
    }
    out = std::string(args[i + 1]);
    i += 2;
    return true;
  }
  if (a.size() > name.size() && a.substr(0, name.size()) == name && a[name.size()] == '=') {
    out = std::string(a.substr(name.size() + 1));
    if (out.empty()) error = std::string(name) + " needs a value";
    i += 1;
    return true;
  }
  return false;
}

}  // namespace

std::string_view cliUsage() {
  return "usage:\n"
         "  keyward serve --config FILE     run the gateway (also: keyward --config FILE)\n"
         "  keyward check --config FILE     validate the config and the files it names\n"
         "  keyward token new --client NAME print a new static API key and its sha256: line\n"
         "  keyward token mint --config FILE --client NAME [--sub ID] [--ttl 15m] [--jti ID]\n"
         "                                  print one signed JWT for the client\n"
         "  keyward scan [--config FILE] [--format text|json|sarif] [--revoke] PATH...\n"
         "                                  find leaked Upstash, Redis and keyward credentials;\n"
         "                                  exit 0 none, 1 found, 2 error\n"
         "  keyward explain --config FILE --client NAME [--sub ID]\n"
         "        [--route command|pipeline|multi-exec|subscribe] [--format text|json]\n"
         "        -- CMD [ARG...]  (or --json '[[...],...]')\n"
         "                                  the decision for each command and why; exit 0\n"
         "                                  allowed, 1 denied, 2 error\n"
         "  keyward policy test --config FILE TESTFILE...\n"
         "                                  run policy test cases; exit 0 all passed\n"
         "  keyward audit verify FILE...    check the audit log's chain (files oldest first);\n"
         "                                  exit 0 ok, 1 broken, 2 error\n"
         "  keyward encryption new-key      print a new value-encryption key (base64)\n"
         "  keyward version                 version, build type, library versions\n";
}

Result<CliArgs> parseCli(const std::vector<std::string_view>& args) {
  CliArgs out;
  size_t i = 0;
  if (args.empty()) return Error{ErrorCode::InvalidArgument, "no command given"};
  std::string_view first = args[0];
  if (first == "serve") {
    out.command = CliCommand::Serve;
    i = 1;
  } else if (first == "check") {
    out.command = CliCommand::Check;
    i = 1;
  } else if (first == "token") {
    if (args.size() < 2 || (args[1] != "new" && args[1] != "mint")) {
      return Error{ErrorCode::InvalidArgument,
                   "unknown token subcommand (expected: token new, token mint)"};
    }
    out.command = args[1] == "new" ? CliCommand::TokenNew : CliCommand::TokenMint;
    i = 2;
  } else if (first == "explain") {
    out.command = CliCommand::Explain;
    i = 1;
  } else if (first == "policy") {
    if (args.size() < 2 || args[1] != "test") {
      return Error{ErrorCode::InvalidArgument, "unknown policy subcommand (expected: policy test)"};
    }
    out.command = CliCommand::PolicyTest;
    i = 2;
  } else if (first == "scan") {
    out.command = CliCommand::Scan;
    i = 1;
  } else if (first == "audit") {
    if (args.size() < 2 || args[1] != "verify") {
      return Error{ErrorCode::InvalidArgument, "unknown audit subcommand (expected: audit verify)"};
    }
    out.command = CliCommand::AuditVerify;
    i = 2;
  } else if (first == "encryption") {
    if (args.size() < 2 || args[1] != "new-key") {
      return Error{ErrorCode::InvalidArgument,
                   "unknown encryption subcommand (expected: encryption new-key)"};
    }
    out.command = CliCommand::EncryptionNewKey;
    i = 2;
  } else if (first == "version" || first == "--version") {
    out.command = CliCommand::Version;
    i = 1;
  } else if (first == "help" || first == "--help" || first == "-h") {
    out.command = CliCommand::Help;
    return out;
  } else if (first.substr(0, 8) == "--config") {
    out.command = CliCommand::Serve;
    i = 0;
  } else {
    return Error{ErrorCode::InvalidArgument, "unknown command: " + std::string(first)};
  }
  while (i < args.size()) {
    std::string error;
    bool used = false;
    if (out.command == CliCommand::Serve || out.command == CliCommand::Check) {
      used = takeOption(args, i, "--config", out.config_path, error);
    } else if (out.command == CliCommand::TokenNew) {
      used = takeOption(args, i, "--client", out.client, error);
    } else if (out.command == CliCommand::TokenMint) {
      used = takeOption(args, i, "--config", out.config_path, error) ||
             takeOption(args, i, "--client", out.client, error) ||
             takeOption(args, i, "--sub", out.sub, error) ||
             takeOption(args, i, "--ttl", out.ttl, error) ||
             takeOption(args, i, "--jti", out.jti, error);
    } else if (out.command == CliCommand::Explain) {
      used = takeOption(args, i, "--config", out.config_path, error) ||
             takeOption(args, i, "--client", out.client, error) ||
             takeOption(args, i, "--sub", out.sub, error) ||
             takeOption(args, i, "--route", out.route, error) ||
             takeOption(args, i, "--format", out.format, error) ||
             takeOption(args, i, "--json", out.json, error);
      if (!used && args[i] == "--") {
        for (++i; i < args.size(); ++i) out.argv.emplace_back(args[i]);
        used = true;
      }
    } else if (out.command == CliCommand::PolicyTest) {
      used = takeOption(args, i, "--config", out.config_path, error);
      if (!used && !args[i].empty() && args[i][0] != '-') {
        out.paths.emplace_back(args[i]);
        used = true;
        ++i;
      }
    } else if (out.command == CliCommand::AuditVerify) {
      if (args[i] == "--") {
        for (++i; i < args.size(); ++i) out.paths.emplace_back(args[i]);
        used = true;
      } else if (!args[i].empty() && args[i][0] != '-') {
        out.paths.emplace_back(args[i]);
        used = true;
        ++i;
      }
    } else if (out.command == CliCommand::Scan) {
      used = takeOption(args, i, "--config", out.config_path, error) ||
             takeOption(args, i, "--format", out.format, error);
      if (!used && args[i] == "--revoke") {
        out.revoke = true;
        used = true;
        ++i;
      } else if (!used && args[i] == "--") {
        for (++i; i < args.size(); ++i) out.paths.emplace_back(args[i]);
        used = true;
      } else if (!used && !args[i].empty() && args[i][0] != '-') {
        out.paths.emplace_back(args[i]);
        used = true;
        ++i;
      }
    }
    if (!error.empty()) return Error{ErrorCode::InvalidArgument, error};
    if (!used)
      return Error{ErrorCode::InvalidArgument, "unexpected argument: " + std::string(args[i])};
  }
  if ((out.command == CliCommand::Serve || out.command == CliCommand::Check ||
       out.command == CliCommand::TokenMint) &&
      out.config_path.empty()) {
    return Error{ErrorCode::InvalidArgument, "--config FILE is required"};
  }
  if (out.command == CliCommand::Explain) {
    if (out.config_path.empty() || out.client.empty()) {
      return Error{ErrorCode::InvalidArgument, "explain needs --config FILE and --client NAME"};
    }
    if (out.argv.empty() == out.json.empty()) {
      return Error{ErrorCode::InvalidArgument,
                   "explain needs the command after --, or --json '[[...]]' (one of them)"};
    }
    if (!out.format.empty() && out.format != "text" && out.format != "json") {
      return Error{ErrorCode::InvalidArgument, "--format must be text or json"};
    }
  }
  if (out.command == CliCommand::PolicyTest) {
    if (out.config_path.empty())
      return Error{ErrorCode::InvalidArgument, "--config FILE is required"};
    if (out.paths.empty()) return Error{ErrorCode::InvalidArgument, "policy test needs a TESTFILE"};
  }
  if (out.command == CliCommand::AuditVerify && out.paths.empty()) {
    return Error{ErrorCode::InvalidArgument, "audit verify needs a FILE (oldest first)"};
  }
  if (out.command == CliCommand::Scan) {
    if (out.paths.empty()) return Error{ErrorCode::InvalidArgument, "scan needs a PATH"};
    if (!out.format.empty() && out.format != "text" && out.format != "json" &&
        out.format != "sarif") {
      return Error{ErrorCode::InvalidArgument, "--format must be text, json or sarif"};
    }
    if (out.revoke && out.config_path.empty()) {
      return Error{ErrorCode::InvalidArgument, "--revoke needs --config FILE"};
    }
  }
  if ((out.command == CliCommand::TokenNew || out.command == CliCommand::TokenMint) &&
      out.client.empty()) {
    return Error{ErrorCode::InvalidArgument, "--client NAME is required"};
  }
  return out;
}

}  // namespace kw::proxy
