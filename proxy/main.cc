// keyward entry point: serve / check / token new / version (README, Command line).
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include <chrono>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "conf/api_key_gen.h"
#include "conf/loader.h"
#include "conf/snapshot.h"
#include "policy/credentials.h"
#include "policy/jwt.h"
#include "proxy/cli.h"
#include "proxy/scan/scan_command.h"
#include "proxy/serve/serve.h"
#include "proxy/tools/audit_verify_command.h"
#include "proxy/tools/explain_report.h"
#include "proxy/tools/policy_snapshot.h"
#include "proxy/tools/policy_test_runner.h"

#ifdef KW_WITH_JEMALLOC
// jemalloc's options, read by jemalloc before main (MALLOC_CONF in the environment still wins).
// oversize_threshold:0 turns off its dedicated arena for allocations over 8 MiB, whose memory is
// unmapped when freed and faulted in again by the next one: a 9.5 MB request body cost 153 ms of
// CPU with it and 23 ms without (attack round 12). Freed large buffers now decay like the rest
// (dirty_decay_ms, 10 s by default).
extern "C" {
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): jemalloc's interface
const char* malloc_conf = "oversize_threshold:0";
}
#endif

#ifndef KW_VERSION
#define KW_VERSION "0.0.0"
#endif
#ifndef KW_BUILD_TYPE
#define KW_BUILD_TYPE "unknown"
#endif

namespace kw::proxy {
namespace {

int fail(std::string_view message) {
  std::cerr << "keyward: " << message << "\n";
  return 1;
}

int runVersion() {
  std::cout << "keyward " << KW_VERSION << " (" << KW_BUILD_TYPE << ")\n"
            << OpenSSL_version(OPENSSL_VERSION) << "\n"
            << "libevent " << event_get_version() << "\n";
  return 0;
}

int runCheck(const std::string& path) {
  std::vector<std::string> warnings;
  std::vector<std::string> errors = conf::checkConfigFile(path, &warnings);
  // Warnings alone leave the exit status 0: the config is valid, it just grants less than it says.
  for (const auto& w : warnings) std::cout << w << "\n";
  for (const auto& e : errors) std::cout << e << "\n";
  if (errors.empty()) std::cout << path << ": ok\n";
  return errors.empty() ? 0 : 1;
}

int runTokenNew(const std::string& client) {
  auto key = conf::newApiKey();
  if (!key) return fail("cannot generate a key: " + key.error().message);
  (void)client;
  std::cout << key->key << "\n" << key->reference << "\n";
  return 0;
}

int runEncryptionNewKey() {
  auto key = conf::newValueKey();
  if (!key) return fail("cannot generate a key: " + key.error().message);
  std::cout << *key << "\n";
  return 0;
}

Result<conf::SnapshotConstSharedPtr> loadSnapshot(const std::string& path) {
  auto cfg = conf::loadConfigFile(path);
  if (!cfg) return cfg.error();
  return conf::buildSnapshot(std::move(*cfg));
}

int runTokenMint(const CliArgs& a) {
  auto snap = loadSnapshot(a.config_path);
  if (!snap) {
    std::cerr << snap.error().message << "\n";
    return fail("invalid configuration: " + a.config_path);
  }
  const conf::Snapshot& s = **snap;
  if (s.findClientByName(a.client) == nullptr) return fail("no client named " + a.client);
  if (!s.findClientByName(a.client)->config->accepts_jwt) {
    return fail("client " + a.client + " does not accept jwt credentials (its credentials: list)");
  }
  if (s.jwtKeys().empty()) return fail("signing.keys is empty: no key to sign with");
  const policy::JwtKey& key = *s.jwtKeys().front();
  if (!key.canSign()) {
    return fail("signing key " + key.id() + " cannot sign (EdDSA needs private_key_file)");
  }
  if (!a.sub.empty() && !policy::isValidSub(a.sub)) {
    return fail("--sub must match [A-Za-z0-9._@-]{1,128}");
  }
  if (!a.jti.empty() && !policy::isSafeJti(a.jti)) {
    return fail("--jti must match [A-Za-z0-9._:-]{1,128}");
  }
  int64_t ttl_s = 15 * 60;
  if (!a.ttl.empty()) {
    auto d = conf::parseDuration(a.ttl);
    if (!d) return fail("--ttl: " + d.error().message);
    ttl_s = d->count() / 1000;
  }
  if (ttl_s <= 0) return fail("--ttl must be at least 1s");
  if (ttl_s > s.jwtRules().max_ttl_s) return fail("--ttl exceeds signing.max_ttl");
  policy::JwtClaims claims;
  claims.client = a.client;
  claims.sub = a.sub;
  claims.jti = a.jti;
  claims.iat = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  claims.exp = claims.iat + ttl_s;
  auto token = policy::signJwt(key, claims, s.jwtRules());
  if (!token) return fail("cannot sign: " + token.error().message);
  std::cout << *token << "\n";
  return 0;
}

// The config as the policy tools read it; on an error, the messages on stderr and null.
conf::SnapshotConstSharedPtr policyConfig(const std::string& path) {
  auto snap = loadPolicySnapshot(path);
  if (snap) return *snap;
  std::cerr << snap.error().message << "\n";
  fail("invalid configuration: " + path);
  return nullptr;
}

int runExplain(const CliArgs& a) {
  const conf::SnapshotConstSharedPtr snap = policyConfig(a.config_path);
  if (!snap) return 2;
  ExplainRequest request;
  if (!a.json.empty()) {
    // The same body POST /v1/explain takes, with the client and sub from the flags.
    auto parsed = parseExplainBody("{\"client\":\"\",\"commands\":" + a.json + "}");
    if (!parsed) {
      fail("--json must be a JSON array of commands, each an array of strings (" +
           parsed.error().message + ")");
      return 2;
    }
    request = std::move(*parsed);
  } else {
    request.commands.push_back(a.argv);
  }
  request.client = a.client;
  request.sub = a.sub;
  if (!a.route.empty() && !parseRouteName(a.route, request.route)) {
    fail("--route must be command, pipeline, multi-exec or subscribe");
    return 2;
  }
  auto r = explainRequest(*snap, request, a.format == "json");
  if (!r) {
    fail(r.error().message);
    return 2;
  }
  std::cout << r->text;
  return r->allowed ? 0 : 1;
}

int runPolicyTest(const CliArgs& a) {
  const conf::SnapshotConstSharedPtr snap = policyConfig(a.config_path);
  if (!snap) return 2;
  return runPolicyTests(*snap, a.paths, std::cout, std::cerr);
}

int runScanCommand(const CliArgs& a) {
  ScanRequest request;
  request.paths = a.paths;
  request.config_path = a.config_path;
  request.revoke = a.revoke;
  request.format = a.format == "json"    ? ScanFormat::Json
                   : a.format == "sarif" ? ScanFormat::Sarif
                                         : ScanFormat::Text;
  return runScan(request, std::cout, std::cerr, KW_VERSION);
}

}  // namespace
}  // namespace kw::proxy

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  auto cli = kw::proxy::parseCli(args);
  if (!cli) {
    std::cerr << "keyward: " << cli.error().message << "\n" << kw::proxy::cliUsage();
    return 2;
  }
  switch (cli->command) {
    case kw::proxy::CliCommand::Serve:
      return kw::proxy::runServe(cli->config_path, KW_VERSION);
    case kw::proxy::CliCommand::Check:
      return kw::proxy::runCheck(cli->config_path);
    case kw::proxy::CliCommand::TokenNew:
      return kw::proxy::runTokenNew(cli->client);
    case kw::proxy::CliCommand::TokenMint:
      return kw::proxy::runTokenMint(*cli);
    case kw::proxy::CliCommand::Explain:
      return kw::proxy::runExplain(*cli);
    case kw::proxy::CliCommand::PolicyTest:
      return kw::proxy::runPolicyTest(*cli);
    case kw::proxy::CliCommand::Scan:
      return kw::proxy::runScanCommand(*cli);
    case kw::proxy::CliCommand::AuditVerify:
      return kw::proxy::runAuditVerify(cli->paths, std::cout, std::cerr);
    case kw::proxy::CliCommand::EncryptionNewKey:
      return kw::proxy::runEncryptionNewKey();
    case kw::proxy::CliCommand::Version:
      return kw::proxy::runVersion();
    case kw::proxy::CliCommand::Help:
      std::cout << kw::proxy::cliUsage();
      return 0;
  }
  return 2;
}
