// The validated configuration (README, Configuration) as plain data, plus its value parsers.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/client_policy.h"
#include "policy/jwt.h"
#include "policy/quota.h"
#include "policy/quota_book.h"
#include "policy/result.h"

namespace kw::conf {

using Duration = std::chrono::milliseconds;

// "host:port", "[v6]:port" or ":port" (host empty = all interfaces). Port 0 = any free port.
struct HostPort {
  std::string host;  // without brackets: "127.0.0.1", "::1", "localhost", "" (wildcard)
  uint16_t port = 0;
  std::string text;  // as written in the file
};

// An IPv4 or IPv6 prefix. IPv4 is held as an IPv4-mapped IPv6 address (::ffff:a.b.c.d) with
// prefix_len + 96, so one comparison covers both families and v4-mapped peers.
struct Cidr {
  std::array<uint8_t, 16> addr{};  // network address, host bits zero
  uint8_t prefix_len = 0;          // 0..128 (in the IPv6 space)
  std::string text;                // as written in the file
  // `ip16` is a 16-byte IPv6 address (IPv4 peers as ::ffff:a.b.c.d).
  bool contains(const std::array<uint8_t, 16>& ip16) const;
};
// Parses a textual IPv4/IPv6 address into the 16-byte form used by Cidr::contains.
std::optional<std::array<uint8_t, 16>> parseIp(std::string_view text);
bool anyContains(const std::vector<Cidr>& cidrs, const std::array<uint8_t, 16>& ip16);

struct TlsConfig {
  std::string cert_file;       // absolute (resolved against the config file's directory)
  std::string key_file;        // absolute
  std::string client_ca_file;  // absolute; empty = no client certificates (no mTLS)
  enum class MinVersion : uint8_t { Tls12, Tls13 };
  MinVersion min_version = MinVersion::Tls12;
};

struct ListenConfig {
  HostPort address;              // required
  std::optional<TlsConfig> tls;  // absent = plaintext
  uint64_t max_body_bytes = 10485760;
  uint64_t max_connections = 10000;
  // All request bodies held at once across connections; past it new bodies wait (reading
  // stops) and are refused with 503 when they cannot start within header_timeout.
  uint64_t max_buffered_bytes = 268435456;
  // Unsent response bytes held at once across client connections; past it the connections
  // holding the most (stalled readers first) are closed until the total fits again.
  uint64_t max_output_bytes = 268435456;
  uint64_t max_subscriptions = 4096;  // SSE streams open at once, all clients; then 503
  // Connections from one source address (IPv4 address, IPv6 /64) not yet counted for a client
  // (TLS handshake, first head); 0 = half of max_connections. trusted_proxies are exempt.
  uint64_t max_unauthenticated_per_address = 0;
  Duration header_timeout{10000};
  Duration idle_timeout{60000};
  bool allow_query_token = false;
  std::vector<Cidr> trusted_proxies;  // default none
  // Event loops (threads), each accepting on its own socket: 0 = auto (the CPUs the process may
  // use; 1 with quota.store_url, whose leases are taken on one loop).
  uint32_t workers = 0;
  static constexpr uint32_t kMaxWorkers = 64;
};

struct AdminConfig {
  HostPort address{"127.0.0.1", 9091, "127.0.0.1:9091"};
  // Bearer token for /v1/* (from token_env / token_file). Empty = /v1/* refused.
  // SECRET: never log or print.
  std::string token;
};

enum class UpstreamKind : uint8_t { RestHttps, RestHttp, Redis, Rediss };

struct UpstreamConfig {
  // Resolved from url / url_env / url_file. May embed a password (redis://:pw@h): never print;
  // use `display` for messages.
  std::string url;
  std::string display;  // scheme://host:port/path, no userinfo
  UpstreamKind kind = UpstreamKind::RestHttps;
  std::string host;      // without brackets
  uint16_t port = 0;     // defaulted: 443 https, 80 http, 6379 redis/rediss
  std::string path;      // REST: base path without trailing '/' ("" for the root); Redis: ""
  uint32_t db = 0;       // Redis: the /N of redis://host:port/N
  std::string username;  // Redis: ACL user from the URL userinfo ("" = default user)
  // REST: the bearer token. Redis: the AUTH password (token_env/token_file, or the URL's
  // password when neither is given). Empty only for Redis without auth. SECRET.
  std::string token;
  std::string ca_file;  // absolute; empty = system CA store
  Duration timeout{5000};
  uint32_t connections = 8;
  // Redis mode: bounds on replies (RedisPoolOptions::max_reply_*).
  uint64_t max_reply_bytes = uint64_t{64} << 20;
  uint64_t max_reply_bytes_total = uint64_t{256} << 20;
  uint64_t max_reply_elements = uint64_t{1} << 20;
};

struct SigningKeyConfig {
  std::string id;
  policy::JwtAlg alg = policy::JwtAlg::EdDSA;
  std::string private_key_file;  // EdDSA, absolute; optional (only to mint)
  std::string public_key_file;   // EdDSA, absolute; required for EdDSA
  std::string secret;            // HS256 (from secret_env / secret_file). SECRET.
  std::string location;          // "FILE:LINE:COL" of the key's entry
};

struct SigningConfig {
  std::string issuer = "keyward";
  std::string audience = "keyward";
  std::vector<SigningKeyConfig> keys;  // first signs; all verify. Empty = no JWTs accepted.
  Duration max_ttl{24 * 3600 * 1000};
  Duration leeway{30000};
  std::string revoked_file;  // absolute; empty = none
};

struct QuotaConfig {
  std::string state_file;  // absolute; default "<config dir>/quota.state"; empty when store_url
  std::string store_url;   // optional redis:// or rediss:// URL; replaces state_file. May hold a
                           // password: never print.
  UpstreamConfig store;    // store_url parsed (kind Redis or Rediss) when it is set
};

// 0 = unlimited for every budget field.
// budget: the upstream plan's limits (0 = unlimited).
using BudgetConfig = policy::PlanBudget;

// audit: (README, Audit log). `file` empty = no audit log.
enum class AuditFailure : uint8_t {
  Refuse,    // while the file cannot be written, requests get 503 (nothing unaudited runs)
  Continue,  // requests go on; records that do not fit the buffer are dropped and counted
};
struct AuditConfig {
  std::string file;  // absolute
  bool log_keys = false;
  AuditFailure on_failure = AuditFailure::Refuse;
};

// encryption: (README, Value encryption).
enum class PlaintextReads : uint8_t {
  Refuse,  // a read finding a value that is not keyward's envelope is an error
  Pass,    // it is returned as it is (values written before the pattern was encrypted)
};
struct EncryptionKeyConfig {
  std::string id;
  std::string secret;    // 32 bytes, decoded from the base64 in secret_env / secret_file. SECRET.
  std::string location;  // "FILE:LINE:COL" of the key's entry
};
struct EncryptionConfig {
  std::vector<EncryptionKeyConfig> keys;  // the first seals; every one opens
  std::vector<std::string> patterns;      // key globs whose values are stored sealed
  PlaintextReads plaintext = PlaintextReads::Refuse;
};

// A client's limits. A Rate with count 0 (or a 0 day/month) means "no limit".
// limits: the quota ones (rate, burst, per_identity_rate, per_day, per_month), then shares.
struct LimitsConfig : policy::QuotaLimits {  // Open client connections attributed to this client; 0
                                             // = half of listen.max_connections.
  uint64_t max_connections = 0;
  // Shares of shared pools (README, Limits and shares). 0 = the default: half the pool.
  uint64_t max_subscriptions = 0;  // open SSE streams; pool: listen.max_subscriptions
  uint64_t max_in_flight = 0;      // requests at the upstream or queued for it; pool: the
                                   // upstream wait queue (10000)
};

using Sha256Digest = std::array<uint8_t, 32>;

struct ClientConfig {
  policy::ClientSpec spec;  // name, commands, keys, ..., functions
  // `shadow:` (README, Changing a policy safely): a candidate policy evaluated beside `spec` on
  // every request, never acting. Fields it does not name are the enforced ones.
  bool has_shadow = false;
  policy::ClientSpec shadow;
  std::vector<Sha256Digest> api_key_hashes;  // from api_keys: ["sha256:<hex>"]
  // `credentials: [api_key, jwt]`: the kinds of credential that may act as this client. Default:
  // api_key alone when api_keys is set, else jwt alone (a signing key holder can never act as a
  // client configured only with API keys unless the config says so).
  bool accepts_api_key = false;
  bool accepts_jwt = true;
  std::vector<Cidr> allow_ips;             // empty = any address
  std::vector<std::string> allow_origins;  // empty = no browser use
  LimitsConfig limits;
  std::string location;  // "FILE:LINE:COL" of the client's entry, for later errors
  // "FILE:LINE:COL" of each list element, keyed "commands[3]", "keys[0]", "shadow.keys[0]", ...
  // (for mapping ClientPolicy::compile errors back to the file).
  std::vector<std::pair<std::string, std::string>> element_locations;
};

struct Config {
  std::string source;    // the config file path as given ("<text>" for loadConfigText)
  std::string base_dir;  // directory that relative paths were resolved against
  ListenConfig listen;
  AdminConfig admin;
  UpstreamConfig upstream;
  SigningConfig signing;
  QuotaConfig quota;
  BudgetConfig budget;
  AuditConfig audit;
  EncryptionConfig encryption;
  std::vector<ClientConfig> clients;
  // "FILE:LINE:COL" of every file-path field that was set, keyed by its dotted name
  // ("listen.tls.cert_file", "signing.revoked_file", ...), for `keyward check`.
  std::vector<std::pair<std::string, std::string>> path_locations;
};

// Value parsers (also used by the CLI, e.g. `--ttl 15m`). Messages name no secret.
// "500ms", "30s", "15m", "2h", "7d": a decimal count (no sign, no fraction) and a unit.
Result<Duration> parseDuration(std::string_view text);
// "50/s", "100/m", "1000/h", "5000/d" (count/unit; also "10/500ms"-style durations are refused).
Result<policy::Rate> parseRate(std::string_view text);
// "host:port", "[v6]:port", ":port".
Result<HostPort> parseHostPort(std::string_view text);
// "10.0.0.0/8", "2001:db8::/32", or a single address (= /32 or /128).
Result<Cidr> parseCidr(std::string_view text);
// Parses an upstream URL into `out` (url, display, kind, host, port, path, db, username, and
// token when the URL carries a password).
Status parseUpstreamUrl(std::string_view url, UpstreamConfig& out);

std::string_view upstreamKindName(UpstreamKind kind);

}  // namespace kw::conf
