// An immutable, validated config with compiled client policies and an API-key index.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "conf/config.h"
#include "policy/client_policy.h"
#include "policy/credentials.h"
#include "policy/jwt.h"
#include "policy/result.h"
#include "policy/value_cipher.h"

namespace kw::conf {

struct ClientEntry {
  const ClientConfig* config = nullptr;  // points into Snapshot::config.clients
  policy::ClientPolicyConstSharedPtr policy;
  size_t index = 0;                           // position in config.clients
  policy::ClientPolicyConstSharedPtr shadow;  // the `shadow:` candidate, or null
};

class Snapshot {
 public:
  const Config& config() const { return config_; }
  const std::vector<ClientEntry>& clients() const { return clients_; }

  // SHA-256 of the presented key, looked up by digest and confirmed with CRYPTO_memcmp.
  // nullptr when no client holds the key.
  // `digest` (optional) receives the key's SHA-256 whenever it was computed (a key of a sane
  // length), matched or not.
  const ClientEntry* findClientByApiKey(std::string_view presented_key,
                                        policy::Sha256* digest = nullptr) const;
  const ClientEntry* findClientByName(std::string_view name) const;

  // Signing keys loaded from signing.keys (PEM files read, HS256 secrets wrapped), in order;
  // the first one signs. Empty when no keys are configured.
  const std::vector<policy::JwtKeyConstSharedPtr>& jwtKeys() const { return jwt_keys_; }
  const policy::JwtRules& jwtRules() const { return jwt_rules_; }
  // encryption.keys, in order (README, Value encryption); empty when none.
  const policy::ValueKeyring& valueKeyring() const { return value_keyring_; }

  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

 private:
  friend Result<std::shared_ptr<const Snapshot>> buildSnapshot(Config config);
  friend Result<std::shared_ptr<const Snapshot>> buildSnapshotWithoutKeys(Config config);
  explicit Snapshot(Config config) : config_(std::move(config)) {}

  Config config_;
  std::vector<ClientEntry> clients_;
  struct DigestHash {
    size_t operator()(const Sha256Digest& d) const;
  };
  std::unordered_map<Sha256Digest, size_t, DigestHash> by_key_digest_;  // -> clients_ index
  std::unordered_map<std::string_view, size_t> by_name_;                // views into config_
  std::vector<policy::JwtKeyConstSharedPtr> jwt_keys_;
  policy::JwtRules jwt_rules_;
  policy::ValueKeyring value_keyring_;
};
using SnapshotConstSharedPtr = std::shared_ptr<const Snapshot>;

// Compiles every client policy and loads the signing keys (reads their PEM files). Errors are
// "FILE:LINE:COL: message" lines (client policy errors at the client's entry).
Result<SnapshotConstSharedPtr> buildSnapshot(Config config);
// Same, without reading signing key files (jwtKeys() empty); for tests and tools.
Result<SnapshotConstSharedPtr> buildSnapshotWithoutKeys(Config config);

// The revocation list: one jti per line; blank lines and lines starting with '#' ignored.
// A missing file is an empty list. Bounded (1,000,000 entries, 64 MiB).
// Bounds of signing.revoked_file (checked by loadRevokedFile and by the admin revoke writer).
inline constexpr size_t kMaxRevokedBytes = size_t{64} * 1024 * 1024;
inline constexpr size_t kMaxRevokedEntries = 1000000;

Result<std::unordered_set<std::string>> loadRevokedFile(const std::string& path);

// The first setting that differs between `running` and `next` and that a reload cannot apply
// completely (it is read once at start: listeners, upstream, quota storage, admin token), as
// its dotted name ("upstream.url"); nullopt when `next` may replace `running`. A reload that
// changed one is refused whole: half-applying it could send a new upstream token to the old
// upstream (or the old token to a new one). Everything else (clients, signing, budget,
// listen.tls cert/key/min_version, allow_query_token, trusted_proxies, audit) applies at once.
std::optional<std::string> settingNeedingRestart(const Config& running, const Config& next);

}  // namespace kw::conf
