// The config file's sections (listen, admin, upstream, signing, quota, budget, audit) and root.
#include <openssl/crypto.h>

#include <algorithm>

#include "conf/schema.h"
#include "conf/schema_util.h"
#include "policy/base64url.h"
#include "policy/key_pattern.h"
#include "policy/value_cipher.h"

namespace kw::conf {
namespace {

constexpr uint64_t kMaxU64 = ~0ULL;

// Header-safe token: visible ASCII only (no space, no control byte).
bool isHeaderSafe(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

void readAddress(Ctx& ctx, const YamlNode& n, std::string_view field, HostPort& out) {
  std::string text;
  if (!readString(ctx, n, field, text, 300)) return;
  auto hp = parseHostPort(text);
  if (!hp) {
    ctx.error(n.mark, field, hp.error().message);
    return;
  }
  out = std::move(*hp);
}

void readCidrs(Ctx& ctx, const YamlNode& n, std::string_view field, std::vector<Cidr>& out) {
  std::vector<std::string> texts;
  if (!readStringList(ctx, n, field, kMaxPatternsPerList, 64, texts)) return;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto c = parseCidr(texts[i]);
    if (!c) {
      ctx.error(n.items[i].mark, std::string(field) + "[" + std::to_string(i) + "]",
                c.error().message);
      continue;
    }
    out.push_back(std::move(*c));
  }
}

void readTls(Ctx& ctx, const YamlNode& n, std::optional<TlsConfig>& out) {
  MapReader m(ctx, n, "listen.tls");
  if (!m.valid()) return;
  TlsConfig tls;
  m.requireKey("cert_file");
  m.requireKey("key_file");
  if (const YamlNode* v = m.get("cert_file")) readPath(ctx, *v, m.sub("cert_file"), tls.cert_file);
  if (const YamlNode* v = m.get("key_file")) readPath(ctx, *v, m.sub("key_file"), tls.key_file);
  if (const YamlNode* v = m.getPresent("client_ca_file")) {
    readPath(ctx, *v, m.sub("client_ca_file"), tls.client_ca_file);
  }
  if (const YamlNode* v = m.get("min_version")) {
    std::string s;
    if (readString(ctx, *v, m.sub("min_version"), s, 16)) {
      if (s == "1.2") {
        tls.min_version = TlsConfig::MinVersion::Tls12;
      } else if (s == "1.3") {
        tls.min_version = TlsConfig::MinVersion::Tls13;
      } else {
        ctx.error(v->mark, m.sub("min_version"), "expected \"1.2\" or \"1.3\", got " + quote(s));
      }
    }
  }
  m.finish();
  out = std::move(tls);
}

void readListen(Ctx& ctx, const YamlNode& n, ListenConfig& out) {
  MapReader m(ctx, n, "listen");
  if (!m.valid()) return;
  m.requireKey("address");
  if (const YamlNode* v = m.get("address")) readAddress(ctx, *v, m.sub("address"), out.address);
  if (const YamlNode* v = m.getPresent("tls")) readTls(ctx, *v, out.tls);
  if (const YamlNode* v = m.get("max_body_bytes")) {
    readUint(ctx, *v, m.sub("max_body_bytes"), 1, 1ULL << 30, out.max_body_bytes);
  }
  if (const YamlNode* v = m.get("max_connections")) {
    readUint(ctx, *v, m.sub("max_connections"), 1, 1000000, out.max_connections);
  }
  if (const YamlNode* v = m.get("max_buffered_bytes")) {
    readUint(ctx, *v, m.sub("max_buffered_bytes"), 1, 1ULL << 40, out.max_buffered_bytes);
  }
  if (const YamlNode* v = m.get("max_output_bytes")) {
    readUint(ctx, *v, m.sub("max_output_bytes"), 1048576, 1ULL << 40, out.max_output_bytes);
  }
  if (const YamlNode* v = m.get("max_subscriptions")) {
    readUint(ctx, *v, m.sub("max_subscriptions"), 1, 100000, out.max_subscriptions);
  }
  if (const YamlNode* v = m.get("max_unauthenticated_per_address")) {
    readUint(ctx, *v, m.sub("max_unauthenticated_per_address"), 1, 1000000,
             out.max_unauthenticated_per_address);
  }
  if (const YamlNode* v = m.get("header_timeout")) {
    readDurationField(ctx, *v, m.sub("header_timeout"), Duration(1), out.header_timeout);
  }
  if (const YamlNode* v = m.get("idle_timeout")) {
    readDurationField(ctx, *v, m.sub("idle_timeout"), Duration(1), out.idle_timeout);
  }
  if (const YamlNode* v = m.get("allow_query_token")) {
    readBool(ctx, *v, m.sub("allow_query_token"), out.allow_query_token);
  }
  if (const YamlNode* v = m.get("trusted_proxies")) {
    readCidrs(ctx, *v, m.sub("trusted_proxies"), out.trusted_proxies);
  }
  if (const YamlNode* v = m.get("workers")) {
    uint64_t count = 0;
    if (v->isScalar() && v->scalar == "auto") {
      out.workers = 0;
    } else if (v->isScalar() && !v->scalar.empty() &&
               v->scalar.find_first_not_of("0123456789") != std::string::npos) {
      ctx.error(v->mark, m.sub("workers"),
                "expected auto or a count in 1.." + std::to_string(ListenConfig::kMaxWorkers) +
                    ", got " + quote(v->scalar));
    } else if (readUint(ctx, *v, m.sub("workers"), 1, ListenConfig::kMaxWorkers, count)) {
      out.workers = static_cast<uint32_t>(count);
    }
  }
  // A client's bodies hold at most half of the total, and a body of the largest size (a chunked
  // one reserves that much) must fit a half, else it is refused 429 forever (attack round 13).
  if (out.max_buffered_bytes / 2 < out.max_body_bytes) {
    ctx.error(m.mark(), m.sub("max_buffered_bytes"),
              "must be at least twice listen.max_body_bytes (each client's request bodies hold at "
              "most half, and one body of the largest size must fit)");
  }
  m.finish();
}

void readAdmin(Ctx& ctx, const YamlNode& n, AdminConfig& out) {
  MapReader m(ctx, n, "admin");
  if (!m.valid()) return;
  if (const YamlNode* v = m.get("address")) readAddress(ctx, *v, m.sub("address"), out.address);
  YamlMark where;
  if (readSecret(ctx, m, "token", false, out.token, where) == SecretRead::Found) {
    if (!isHeaderSafe(out.token) || out.token.size() < 16 || out.token.size() > 4096) {
      ctx.error(where, m.sub("token"),
                "the admin token must be 16-4096 visible ASCII characters (no spaces)");
    }
  }
  m.finish();
}

void readUpstream(Ctx& ctx, const YamlNode& n, UpstreamConfig& out) {
  MapReader m(ctx, n, "upstream");
  if (!m.valid()) return;
  if (const YamlNode* v = m.getPresent("ca_file")) readPath(ctx, *v, m.sub("ca_file"), out.ca_file);
  if (const YamlNode* v = m.get("timeout")) {
    readDurationField(ctx, *v, m.sub("timeout"), Duration(1), out.timeout);
  }
  if (const YamlNode* v = m.get("connections")) {
    uint64_t c = out.connections;
    if (readUint(ctx, *v, m.sub("connections"), 1, 1024, c))
      out.connections = static_cast<uint32_t>(c);
  }
  std::string url;
  YamlMark url_mark;
  const bool url_literal = m.getPresent("url") != nullptr;
  const SecretRead url_read = readSecret(ctx, m, "url", true, url, url_mark);
  bool url_ok = false;
  if (url_read == SecretRead::Absent) {
    ctx.error(m.mark(), "upstream", "missing required key \"url\" (or url_env / url_file)");
  } else if (url_read == SecretRead::Found) {
    Status st = parseUpstreamUrl(url, out);  // keeps ca_file, timeout, connections
    if (!st) {
      ctx.error(url_mark, m.sub("url"), st.error().message);
    } else if (url_literal && !out.token.empty()) {
      ctx.error(url_mark, m.sub("url"),
                "the URL carries a password, and secrets never sit in the config file; use "
                "url_env or url_file, or token_env / token_file for the password");
    } else {
      url_ok = true;
    }
  }
  std::string token;
  YamlMark token_mark;
  const SecretRead token_read = readSecret(ctx, m, "token", false, token, token_mark);
  const bool rest = out.kind == UpstreamKind::RestHttps || out.kind == UpstreamKind::RestHttp;
  if (token_read == SecretRead::Found && url_ok) {
    if (!out.token.empty()) {
      ctx.error(token_mark, m.sub("token"),
                "the upstream URL already carries a password; keep only one of them");
    } else if (rest && (!isHeaderSafe(token) || token.size() > 4096)) {
      ctx.error(token_mark, m.sub("token"),
                "the upstream token must be visible ASCII characters (no spaces), at most 4096");
    } else {
      out.token = std::move(token);
    }
  } else if (token_read == SecretRead::Absent && url_ok && rest) {
    ctx.error(m.mark(), "upstream",
              "missing required key \"token_env\" (or token_file): the REST API needs a token");
  }
  // Read after the URL: parseUpstreamUrl rebuilds `out`.
  if (const YamlNode* v = m.get("max_reply_bytes")) {
    readUint(ctx, *v, m.sub("max_reply_bytes"), 1024, 1ULL << 30, out.max_reply_bytes);
  }
  if (const YamlNode* v = m.get("max_reply_bytes_total")) {
    readUint(ctx, *v, m.sub("max_reply_bytes_total"), 1024, 1ULL << 34, out.max_reply_bytes_total);
  }
  if (const YamlNode* v = m.get("max_reply_elements")) {
    readUint(ctx, *v, m.sub("max_reply_elements"), 1, 1ULL << 26, out.max_reply_elements);
  }
  // Each client may hold half of the total, and one reply of the largest size must fit a half.
  if (out.max_reply_bytes_total / 2 < out.max_reply_bytes) {
    ctx.error(m.mark(), m.sub("max_reply_bytes_total"),
              "must be at least twice upstream.max_reply_bytes (each client holds at most half)");
  }
  m.finish();
}

void readSigningKey(Ctx& ctx, const YamlNode& n, const std::string& field, SigningKeyConfig& out) {
  MapReader m(ctx, n, field);
  if (!m.valid()) return;
  out.location = ctx.loc(n.mark);
  m.requireKey("id");
  m.requireKey("alg");
  if (const YamlNode* v = m.get("id")) {
    if (readString(ctx, *v, m.sub("id"), out.id, 128) && out.id.empty()) {
      ctx.error(v->mark, m.sub("id"), "must not be empty");
    }
  }
  bool alg_ok = false;
  if (const YamlNode* v = m.get("alg")) {
    std::string alg;
    if (readString(ctx, *v, m.sub("alg"), alg, 16)) {
      if (alg == "EdDSA") {
        out.alg = policy::JwtAlg::EdDSA, alg_ok = true;
      } else if (alg == "HS256") {
        out.alg = policy::JwtAlg::HS256, alg_ok = true;
      } else {
        ctx.error(v->mark, m.sub("alg"), "expected EdDSA or HS256, got " + quote(alg));
      }
    }
  }
  const YamlNode* priv = m.getPresent("private_key_file");
  const YamlNode* pub = m.getPresent("public_key_file");
  if (priv != nullptr) readPath(ctx, *priv, m.sub("private_key_file"), out.private_key_file);
  if (pub != nullptr) readPath(ctx, *pub, m.sub("public_key_file"), out.public_key_file);
  YamlMark where;
  const SecretRead secret = readSecret(ctx, m, "secret", false, out.secret, where);
  if (alg_ok && out.alg == policy::JwtAlg::EdDSA) {
    if (secret != SecretRead::Absent) {
      ctx.error(where, m.sub("secret"), "an EdDSA key takes key files, not a secret");
    } else if (priv == nullptr && pub == nullptr) {
      ctx.error(m.mark(), field, "an EdDSA key needs public_key_file (or private_key_file)");
    }
  } else if (alg_ok) {
    if (priv != nullptr || pub != nullptr) {
      ctx.error((priv != nullptr ? priv : pub)->mark, field,
                "an HS256 key takes secret_env or secret_file, not key files");
    } else if (secret == SecretRead::Absent) {
      ctx.error(m.mark(), field, "an HS256 key needs secret_env or secret_file");
    } else if (secret == SecretRead::Found && out.secret.size() < 32) {
      ctx.error(where, m.sub("secret"), "an HS256 secret must be at least 32 bytes");
    }
  }
  m.finish();
}

void readSigning(Ctx& ctx, const YamlNode& n, SigningConfig& out) {
  MapReader m(ctx, n, "signing");
  if (!m.valid()) return;
  if (const YamlNode* v = m.get("issuer")) readString(ctx, *v, m.sub("issuer"), out.issuer, 256);
  if (const YamlNode* v = m.get("audience")) {
    readString(ctx, *v, m.sub("audience"), out.audience, 256);
  }
  if (const YamlNode* v = m.get("max_ttl")) {
    readDurationField(ctx, *v, m.sub("max_ttl"), Duration(1000), out.max_ttl);
  }
  if (const YamlNode* v = m.get("leeway")) {
    readDurationField(ctx, *v, m.sub("leeway"), Duration(0), out.leeway);
  }
  if (const YamlNode* v = m.getPresent("revoked_file")) {
    readPath(ctx, *v, m.sub("revoked_file"), out.revoked_file);
  }
  if (const YamlNode* v = m.getPresent("keys")) {
    if (!v->isSequence()) {
      ctx.error(v->mark, m.sub("keys"), "expected a list of keys, got " + kindName(*v));
    } else if (v->items.size() > kMaxSigningKeys) {
      ctx.error(v->mark, m.sub("keys"), "more than " + std::to_string(kMaxSigningKeys) + " keys");
    } else {
      for (size_t i = 0; i < v->items.size(); ++i) {
        SigningKeyConfig key;
        const std::string field = m.sub("keys") + "[" + std::to_string(i) + "]";
        readSigningKey(ctx, v->items[i], field, key);
        for (const SigningKeyConfig& other : out.keys) {
          if (!key.id.empty() && other.id == key.id) {
            ctx.error(v->items[i].mark, field, "duplicate key id " + quote(key.id));
          }
        }
        out.keys.push_back(std::move(key));
      }
    }
  }
  m.finish();
}

void readQuota(Ctx& ctx, const YamlNode& n, QuotaConfig& out) {
  MapReader m(ctx, n, "quota");
  if (!m.valid()) return;
  const YamlNode* state = m.getPresent("state_file");
  if (state != nullptr) readPath(ctx, *state, m.sub("state_file"), out.state_file);
  std::string url;
  YamlMark where;
  const bool literal = m.getPresent("store_url") != nullptr;
  if (readSecret(ctx, m, "store_url", true, url, where) == SecretRead::Found) {
    UpstreamConfig parsed;
    Status st = parseUpstreamUrl(url, parsed);
    if (!st || (parsed.kind != UpstreamKind::Redis && parsed.kind != UpstreamKind::Rediss)) {
      ctx.error(where, m.sub("store_url"), "expected a redis:// or rediss:// URL");
    } else if (literal && !parsed.token.empty()) {
      ctx.error(where, m.sub("store_url"),
                "the URL carries a password, and secrets never sit in the config file; use "
                "store_url_env or store_url_file");
    } else if (state != nullptr) {
      ctx.error(where, m.sub("store_url"), "replaces state_file: set only one of them");
    } else {
      out.store_url = std::move(url);
      out.store = std::move(parsed);
      out.state_file.clear();
    }
  }
  m.finish();
}

void readBudget(Ctx& ctx, const YamlNode& n, BudgetConfig& out) {
  MapReader m(ctx, n, "budget");
  if (!m.valid()) return;
  if (const YamlNode* v = m.get("per_second")) {
    readUint(ctx, *v, m.sub("per_second"), 0, kMaxU64 >> 1, out.per_second);
  }
  if (const YamlNode* v = m.get("per_day")) {
    readUint(ctx, *v, m.sub("per_day"), 0, kMaxU64 >> 1, out.per_day);
  }
  if (const YamlNode* v = m.get("per_month")) {
    readUint(ctx, *v, m.sub("per_month"), 0, kMaxU64 >> 1, out.per_month);
  }
  m.finish();
}

// A value key's secret: 32 bytes in base64 (standard or url alphabet, padding optional), as
// `keyward encryption new-key` prints it. Messages never hold the secret.
bool decodeValueSecret(std::string_view text, std::string& out) {
  std::string url;
  for (char c : text) {
    if (c == '=') continue;
    url.push_back(c == '+' ? '-' : c == '/' ? '_' : c);
  }
  return policy::base64UrlDecode(url, out) && out.size() == policy::kValueKeyBytes;
}

void readEncryptionKey(Ctx& ctx, const YamlNode& n, const std::string& field,
                       EncryptionKeyConfig& out) {
  MapReader m(ctx, n, field);
  if (!m.valid()) return;
  out.location = ctx.loc(n.mark);
  m.requireKey("id");
  if (const YamlNode* v = m.get("id")) {
    if (readString(ctx, *v, m.sub("id"), out.id, policy::kMaxValueKeyId) &&
        !policy::isValidValueKeyId(out.id)) {
      ctx.error(v->mark, m.sub("id"), "expected 1-32 of A-Z a-z 0-9 _ -, got " + quote(out.id));
    }
  }
  YamlMark where;
  std::string text;
  const SecretRead secret = readSecret(ctx, m, "secret", false, text, where);
  if (secret == SecretRead::Absent) {
    ctx.error(m.mark(), field, "a key needs secret_env or secret_file");
  } else if (secret == SecretRead::Found && !decodeValueSecret(text, out.secret)) {
    ctx.error(where, m.sub("secret"),
              "expected 32 bytes in base64 (keyward encryption new-key prints one)");
  }
  OPENSSL_cleanse(text.data(), text.size());
  m.finish();
}

void readEncryption(Ctx& ctx, const YamlNode& n, EncryptionConfig& out) {
  MapReader m(ctx, n, "encryption");
  if (!m.valid()) return;
  const YamlNode* keys = m.getPresent("keys");
  if (keys != nullptr) {
    if (!keys->isSequence()) {
      ctx.error(keys->mark, m.sub("keys"), "expected a list of keys, got " + kindName(*keys));
    } else if (keys->items.size() > policy::kMaxValueKeys) {
      ctx.error(keys->mark, m.sub("keys"),
                "more than " + std::to_string(policy::kMaxValueKeys) + " keys");
    } else {
      for (size_t i = 0; i < keys->items.size(); ++i) {
        EncryptionKeyConfig key;
        const std::string field = m.sub("keys") + "[" + std::to_string(i) + "]";
        readEncryptionKey(ctx, keys->items[i], field, key);
        for (const EncryptionKeyConfig& other : out.keys) {
          if (!key.id.empty() && other.id == key.id) {
            ctx.error(keys->items[i].mark, field, "duplicate key id " + quote(key.id));
          }
        }
        out.keys.push_back(std::move(key));
      }
    }
  }
  if (const YamlNode* v = m.get("patterns")) {
    if (readStringList(ctx, *v, m.sub("patterns"), kMaxPatternsPerList, kMaxPatternBytes,
                       out.patterns)) {
      for (size_t i = 0; i < out.patterns.size(); ++i) {
        const std::string field = m.sub("patterns") + "[" + std::to_string(i) + "]";
        auto p = policy::KeyPattern::compile(out.patterns[i], policy::kAccessReadWrite, field);
        if (!p) {
          ctx.error(v->items[i].mark, field, p.error().message);
        } else if (p->isTemplate()) {
          ctx.error(v->items[i].mark, field, "{sub} templates are not allowed here");
        }
      }
      if (!out.patterns.empty() && keys == nullptr) {
        ctx.error(v->mark, m.sub("patterns"), "needs encryption.keys (at least one key)");
      }
    }
  }
  if (keys != nullptr && keys->isSequence() && keys->items.empty()) {
    ctx.error(keys->mark, m.sub("keys"), "needs at least one key");
  }
  if (const YamlNode* v = m.get("plaintext")) {
    std::string s;
    if (readString(ctx, *v, m.sub("plaintext"), s, 16)) {
      if (s == "refuse") {
        out.plaintext = PlaintextReads::Refuse;
      } else if (s == "pass") {
        out.plaintext = PlaintextReads::Pass;
      } else {
        ctx.error(v->mark, m.sub("plaintext"), "expected refuse or pass, got " + quote(s));
      }
    }
  }
  m.finish();
}

void readAudit(Ctx& ctx, const YamlNode& n, AuditConfig& out) {
  MapReader m(ctx, n, "audit");
  if (!m.valid()) return;
  if (const YamlNode* v = m.getPresent("file")) readPath(ctx, *v, m.sub("file"), out.file);
  if (const YamlNode* v = m.get("log_keys")) readBool(ctx, *v, m.sub("log_keys"), out.log_keys);
  if (const YamlNode* v = m.get("on_failure")) {
    std::string s;
    if (readString(ctx, *v, m.sub("on_failure"), s, 16)) {
      if (s == "refuse") {
        out.on_failure = AuditFailure::Refuse;
      } else if (s == "continue") {
        out.on_failure = AuditFailure::Continue;
      } else {
        ctx.error(v->mark, m.sub("on_failure"), "expected refuse or continue");
      }
    }
  }
  m.finish();
}

}  // namespace

void readConfig(const YamlNode& root, const std::string& source, const std::string& base_dir,
                const EnvLookup& env, Config& out, std::vector<std::string>& errors) {
  Ctx ctx(source, base_dir, env, errors);
  out = Config{};
  ctx.path_locations = &out.path_locations;
  out.source = source;
  out.base_dir = base_dir;
  out.quota.state_file = ctx.resolve("quota.state");
  if (root.isNull()) {
    ctx.error(root.mark, "", "empty configuration (listen, upstream and clients are required)");
    return;
  }
  MapReader m(ctx, root, "");
  if (!m.valid()) return;
  for (const char* key : {"listen", "upstream", "clients"}) m.requireKey(key);
  if (const YamlNode* v = m.get("listen")) readListen(ctx, *v, out.listen);
  const YamlNode* admin = m.getPresent("admin");
  if (admin != nullptr) readAdmin(ctx, *admin, out.admin);
  if (const YamlNode* v = m.get("upstream")) readUpstream(ctx, *v, out.upstream);
  if (const YamlNode* v = m.getPresent("signing")) readSigning(ctx, *v, out.signing);
  if (const YamlNode* v = m.getPresent("quota")) readQuota(ctx, *v, out.quota);
  if (const YamlNode* v = m.getPresent("budget")) readBudget(ctx, *v, out.budget);
  if (const YamlNode* v = m.getPresent("audit")) readAudit(ctx, *v, out.audit);
  if (const YamlNode* v = m.getPresent("encryption")) readEncryption(ctx, *v, out.encryption);
  if (const YamlNode* v = m.get("clients")) readClients(ctx, *v, out.clients);
  if (out.listen.workers > 1 && !out.quota.store_url.empty()) {
    YamlMark at = root.mark;
    for (const YamlEntry& e : root.entries) {
      if (e.first.scalar != "listen") continue;
      for (const YamlEntry& f : e.second.entries) {
        if (f.first.scalar == "workers") at = f.second.mark;
      }
    }
    ctx.error(at, "listen.workers",
              "quota.store_url takes its leases on one event loop: set workers to 1 or auto");
  }
  const HostPort& a = out.admin.address;
  if (a.port != 0 && a.port == out.listen.address.port && a.host == out.listen.address.host) {
    ctx.error(admin != nullptr ? admin->mark : root.mark, "admin.address",
              "the admin listener needs its own address (it equals listen.address)");
  }
  m.finish();
}

}  // namespace kw::conf
