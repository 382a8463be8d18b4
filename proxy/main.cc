// keyward entry point: serve / check / token new / version (README, Command line).
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "conf/api_key_gen.h"
#include "conf/loader.h"
#include "conf/snapshot.h"
#include "policy/credentials.h"
#include "policy/jwt.h"
#include "proxy/admin/admin_server.h"
#include "proxy/admin/token_admin.h"
#include "proxy/cli.h"
#include "proxy/codec/json_escape.h"
#include "proxy/codec/reply_json.h"
#include "proxy/io/access_log.h"
#include "proxy/io/audit_log.h"
#include "proxy/io/event_loop.h"
#include "proxy/io/file_stamp.h"
#include "proxy/quota/quota_state_file.h"
#include "proxy/router/request_router.h"
#include "proxy/scan/scan_command.h"
#include "proxy/server/gateway_server.h"
#include "proxy/server/server_tls.h"
#include "proxy/tools/audit_verify_command.h"
#include "proxy/tools/explain_report.h"
#include "proxy/tools/policy_snapshot.h"
#include "proxy/tools/policy_test_runner.h"
#include "proxy/upstream/redis/quota_store.h"
#include "proxy/upstream/redis/redis_upstream.h"
#include "proxy/upstream/rest/rest_upstream.h"
#include "proxy/upstream/value_crypt.h"

#ifndef KW_VERSION
#define KW_VERSION "0.0.0"
#endif
#ifndef KW_BUILD_TYPE
#define KW_BUILD_TYPE "unknown"
#endif

namespace kw::proxy {
namespace {

constexpr Milliseconds kDrainLimit{25000};
// Embedded quota: counters are saved this often (when changed), so a crash re-grants at most
// the commands of the last interval (documented in the README).
constexpr Milliseconds kQuotaSaveEvery{1000};
// A request waiting for a store lease waits at most this long (then 429: fail closed).
constexpr Milliseconds kQuotaStoreTimeout{2000};

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

// POST /v1/explain on the admin listener: the current snapshot's decisions, nothing forwarded.
std::function<bool(std::string_view, std::string_view, int&, std::string&)> withExplain(
    std::function<bool(std::string_view, std::string_view, int&, std::string&)> next,
    RequestRouter& router) {
  return [next = std::move(next), &router](std::string_view path, std::string_view body,
                                           int& status, std::string& out) {
    if (path != "/v1/explain") return next(path, body, status, out);
    auto request = parseExplainBody(body);
    auto r = request ? explainRequest(*router.snapshot(), *request, true)
                     : Result<Explanation>(request.error());
    status = r ? 200 : 400;
    out = r ? std::move(r->text) : codec::jsonError("ERR " + r.error().message);
    return true;
  };
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

// SHA-256 of a file's contents ("" for no path, "unreadable" when it cannot be read), to see
// whether a trust anchor read at start has changed on disk.
std::string fileDigest(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream in(path, std::ios::binary);
  if (!in) return "unreadable";
  std::ostringstream ss;
  ss << in.rdbuf();
  return policy::sha256Hex(ss.str());
}

void printListening(std::string_view address, bool tls, bool admin) {
  std::string line = "{\"time\":";
  codec::appendJsonString(line, nowRfc3339());
  line += ",\"event\":\"listening\",";
  if (admin) line += "\"listener\":\"admin\",";
  line += "\"address\":";
  codec::appendJsonString(line, address);
  line += tls ? ",\"tls\":true}" : ",\"tls\":false}";
  std::cout << line << std::endl;
}

std::string metricsText(const RequestRouter& router, const GatewayServer& server,
                        const UpstreamStats& u, const AuditLog* audit) {
  const RequestRouter::Stats& s = router.stats();
  PrometheusText p;
  p.counter("keyward_requests_total", "Requests answered (streams counted once)", s.requests);
  p.sample("counter", "keyward_responses_total", "Responses by status class", "class", "2xx",
           s.status_2xx);
  p.sample("counter", "keyward_responses_total", "Responses by status class", "class", "4xx",
           s.status_4xx);
  p.sample("counter", "keyward_responses_total", "Responses by status class", "class", "5xx",
           s.status_5xx);
  p.counter("keyward_denied_total", "Requests with a denial (auth, policy, rate)", s.denied);
  p.counter("keyward_rate_limited_total", "Requests refused with 429", s.rate_limited);
  p.counter("keyward_upstream_errors_total", "Requests failed by the upstream", s.upstream_errors);
  p.counter("keyward_sse_streams_total", "SSE streams started", s.streams);
  p.counter("keyward_jwt_cache_hits_total",
            "JWTs recognised as verified before (no signature check; time and revocation checked)",
            router.verifiedTokens().hits());
  p.gauge("keyward_jwt_cache_entries", "Verified JWTs remembered (bounded at 16,384)",
          router.verifiedTokens().size());
  p.gauge("keyward_client_connections", "Open client connections", server.connectionCount());
  p.counter("keyward_client_connections_accepted_total", "Client connections accepted",
            server.accepted());
  p.counter("keyward_unauthenticated_refused_total",
            "Connections refused at accept: their address held "
            "listen.max_unauthenticated_per_address",
            server.anonymousRefused());
  p.gauge("keyward_client_output_bytes", "Unsent response bytes held for client connections",
          server.outputBytes());
  p.counter("keyward_output_shed_total",
            "Client connections closed because listen.max_output_bytes was reached",
            server.outputShed());
  p.gauge("keyward_upstream_connections", "Open upstream connections", u.connections);
  p.gauge("keyward_upstream_in_flight", "Upstream requests in flight", u.in_flight);
  p.gauge("keyward_upstream_queued", "Upstream requests waiting", u.queued);
  p.gauge("keyward_upstream_reply_bytes",
          "Upstream replies held until sent, bytes plus 72 per parsed value "
          "(upstream.max_reply_bytes_total)",
          u.reply_bytes);
  p.gauge("keyward_upstream_subscriptions", "Upstream subscription connections", u.subscriptions);
  p.gauge("keyward_upstream_detached_relays",
          "REST relays (long or paused replies) on connections of their own", u.detached);
  const RequestRouter::Latencies& lat = router.latencies();
  for (size_t i = 0; i < RequestRouter::kRouteLabels.size(); ++i) {
    p.histogram("keyward_request_duration_seconds",
                "From a request's complete head to its answer (a stream: to its start), by route",
                "route", RequestRouter::kRouteLabels[i], lat.request[i]);
  }
  p.histogram("keyward_upstream_duration_seconds",
              "Upstream round trip of requests that went upstream", "", "", lat.upstream);
  for (const auto& [client, n] : router.clientDecisions()) {
    for (size_t i = 0; i < RequestRouter::kDecisionLabels.size(); ++i) {
      p.sample("counter", "keyward_client_requests_total",
               "Requests by client (configured names) and decision",
               {{"client", client}, {"decision", RequestRouter::kDecisionLabels[i]}}, n[i]);
    }
  }
  for (const auto& [reason, n] : router.denialsByReason()) {
    p.sample("counter", "keyward_denials_total",
             "Refused requests and requests with denied commands, by reason", "reason", reason, n);
  }
  for (const auto& [client, n] : router.shadowMismatches()) {
    constexpr std::string_view kHelp =
        "Requests on which a client's shadow policy decided otherwise (shadow=allow: it allowed "
        "more, deny: it denied more)";
    p.sample("counter", "keyward_shadow_mismatches_total", kHelp,
             {{"client", client}, {"shadow", "allow"}}, n[0]);
    p.sample("counter", "keyward_shadow_mismatches_total", kHelp,
             {{"client", client}, {"shadow", "deny"}}, n[1]);
  }
  const QuotaLedger::Stats& q = router.quota().stats();
  p.counter("keyward_quota_refused_total", "Requests refused by a rate or budget limit", q.refused);
  p.counter("keyward_quota_store_leases_total", "Lease calls to quota.store_url", q.store_fetches);
  p.counter("keyward_quota_store_failures_total", "Failed lease calls (budgets failed closed)",
            q.store_failures);
  p.gauge("keyward_quota_lease_held", "Leased budget not yet spent (store mode)",
          router.quota().leaseHeld());
  if (audit != nullptr) {
    const AuditLog::Stats a = audit->stats();
    p.counter("keyward_audit_records_total", "Audit records written to audit.file", a.written);
    p.counter("keyward_audit_dropped_total",
              "Audit records dropped because the buffer was full (each gap is marked in the file)",
              a.dropped);
    p.counter("keyward_audit_failures_total", "Failed opens and writes of audit.file", a.failures);
    p.gauge("keyward_audit_buffered_bytes", "Audit records waiting for the disk, bytes",
            a.buffered_bytes);
    p.gauge("keyward_audit_failing", "1 while audit.file cannot be written", a.failing ? 1 : 0);
  }
  const ValueCryptStats& vc = valueCryptStats();
  p.counter("keyward_encryption_encrypted_total",
            "Values sealed under encryption.keys before they went upstream",
            vc.encrypted.load(std::memory_order_relaxed));
  p.counter("keyward_encryption_decrypted_total", "Values opened from upstream replies",
            vc.decrypted.load(std::memory_order_relaxed));
  p.counter("keyward_encryption_failures_total",
            "Command replies answered 'could not be decrypted' (tampered, moved, unknown key id, "
            "or plaintext under a pattern)",
            vc.failures.load(std::memory_order_relaxed));
  return p.text();
}

int runServe(const std::string& path) {
  std::signal(SIGPIPE, SIG_IGN);
  // Access lines collect in 64 KiB (not stdio's 4 KiB) between the 100 ms flushes: fewer
  // write(2) calls on the request path. Set before anything is written to stdout.
  static char log_buffer[64 * 1024];
  std::setvbuf(stdout, log_buffer, _IOFBF, sizeof log_buffer);
  auto snap = loadSnapshot(path);
  if (!snap) {
    std::cerr << snap.error().message << "\n";
    return fail("invalid configuration: " + path);
  }
  conf::SnapshotConstSharedPtr snapshot = std::move(*snap);
  const conf::Config& cfg = snapshot->config();
  const bool rest_mode = cfg.upstream.kind == conf::UpstreamKind::RestHttps ||
                         cfg.upstream.kind == conf::UpstreamKind::RestHttp;
  auto base_r = makeEventBase();
  if (!base_r) return fail(base_r.error().message);
  EventBasePtr base = std::move(*base_r);

  std::unique_ptr<Upstream> upstream;
  if (rest_mode) {  // https:// or http://
    RestPoolOptions ro;
    ro.host = cfg.upstream.host;
    ro.port = cfg.upstream.port;
    ro.tls = cfg.upstream.kind == conf::UpstreamKind::RestHttps;
    ro.ca_file = cfg.upstream.ca_file;
    ro.timeout = cfg.upstream.timeout;
    ro.connections = cfg.upstream.connections;
    ro.max_streams = 100000;  // the router enforces listen.max_subscriptions (reloadable)
    auto r = RestUpstream::create(base.get(), std::move(ro));
    if (!r) return fail("upstream " + cfg.upstream.display + ": " + r.error().message);
    upstream = std::move(*r);
  } else {  // redis:// or rediss://
    RedisPoolOptions uo;
    uo.endpoint = redisEndpoint(cfg.upstream);
    uo.ca_file = cfg.upstream.ca_file;
    uo.timeout = cfg.upstream.timeout;
    uo.connections = cfg.upstream.connections;
    uo.max_reply_bytes = cfg.upstream.max_reply_bytes;
    uo.max_reply_bytes_total = cfg.upstream.max_reply_bytes_total;
    uo.max_reply_elements = cfg.upstream.max_reply_elements;
    uo.max_subscriptions = 100000;  // the router enforces listen.max_subscriptions (reloadable)
    auto r = RedisUpstream::create(base.get(), std::move(uo));
    if (!r) return fail("upstream " + cfg.upstream.display + ": " + r.error().message);
    upstream = std::move(*r);
  }

  SslCtxPtr tls_ctx;
  if (cfg.listen.tls) {
    auto ctx = makeServerTlsContext(*cfg.listen.tls);
    if (!ctx) return fail(ctx.error().message);
    tls_ctx = std::move(*ctx);
  }
  RequestRouter router(snapshot, *upstream);
  // The audit log's writer thread; reopened on SIGHUP (rotation), drained at exit.
  std::unique_ptr<AuditLog> audit;
  if (!cfg.audit.file.empty()) {
    AuditLog::Options ao;
    ao.path = cfg.audit.file;
    ao.refuse = cfg.audit.on_failure == conf::AuditFailure::Refuse;
    auto opened = AuditLog::open(std::move(ao));
    if (!opened) return fail(opened.error().message);
    audit = std::move(*opened);
    router.setAudit(audit.get());
  }
  // Quota counters: leased from a shared store, or kept here and saved to the state file.
  std::unique_ptr<QuotaStore> quota_store;
  const std::string state_file = cfg.quota.store_url.empty() ? cfg.quota.state_file : "";
  if (!cfg.quota.store_url.empty()) {
    auto st = QuotaStore::create(base.get(), cfg.quota.store,
                                 std::min(cfg.upstream.timeout, kQuotaStoreTimeout));
    if (!st) return fail("quota.store_url: " + st.error().message);
    quota_store = std::move(*st);
    router.quota().useLeases(quota_store.get());
  } else if (!state_file.empty()) {
    auto loaded = loadQuotaStateFile(state_file);
    if (!loaded) return fail(loaded.error().message);
    if (*loaded) router.quota().restore(**loaded);
  }
  // Snapshots on the loop, file I/O (fsync) on the writer's thread.
  std::optional<QuotaStateWriter> quota_writer;
  if (!state_file.empty()) quota_writer.emplace(state_file);
  Timer quota_saver(base.get(), [&] {
    std::string err = quota_writer->takeError();
    if (!err.empty()) logEvent("quota_state_save_failed", {{"error", err}});
    if (!router.quota().dirty() && err.empty()) return;  // a failed write is retried
    quota_writer->submit(router.quota().state());
    router.quota().markSaved();
  });
  if (quota_writer) quota_saver.armPeriodic(kQuotaSaveEvery);
  auto server_r = GatewayServer::create(base.get(), cfg.listen, router, std::move(tls_ctx));
  if (!server_r) return fail(server_r.error().message);
  std::unique_ptr<GatewayServer> server = std::move(*server_r);
  logEvent("started", {{"version", KW_VERSION},
                       {"upstream", upstream->describe()},
                       {"clients", std::to_string(cfg.clients.size())},
                       {"quota", quota_store          ? "store " + quota_store->describe()
                                 : state_file.empty() ? std::string("memory")
                                                      : "state_file " + state_file}});

  // Readiness: Upstream::probe every 2 s (Redis: a PING; REST: a verified warm connection, as
  // Upstash bills every command). A wrong REST token shows on the first request (502 and an
  // upstream_failed log line naming the cause).
  auto probeUpstream = [&] { upstream->probe(); };
  Timer pinger(base.get(), probeUpstream);
  pinger.armPeriodic(Milliseconds(2000));
  // A stream whose token expires is closed within a quarter second of its exp (+ leeway).
  Timer stream_expiry(base.get(), [&] {
    router.recheckStreams(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count(),
                          true);
  });
  stream_expiry.armPeriodic(Milliseconds(250));
  // signing.revoked_file is re-read within a second of any change to it (`keyward scan
  // --revoke`, an operator's edit), not only on a reload or POST /v1/tokens/revoke.
  FileStamp revoked_stamp = fileStamp(router.snapshot()->config().signing.revoked_file);
  Timer revocation_watch(base.get(), [&] {
    const FileStamp now = fileStamp(router.snapshot()->config().signing.revoked_file);
    if (now == revoked_stamp) return;
    revoked_stamp = now;
    router.reloadRevocations();
  });
  revocation_watch.armPeriodic(Milliseconds(1000));
  // The chain's head on stdout once a minute (and at exit): a copy kept by the log pipeline,
  // apart from the audit file, against which a rewritten file shows (docs/audit-log.md).
  uint64_t checkpointed = 0;
  auto auditCheckpoint = [&] {
    const AuditLog::Stats a = audit->stats();
    if (a.written == checkpointed) return;
    checkpointed = a.written;
    logEvent("audit_checkpoint", {{"records", std::to_string(a.written)}, {"sha256", a.head}});
  };
  Timer audit_checkpoints(base.get(), auditCheckpoint);
  if (audit) audit_checkpoints.armPeriodic(Milliseconds(60000));
  // The writer thread's failures and recoveries, logged from the loop.
  auto logAuditEvents = [&] {
    for (const auto& [event, detail] : audit->takeEvents()) {
      std::vector<std::pair<std::string_view, std::string>> fields;
      if (!detail.empty()) fields.emplace_back("error", detail);
      logEvent(event, fields);
    }
  };
  Timer log_flusher(base.get(), [&] {
    if (audit) logAuditEvents();
    flushLogs();
  });
  log_flusher.armPeriodic(Milliseconds(100));
  probeUpstream();

  bool stopping = false;
  Timer drain_deadline(base.get(), [&] {
    logEvent("drain_timeout", {{"open_connections", std::to_string(server->connectionCount())}});
    event_base_loopexit(base.get(), nullptr);
  });
  auto stop = [&](std::string_view sig) {
    if (stopping) {
      event_base_loopexit(base.get(), nullptr);
      return;
    }
    stopping = true;
    logEvent("stopping", {{"signal", std::string(sig)}});
    drain_deadline.arm(kDrainLimit);
    pinger.cancel();
    // Drained: unused store leases go back before exit (a lost lease is budget never spent).
    server->beginDrain(
        [&] { router.quota().returnLeases([&] { event_base_loopexit(base.get(), nullptr); }); });
  };
  // SIGHUP and POST /v1/reload: the new config (and certificates, signing keys, revocation
  // list) replaces the old one only when all of it is valid.
  // The upstream's trust anchor as read at start (its TLS context is built once).
  const std::string upstream_ca_digest = fileDigest(cfg.upstream.ca_file);
  // mTLS trust anchor: connections verified under the old CA would stay open after a change.
  const std::string client_ca_digest =
      cfg.listen.tls ? fileDigest(cfg.listen.tls->client_ca_file) : std::string();
  auto reloadNow = [&](std::string& message) {
    auto fresh = loadSnapshot(path);
    if (!fresh) {
      message = fresh.error().message;
      logEvent("reload_failed", {{"errors", message}});
      return false;
    }
    const conf::Config& next = (*fresh)->config();
    // All or nothing: a setting read once at start refuses the whole reload (the old config
    // keeps serving), so no secret ever goes to a peer it was not configured for.
    std::optional<std::string> restart = conf::settingNeedingRestart(cfg, next);
    if (!restart && fileDigest(next.upstream.ca_file) != upstream_ca_digest) {
      restart = "upstream.ca_file (its contents)";
    }
    if (!restart && next.listen.tls &&
        fileDigest(next.listen.tls->client_ca_file) != client_ca_digest) {
      restart = "listen.tls.client_ca_file (its contents)";
    }
    if (restart) {
      message = *restart + " needs a restart";
      logEvent("reload_failed", {{"errors", message}});
      return false;
    }
    if (next.listen.tls && server->tls()) {
      auto ctx = makeServerTlsContext(*next.listen.tls);
      if (!ctx) {
        message = ctx.error().message;
        logEvent("reload_failed", {{"errors", message}});
        return false;
      }
      server->setTlsContext(std::move(*ctx));
    }
    router.setSnapshot(std::move(*fresh));
    message = "reloaded";
    logEvent("reloaded", {{"clients", std::to_string(router.snapshot()->config().clients.size())}});
    return true;
  };
  auto reload = [&] {
    std::string message;
    (void)reloadNow(message);
  };
  AdminHooks hooks;
  hooks.ready = [&] { return upstream->ready() && !stopping && !router.auditRefusing(); };
  hooks.draining = [&] { return stopping; };
  hooks.metrics = [&] { return metricsText(router, *server, upstream->stats(), audit.get()); };
  hooks.reload = reloadNow;
  hooks.v1_post = withExplain(tokenAdminHook(router), router);
  auto admin_r = AdminServer::create(base.get(), cfg.admin.address, cfg.admin.token, hooks);
  if (!admin_r) return fail("admin listener: " + admin_r.error().message);
  std::unique_ptr<AdminServer> admin = std::move(*admin_r);
  // Printed once both listeners are bound: whoever waits for the line may use either at once.
  printListening(server->boundAddress(), server->tls(), false);
  printListening(admin->boundAddress(), false, true);

  auto sigterm = SignalEvent::create(base.get(), SIGTERM, [&] { stop("SIGTERM"); });
  auto sigint = SignalEvent::create(base.get(), SIGINT, [&] { stop("SIGINT"); });
  auto sighup = SignalEvent::create(base.get(), SIGHUP, [&] {
    if (audit) audit->reopen();  // first: records of the reload's own requests go to the new file
    reload();
  });
  if (!sigterm || !sigint || !sighup) return fail("cannot install signal handlers");

  event_base_dispatch(base.get());
  quota_saver.cancel();
  if (quota_writer) {
    Status st = quota_writer->saveNow(router.quota().state());
    if (!st) logEvent("quota_state_save_failed", {{"error", st.error().message}});
  }
  admin->close();
  admin.reset();
  server->closeAll();
  server.reset();
  upstream.reset();
  if (audit) {
    router.setAudit(nullptr);
    const uint64_t lost = audit->close(std::chrono::seconds(5));
    logAuditEvents();
    if (lost != 0) logEvent("audit_records_lost", {{"records", std::to_string(lost)}});
    auditCheckpoint();
    // A writer still blocked in write(2) (a hung disk) was left behind: the process exits
    // around it, so the object it uses must stay alive.
    if (audit->stuck()) (void)audit.release();
  }
  logEvent("stopped");
  return 0;
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
      return kw::proxy::runServe(cli->config_path);
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
