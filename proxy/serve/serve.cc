// The control thread of `keyward serve` and the workers it starts; see serve.h.
#include "proxy/serve/serve.h"

#include <event2/event.h>

#include <algorithm>
#include <atomic>
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

#include "conf/loader.h"
#include "conf/snapshot.h"
#include "policy/credentials.h"
#include "proxy/admin/admin_server.h"
#include "proxy/admin/token_admin.h"
#include "proxy/codec/json_escape.h"
#include "proxy/codec/reply_json.h"
#include "proxy/io/access_log.h"
#include "proxy/io/audit_log.h"
#include "proxy/io/event_loop.h"
#include "proxy/io/file_stamp.h"
#include "proxy/io/loop_mailbox.h"
#include "proxy/quota/quota_state_file.h"
#include "proxy/serve/serve_metrics.h"
#include "proxy/serve/worker.h"
#include "proxy/serve/worker_count.h"
#include "proxy/server/server_tls.h"
#include "proxy/tools/explain_report.h"

namespace kw::proxy {
namespace {

constexpr Milliseconds kDrainLimit{25000};
// Embedded quota: counters are saved this often (when changed), so a crash re-grants at most
// the commands of the last interval (documented in the README).
constexpr Milliseconds kQuotaSaveEvery{1000};
// A request waiting for a store lease waits at most this long (then 429: fail closed).
constexpr Milliseconds kQuotaStoreTimeout{2000};
// How long /metrics and /readyz wait for a busy worker's answer.
constexpr Milliseconds kWorkerAnswer{1000};

int fail(std::string_view message) {
  std::cerr << "keyward: " << message << "\n";
  return 1;
}

Result<conf::SnapshotConstSharedPtr> loadSnapshot(const std::string& path) {
  auto cfg = conf::loadConfigFile(path);
  if (!cfg) return cfg.error();
  return conf::buildSnapshot(std::move(*cfg));
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

// POST /v1/explain on the admin listener: the current snapshot's decisions, nothing forwarded.
std::function<bool(std::string_view, std::string_view, int&, std::string&)> withExplain(
    std::function<bool(std::string_view, std::string_view, int&, std::string&)> next,
    RouterShared& shared) {
  return [next = std::move(next), &shared](std::string_view path, std::string_view body,
                                           int& status, std::string& out) {
    if (path != "/v1/explain") return next(path, body, status, out);
    auto request = parseExplainBody(body);
    auto r = request ? explainRequest(*shared.snapshot(), *request, true)
                     : Result<Explanation>(request.error());
    status = r ? 200 : 400;
    out = r ? std::move(r->text) : codec::jsonError("ERR " + r.error().message);
    return true;
  };
}

}  // namespace

int runServe(const std::string& path, const std::string& version) {
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
  const uint32_t workers = resolveWorkers(cfg);
  auto base_r = makeEventBase();
  if (!base_r) return fail(base_r.error().message);
  EventBasePtr base = std::move(*base_r);  // the control loop

  SslCtxPtr tls_ctx;
  if (cfg.listen.tls) {
    auto ctx = makeServerTlsContext(*cfg.listen.tls);
    if (!ctx) return fail(ctx.error().message);
    tls_ctx = std::move(*ctx);
  }
  ListenerLedger listener(cfg.listen, std::move(tls_ctx));
  listener.setWorkers(workers);
  RouterShared shared(snapshot);
  // The audit log's writer thread; reopened on SIGHUP (rotation), drained at exit.
  std::unique_ptr<AuditLog> audit;
  if (!cfg.audit.file.empty()) {
    AuditLog::Options ao;
    ao.path = cfg.audit.file;
    ao.refuse = cfg.audit.on_failure == conf::AuditFailure::Refuse;
    auto opened = AuditLog::open(std::move(ao));
    if (!opened) return fail(opened.error().message);
    audit = std::move(*opened);
  }
  // Quota counters: leased from a shared store, or kept here and saved to the state file.
  const std::string state_file = cfg.quota.store_url.empty() ? cfg.quota.state_file : "";
  if (!state_file.empty()) {
    auto loaded = loadQuotaStateFile(state_file);
    if (!loaded) return fail(loaded.error().message);
    if (*loaded) shared.quota().restore(**loaded);
  }

  Worker::Common common;
  common.config = &cfg;
  common.router = &shared;
  common.listener = &listener;
  common.sync_tokens = std::make_shared<RestUpstream::SyncTokens>();
  common.audit = audit.get();
  common.count = workers;
  common.tenant_activity = std::make_shared<TenantActivity>(workers);
  std::vector<std::unique_ptr<Worker>> pool;
  for (uint32_t i = 0; i < workers; ++i) {
    // Worker 0 binds listen.address (port 0: any); the others bind the port it got.
    const uint16_t port = i == 0 ? cfg.listen.address.port : pool.front()->boundPort();
    auto w = Worker::create(common, i, port);
    if (!w) return fail(w.error().message);
    pool.push_back(std::move(*w));
  }
  if (!cfg.quota.store_url.empty()) {
    Status st = pool.front()->useQuotaStore(cfg.quota.store,
                                            std::min(cfg.upstream.timeout, kQuotaStoreTimeout));
    if (!st) return fail("quota.store_url: " + st.error().message);
  }
  auto forEachWorker = [&](const std::function<void(Worker&)>& fn) {
    for (auto& w : pool) fn(*w);
  };

  // Snapshots on the loop, file I/O (fsync) on the writer's thread.
  std::optional<QuotaStateWriter> quota_writer;
  if (!state_file.empty()) quota_writer.emplace(state_file);
  Timer quota_saver(base.get(), [&] {
    std::string err = quota_writer->takeError();
    if (!err.empty()) logEvent("quota_state_save_failed", {{"error", err}});
    if (auto changed = shared.quota().takeChangedState()) {
      quota_writer->submit(std::move(*changed));
    } else if (!err.empty()) {
      quota_writer->submit(shared.quota().state());  // a failed write is retried
    }
  });
  if (quota_writer) quota_saver.armPeriodic(kQuotaSaveEvery);
  logEvent("started",
           {{"version", version},
            {"upstream", pool.front()->describeUpstream()},
            {"clients", std::to_string(cfg.clients.size())},
            {"workers", std::to_string(workers)},
            {"quota", !cfg.quota.store_url.empty() ? "store " + pool.front()->describeQuotaStore()
                      : state_file.empty()         ? std::string("memory")
                                                   : "state_file " + state_file}});

  // A new config or revocation list, in force for every worker at once: each router compares
  // the shared generation before every admission; the post has each re-check its open streams
  // now rather than at its next request.
  auto everyWorkerTakesShared = [&] { forEachWorker([](Worker& w) { w.takeShared(); }); };
  // signing.revoked_file is re-read within a second of any change to it (`keyward scan
  // --revoke`, an operator's edit), not only on a reload or POST /v1/tokens/revoke.
  Timer revocation_watch(base.get(), [&] {
    const FileStamp now = fileStamp(shared.snapshot()->config().signing.revoked_file);
    if (now == shared.revokedFileStamp()) return;
    shared.reloadRevocations();
    everyWorkerTakesShared();
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

  // Workers tell the control loop they ended through its mailbox; the last one ends it.
  auto control_r = LoopMailbox::create(base.get());
  if (!control_r) return fail(control_r.error().message);
  std::unique_ptr<LoopMailbox> control = std::move(*control_r);
  uint32_t ended = 0;
  bool stopping = false;
  Timer drain_deadline(base.get(), [&] {
    logEvent("drain_timeout", {{"open_connections", std::to_string(listener.connections())}});
    forEachWorker([](Worker& w) { w.stop(); });
  });
  auto stop = [&](std::string_view sig) {
    if (stopping) {
      forEachWorker([](Worker& w) { w.stop(); });
      return;
    }
    stopping = true;
    logEvent("stopping", {{"signal", std::string(sig)}});
    drain_deadline.arm(kDrainLimit);
    forEachWorker([](Worker& w) { w.drain(); });
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
    if (next.listen.tls && listener.tls()) {
      auto ctx = makeServerTlsContext(*next.listen.tls);
      if (!ctx) {
        message = ctx.error().message;
        logEvent("reload_failed", {{"errors", message}});
        return false;
      }
      listener.setTlsContext(std::move(*ctx));
    }
    shared.setSnapshot(std::move(*fresh));
    everyWorkerTakesShared();
    message = "reloaded";
    logEvent("reloaded", {{"clients", std::to_string(shared.snapshot()->config().clients.size())}});
    return true;
  };
  auto reload = [&] {
    std::string message;
    (void)reloadNow(message);
  };
  auto samples = [&] {
    std::vector<std::optional<WorkerSample>> out;
    out.reserve(pool.size());
    for (auto& w : pool) out.push_back(w->sample(kWorkerAnswer));
    return out;
  };
  AdminHooks hooks;
  hooks.ready = [&] {
    if (stopping || (audit && !audit->accepting())) return false;
    // Ready when every worker answers and its upstream does.
    return std::all_of(pool.begin(), pool.end(),
                       [](const auto& w) { return w->upstreamReady(kWorkerAnswer); });
  };
  hooks.draining = [&] { return stopping; };
  hooks.metrics = [&] { return metricsText(samples(), listener, shared.quota(), audit.get()); };
  hooks.reload = reloadNow;
  hooks.v1_post = withExplain(tokenAdminHook(shared, everyWorkerTakesShared), shared);
  auto admin_r = AdminServer::create(base.get(), cfg.admin.address, cfg.admin.token, hooks);
  if (!admin_r) return fail("admin listener: " + admin_r.error().message);
  std::unique_ptr<AdminServer> admin = std::move(*admin_r);

  auto sigterm = SignalEvent::create(base.get(), SIGTERM, [&] { stop("SIGTERM"); });
  auto sigint = SignalEvent::create(base.get(), SIGINT, [&] { stop("SIGINT"); });
  auto sighup = SignalEvent::create(base.get(), SIGHUP, [&] {
    if (audit) audit->reopen();  // first: records of the reload's own requests go to the new file
    reload();
  });
  if (!sigterm || !sigint || !sighup) return fail("cannot install signal handlers");

  for (uint32_t i = 0; i < workers; ++i) {
    LoopMailbox* to_control = control.get();
    pool[i]->start([to_control, i, &ended, &base, workers, &stopping, &stop] {
      to_control->post([i, &ended, &base, workers, &stopping, &stop] {
        // A loop ends only when told to; one that ended on its own leaves its socket bound with
        // nobody accepting on it (its share of new connections would hang): stop them all.
        if (!stopping) {
          logEvent("worker_ended", {{"worker", std::to_string(i)}});
          stop("worker_ended");
        }
        if (++ended == workers) event_base_loopexit(base.get(), nullptr);
      });
    });
  }
  // Printed once both listeners are bound: whoever waits for the line may use either at once.
  printListening(pool.front()->boundAddress(), listener.tls(), false);
  printListening(admin->boundAddress(), false, true);

  event_base_dispatch(base.get());
  // Every worker has ended (or the process is told to stop twice): nothing runs on their loops.
  forEachWorker([](Worker& w) { w.stop(); });
  forEachWorker([](Worker& w) { w.join(); });
  quota_saver.cancel();
  if (quota_writer) {
    Status st = quota_writer->saveNow(shared.quota().state());
    if (!st) logEvent("quota_state_save_failed", {{"error", st.error().message}});
  }
  admin->close();
  admin.reset();
  pool.clear();
  if (audit) {
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

}  // namespace kw::proxy
