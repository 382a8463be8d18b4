// The Prometheus text of /metrics (names and help in one place; README, Operating it).
#include "proxy/serve/serve_metrics.h"

#include "proxy/admin/admin_server.h"
#include "proxy/upstream/value_crypt.h"

namespace kw::proxy {

namespace {

// The workers' samples summed (maps merged by key).
WorkerSample sumSamples(const std::vector<std::optional<WorkerSample>>& samples) {
  WorkerSample t;
  for (const auto& o : samples) {
    if (!o) continue;
    const WorkerSample& w = *o;
    t.stats += w.stats;
    for (size_t i = 0; i < t.latencies.request.size(); ++i) {
      t.latencies.request[i].merge(w.latencies.request[i]);
    }
    t.latencies.upstream.merge(w.latencies.upstream);
    for (const auto& [k, v] : w.client_decisions) {
      auto& d = t.client_decisions[k];
      for (size_t i = 0; i < d.size(); ++i) d[i] += v[i];
    }
    for (const auto& [k, v] : w.denials_by_reason) t.denials_by_reason[k] += v;
    for (const auto& [k, v] : w.shadow_mismatches) {
      auto& d = t.shadow_mismatches[k];
      d[0] += v[0];
      d[1] += v[1];
    }
    t.jwt_cache_hits += w.jwt_cache_hits;
    t.jwt_cache_entries += w.jwt_cache_entries;
    t.connections += w.connections;
    t.accepted += w.accepted;
    t.upstream += w.upstream;
  }
  return t;
}

}  // namespace

std::string metricsText(const std::vector<std::optional<WorkerSample>>& samples,
                        const ListenerLedger& listener, const QuotaLedger& quota,
                        const AuditLog* audit) {
  const WorkerSample all = sumSamples(samples);
  const RequestRouter::Stats& s = all.stats;
  const UpstreamStats& u = all.upstream;
  PrometheusText p;
  uint64_t answering = 0;
  for (const auto& o : samples) answering += o ? 1 : 0;
  p.gauge("keyward_workers", "Worker event loops (listen.workers)", samples.size());
  p.gauge("keyward_workers_answering",
          "Workers that answered this scrape within a second (the others' counters are missing)",
          answering);
  for (size_t i = 0; i < samples.size(); ++i) {
    if (!samples[i]) continue;
    p.sample("counter", "keyward_worker_connections_accepted_total",
             "Client connections accepted, by worker", "worker", std::to_string(i),
             samples[i]->accepted);
  }
  for (size_t i = 0; i < samples.size(); ++i) {
    if (!samples[i]) continue;
    p.sample("counter", "keyward_worker_requests_total", "Requests answered, by worker", "worker",
             std::to_string(i), samples[i]->stats.requests);
  }
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
            all.jwt_cache_hits);
  p.gauge("keyward_jwt_cache_entries", "Verified JWTs remembered (bounded at 16,384 per worker)",
          all.jwt_cache_entries);
  p.gauge("keyward_client_connections", "Open client connections", listener.connections());
  p.counter("keyward_client_connections_accepted_total", "Client connections accepted",
            listener.accepted());
  p.counter("keyward_unauthenticated_refused_total",
            "Connections refused at accept: their address held "
            "listen.max_unauthenticated_per_address",
            listener.anonymousRefused());
  p.counter("keyward_unauthenticated_evicted_total",
            "Connections that had not authenticated, closed at listen.max_connections to make "
            "room for a new one (the oldest first)",
            listener.evicted());
  p.gauge("keyward_client_output_bytes", "Unsent response bytes held for client connections",
          listener.outputBytes());
  p.counter("keyward_output_shed_total",
            "Client connections closed because listen.max_output_bytes was reached",
            listener.outputShed());
  p.gauge("keyward_upstream_connections", "Open upstream connections", u.connections);
  p.gauge("keyward_upstream_in_flight", "Upstream requests in flight", u.in_flight);
  p.gauge("keyward_upstream_queued", "Upstream requests waiting", u.queued);
  p.gauge("keyward_upstream_reply_bytes",
          "Upstream replies held until sent, bytes plus 72 per parsed value "
          "(upstream.max_reply_bytes_total)",
          u.reply_bytes);
  p.gauge("keyward_upstream_subscriptions", "Upstream subscription streams", u.subscriptions);
  p.gauge("keyward_upstream_detached_relays",
          "REST relays (long or paused replies) on connections of their own", u.detached);
  const RequestRouter::Latencies& lat = all.latencies;
  for (size_t i = 0; i < RequestRouter::kRouteLabels.size(); ++i) {
    p.histogram("keyward_request_duration_seconds",
                "From a request's complete head to its answer (a stream: to its start), by route",
                "route", RequestRouter::kRouteLabels[i], lat.request[i]);
  }
  p.histogram("keyward_upstream_duration_seconds",
              "Upstream round trip of requests that went upstream", "", "", lat.upstream);
  for (const auto& [client, n] : all.client_decisions) {
    for (size_t i = 0; i < RequestRouter::kDecisionLabels.size(); ++i) {
      p.sample("counter", "keyward_client_requests_total",
               "Requests by client (configured names) and decision",
               {{"client", client}, {"decision", RequestRouter::kDecisionLabels[i]}}, n[i]);
    }
  }
  for (const auto& [reason, n] : all.denials_by_reason) {
    p.sample("counter", "keyward_denials_total",
             "Refused requests and requests with denied commands, by reason", "reason", reason, n);
  }
  for (const auto& [client, n] : all.shadow_mismatches) {
    constexpr std::string_view kHelp =
        "Requests on which a client's shadow policy decided otherwise (shadow=allow: it allowed "
        "more, deny: it denied more)";
    p.sample("counter", "keyward_shadow_mismatches_total", kHelp,
             {{"client", client}, {"shadow", "allow"}}, n[0]);
    p.sample("counter", "keyward_shadow_mismatches_total", kHelp,
             {{"client", client}, {"shadow", "deny"}}, n[1]);
  }
  const QuotaLedger::Stats q = quota.stats();
  p.counter("keyward_quota_refused_total", "Requests refused by a rate or budget limit", q.refused);
  p.counter("keyward_quota_refunded_total",
            "Billed commands given back: their request was never sent upstream", q.refunded);
  p.counter("keyward_quota_store_leases_total", "Lease calls to quota.store_url", q.store_fetches);
  p.counter("keyward_quota_store_failures_total", "Failed lease calls (budgets failed closed)",
            q.store_failures);
  p.gauge("keyward_quota_lease_held", "Leased budget not yet spent (store mode)",
          quota.leaseHeld());
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

}  // namespace kw::proxy
