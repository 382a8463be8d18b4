// Builds the immutable Snapshot: compiled client policies, API-key index, signing keys.
#include "conf/snapshot.h"

#include <openssl/crypto.h>

#include <cerrno>
#include <cstring>

#include "conf/schema.h"
#include "policy/credentials.h"

namespace kw::conf {
namespace {

constexpr size_t kMaxPresentedKeyBytes = 4096;

// Maps a ClientPolicy::compile error ("keys[2]: ...") to the element's FILE:LINE:COL.
std::string locateCompileError(const ClientConfig& c, size_t index, const std::string& message) {
  const size_t colon = message.find(": ");
  const std::string prefix = colon == std::string::npos ? "" : message.substr(0, colon);
  std::string where = c.location;
  std::string field = "clients[" + std::to_string(index) + "]";
  for (const auto& [key, loc] : c.element_locations) {
    if (key == prefix) {
      where = loc;
      field += ".";
      field += message.substr(0, colon);
      return where + ": " + field + ": " + message.substr(colon + 2);
    }
  }
  return where + ": " + field + ": " + message;
}

std::string keyWhere(const Config& config, const SigningKeyConfig& key) {
  return key.location.empty() ? config.source + ":1:1" : key.location;
}

Result<policy::JwtKeyConstSharedPtr> loadSigningKey(const Config& config,
                                                    const SigningKeyConfig& key, size_t index) {
  const std::string where =
      keyWhere(config, key) + ": signing.keys[" + std::to_string(index) + "]: ";
  switch (key.alg) {
    case policy::JwtAlg::HS256: {
      auto k = policy::JwtKey::fromSecret(key.id, key.secret);
      if (!k) return makeError(ErrorCode::Config, where + k.error().message);
      return k;
    }
    case policy::JwtAlg::EdDSA: {
      auto load = [&](const std::string& path,
                      bool is_private) -> Result<policy::JwtKeyConstSharedPtr> {
        std::string pem;
        std::string why;
        if (!readSecretFile(path, pem, why)) {
          return makeError(ErrorCode::Config, where + "cannot read " + path + ": " + why);
        }
        auto k = policy::JwtKey::fromPem(key.id, pem, is_private);
        OPENSSL_cleanse(pem.data(), pem.size());
        if (!k) return makeError(ErrorCode::Config, where + path + ": " + k.error().message);
        return k;
      };
      if (key.private_key_file.empty()) return load(key.public_key_file, false);
      auto k = load(key.private_key_file, true);
      if (!k || key.public_key_file.empty()) return k;
      // Both named: they must be one pair (attack round 15b: a stale private key whose public
      // half differed verified in place of public_key_file, which was ignored).
      auto pub = load(key.public_key_file, false);
      if (!pub) return pub.error();
      if (!(*k)->samePublicKey(**pub)) {
        return makeError(ErrorCode::Config,
                         where + key.private_key_file + " and " + key.public_key_file +
                             " are not one key pair (public_key_file must be the private key's "
                             "public half)");
      }
      return k;
    }
  }
  return makeError(ErrorCode::Internal, where + "unknown algorithm");
}

Result<SnapshotConstSharedPtr> build(std::shared_ptr<Snapshot> snap,
                                     std::vector<ClientEntry>& clients,
                                     std::vector<policy::JwtKeyConstSharedPtr>& keys) {
  const Config& config = snap->config();
  std::string errors;
  auto add = [&errors](const std::string& e) {
    if (!errors.empty()) errors += '\n';
    errors += e;
  };
  clients.reserve(config.clients.size());
  for (size_t i = 0; i < config.clients.size(); ++i) {
    const ClientConfig& c = config.clients[i];
    auto compiled = policy::ClientPolicy::compile(c.spec);
    if (!compiled) {
      add(oneLine(locateCompileError(c, i, compiled.error().message)));
      continue;
    }
    policy::ClientPolicyConstSharedPtr shadow;
    if (c.has_shadow) {
      auto s = policy::ClientPolicy::compile(c.shadow);
      if (!s) {
        add(oneLine(locateCompileError(c, i, "shadow." + s.error().message)));
        continue;
      }
      shadow = std::move(*s);
    }
    clients.push_back(ClientEntry{&c, std::move(*compiled), i, std::move(shadow)});
  }
  for (size_t i = 0; i < config.signing.keys.size(); ++i) {
    auto k = loadSigningKey(config, config.signing.keys[i], i);
    if (!k) {
      add(k.error().message);
      continue;
    }
    keys.push_back(std::move(*k));
  }
  if (!errors.empty()) return makeError(ErrorCode::Config, errors);
  return SnapshotConstSharedPtr(std::move(snap));
}

}  // namespace

size_t Snapshot::DigestHash::operator()(const Sha256Digest& d) const {
  size_t h = 0;
  std::memcpy(&h, d.data(), sizeof(h));  // a SHA-256 prefix is already uniformly distributed
  return h;
}

const ClientEntry* Snapshot::findClientByApiKey(std::string_view presented_key,
                                                policy::Sha256* digest_out) const {
  if (presented_key.empty() || presented_key.size() > kMaxPresentedKeyBytes) return nullptr;
  const policy::Sha256 digest = policy::sha256(presented_key);
  if (digest_out != nullptr) *digest_out = digest;
  auto it = by_key_digest_.find(digest);
  if (it == by_key_digest_.end()) return nullptr;
  if (CRYPTO_memcmp(it->first.data(), digest.data(), digest.size()) != 0) return nullptr;
  return &clients_[it->second];
}

const ClientEntry* Snapshot::findClientByName(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &clients_[it->second];
}

Result<SnapshotConstSharedPtr> buildSnapshot(Config config) {
  // encryption.patterns is part of every client's decision (policy/value_rules.h).
  for (ClientConfig& c : config.clients) {
    c.spec.encrypted_keys = config.encryption.patterns;
    c.shadow.encrypted_keys = config.encryption.patterns;
    c.spec.max_grown_value_bytes = config.listen.max_body_bytes;
    c.shadow.max_grown_value_bytes = config.listen.max_body_bytes;
    c.spec.max_reply_elements = config.upstream.max_reply_elements;
    c.shadow.max_reply_elements = config.upstream.max_reply_elements;
  }
  std::vector<policy::ValueKey> value_keys;
  for (const EncryptionKeyConfig& k : config.encryption.keys) {
    auto key = policy::ValueKey::make(k.id, k.secret);
    if (!key) return makeError(ErrorCode::Config, k.location + ": encryption key is not usable");
    value_keys.push_back(std::move(*key));
  }
  std::shared_ptr<Snapshot> snap(new Snapshot(std::move(config)));
  snap->value_keyring_ = policy::ValueKeyring(std::move(value_keys));
  auto r = build(snap, snap->clients_, snap->jwt_keys_);
  if (!r) return r;
  std::string errors;
  for (size_t i = 0; i < snap->clients_.size(); ++i) {
    const ClientEntry& e = snap->clients_[i];
    if (!snap->by_name_.emplace(e.config->spec.name, i).second) {
      errors += e.config->location + ": duplicate client name\n";
    }
    for (const Sha256Digest& d : e.config->api_key_hashes) {
      if (!snap->by_key_digest_.emplace(d, i).second) {
        errors += e.config->location + ": an API key is used by two clients\n";
      }
    }
  }
  if (!errors.empty()) {
    errors.pop_back();
    return makeError(ErrorCode::Config, errors);
  }
  const SigningConfig& s = snap->config_.signing;
  snap->jwt_rules_.issuer = s.issuer;
  snap->jwt_rules_.audience = s.audience;
  snap->jwt_rules_.max_ttl_s = s.max_ttl.count() / 1000;
  snap->jwt_rules_.leeway_s = s.leeway.count() / 1000;
  return SnapshotConstSharedPtr(std::move(snap));
}

Result<SnapshotConstSharedPtr> buildSnapshotWithoutKeys(Config config) {
  config.signing.keys.clear();
  return buildSnapshot(std::move(config));
}

Result<std::unordered_set<std::string>> loadRevokedFile(const std::string& path) {
  std::unordered_set<std::string> out;
  std::string text;
  std::string why;
  // A regular file only: a FIFO put there would hang every reload (attack round 24). errno is
  // cleared first: only open() failing with ENOENT means "no file" (no revocations yet).
  errno = 0;
  if (!readRegularFile(path, kMaxRevokedBytes, text, why)) {
    if (errno == ENOENT) return out;
    return makeError(ErrorCode::Io, path + ": cannot read: " + why);
  }
  std::string_view rest = text;
  while (!rest.empty()) {
    const size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    out.emplace(line);
    if (out.size() > kMaxRevokedEntries) {
      return makeError(ErrorCode::TooLarge,
                       path + ": more than " + std::to_string(kMaxRevokedEntries) + " entries");
    }
  }
  return out;
}

std::optional<std::string> settingNeedingRestart(const Config& running, const Config& next) {
  const ListenConfig& a = running.listen;
  const ListenConfig& b = next.listen;
  const UpstreamConfig& ua = running.upstream;
  const UpstreamConfig& ub = next.upstream;
  // Secrets are compared, never named by value.
  const std::pair<const char*, bool> checks[] = {
      {"listen.address", a.address.host != b.address.host || a.address.port != b.address.port},
      {"listen.tls", a.tls.has_value() != b.tls.has_value()},
      {"listen.tls.client_ca_file",
       a.tls && b.tls && a.tls->client_ca_file != b.tls->client_ca_file},
      {"listen.max_body_bytes", a.max_body_bytes != b.max_body_bytes},
      {"listen.max_connections", a.max_connections != b.max_connections},
      {"listen.max_output_bytes", a.max_output_bytes != b.max_output_bytes},
      {"listen.max_buffered_bytes", a.max_buffered_bytes != b.max_buffered_bytes},
      {"listen.max_unauthenticated_per_address",
       a.max_unauthenticated_per_address != b.max_unauthenticated_per_address},
      {"listen.header_timeout", a.header_timeout != b.header_timeout},
      {"listen.idle_timeout", a.idle_timeout != b.idle_timeout},
      {"listen.workers", a.workers != b.workers},
      {"admin.address", running.admin.address.host != next.admin.address.host ||
                            running.admin.address.port != next.admin.address.port},
      {"admin.token", running.admin.token != next.admin.token},
      {"upstream.url", ua.url != ub.url},
      {"upstream.token", ua.token != ub.token},
      {"upstream.ca_file", ua.ca_file != ub.ca_file},
      {"upstream.timeout", ua.timeout != ub.timeout},
      {"upstream.connections", ua.connections != ub.connections},
      {"quota.state_file", running.quota.state_file != next.quota.state_file},
      {"quota.store_url", running.quota.store_url != next.quota.store_url},
      {"audit.file", running.audit.file != next.audit.file},
      {"audit.on_failure", running.audit.on_failure != next.audit.on_failure},
  };
  for (const auto& [name, differs] : checks) {
    if (differs) return std::string(name);
  }
  return std::nullopt;
}

}  // namespace kw::conf
