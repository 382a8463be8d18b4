// Serves one parsed HTTP request: auth -> decode -> policy -> upstream -> Upstash JSON body.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "conf/snapshot.h"
#include "policy/client_policy.h"
#include "policy/quota.h"
#include "proxy/codec/http_request_parser.h"
#include "proxy/codec/rest_request.h"
#include "proxy/io/access_log.h"
#include "proxy/io/audit_log.h"
#include "proxy/io/latency_histogram.h"
#include "proxy/quota/quota_ledger.h"
#include "proxy/router/admission.h"
#include "proxy/router/client_shares.h"
#include "proxy/router/router_shared.h"
#include "proxy/router/verified_tokens.h"
#include "proxy/upstream/exchange.h"
#include "proxy/upstream/request_plan.h"
#include "proxy/upstream/stream_guard.h"
#include "proxy/upstream/upstream.h"

namespace kw::proxy {

// Long-lived state every connection of one worker routes through (one router per worker, all
// on one RouterShared).
class RequestRouter {
 public:
  // `shared` and `upstream` outlive the router.
  RequestRouter(RouterShared& shared, Upstream& upstream);
  // One worker alone: the router owns its shared state.
  RequestRouter(conf::SnapshotConstSharedPtr snapshot, Upstream& upstream);

  // Replaces the shared snapshot (and reloads signing.revoked_file) for every router on it.
  void setSnapshot(conf::SnapshotConstSharedPtr snapshot);
  // Re-reads signing.revoked_file for every router on the shared state; when it cannot be read
  // every JWT is refused until it can.
  void reloadRevocations();
  // Takes the shared snapshot and revocation list when they changed since the last call, and
  // then re-checks this worker's open streams (recheckStreams). Cheap when nothing changed (one
  // atomic load): admit() calls it for every request head.
  void syncShared();
  // Authorises every open SSE stream again against the current snapshot and revocation list at
  // `now_s` and closes those no longer allowed (router_streams.cc). `expiry_only`: only streams
  // whose token deadline has passed (the periodic timer; cheap when none has).
  void recheckStreams(int64_t now_s, bool expiry_only = false);
  [[nodiscard]] size_t openStreams() const { return streams_live_; }
  // The peer is one of listen.trusted_proxies (current snapshot).
  [[nodiscard]] bool isTrustedProxy(const PeerInfo& peer) const;
  const conf::SnapshotConstSharedPtr& snapshot() const { return snapshot_; }
  // Every quota counter (main wires the state file or the shared store to it).
  QuotaLedger& quota() { return shared_.quota(); }
  const QuotaLedger& quota() const { return shared_.quota(); }
  RouterShared& shared() { return shared_; }

  // The CORS headers for a response to this request when no client answered for it (a 401, a
  // refusal before the credential was read, a 413, a share refusal...): those of an Origin some
  // client allows, as the preflight grants, so a browser sees the answer, not a network error.
  // Empty without an Origin or for one no client lists.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> corsHeaders(
      const codec::HttpRequestParser& parser) const;

  // `parser` has its head (headComplete()); its body may still be unread. Fills the record's
  // method, source address, route and, once known, client; never touches the body.
  [[nodiscard]] Admission admit(const codec::HttpRequestParser& parser, const PeerInfo& peer,
                                AccessRecord& rec);
  // The admission still holds at `now_s`: the same config and revocation list as when it was
  // made, and its token not past exp. A body may take up to idle_timeout to arrive after its
  // head was admitted: a stale admission is made again before the request runs (README, Limits and
  // shares).
  [[nodiscard]] bool admissionCurrent(const Admission& a, int64_t now_s) {
    syncShared();
    return a.snapshot == snapshot_ && a.revocation_generation == revocation_generation_ &&
           (a.expires_s == 0 || now_s < a.expires_s);
  }
  // `parser` is Complete and `admission` (from admit() on the same head) has no refusal.
  // Everything the router needs from the parser is copied or decoded before return; the exchange
  // may be answered later.
  void route(const codec::HttpRequestParser& parser, Admission admission, Exchange& ex);

  // The audit log (README, Audit log), or null for none; outlives the router's use of it.
  void setAudit(AuditLog* audit) { audit_ = audit; }
  // An audit log in refuse mode that cannot take records: every request is refused with 503.
  [[nodiscard]] bool auditRefusing() const { return audit_ != nullptr && !audit_->accepting(); }
  // The answered request's audit record, when there is an audit log.
  void audit(const AccessRecord& rec);
  // Key names an audit record holds at most (audit.log_keys).
  static constexpr size_t kMaxAuditKeys = 4096;

  // The upstash-sync-token value for a response to `client`: the time of the response in
  // microseconds since the epoch ("0" when unauthenticated), in both upstream modes. It moves on
  // every response as the SDK expects and says nothing of other clients' traffic nor of the
  // upstream's (a per-client counter showed one JWT user how many requests the client's other
  // users made: attack round 29b). Clients only echo it; read-your-writes against a REST
  // upstream is kept by keyward (RestUpstream::noteSyncToken).
  static std::string nextSyncToken(std::string_view client);

  // Counters for /metrics (updated by noteResponse once per answered request or stream).
  struct Stats {
    uint64_t requests = 0;
    uint64_t status_2xx = 0;
    uint64_t status_4xx = 0;
    uint64_t status_5xx = 0;
    uint64_t denied = 0;        // 401/403/429 and inline pipeline denials
    uint64_t rate_limited = 0;  // 429
    uint64_t upstream_errors = 0;
    uint64_t streams = 0;                // SSE streams started
    Stats& operator+=(const Stats& o) {  // the workers' counters summed for /metrics
      requests += o.requests;
      status_2xx += o.status_2xx;
      status_4xx += o.status_4xx;
      status_5xx += o.status_5xx;
      denied += o.denied;
      rate_limited += o.rate_limited;
      upstream_errors += o.upstream_errors;
      streams += o.streams;
      return *this;
    }
  };
  void noteResponse(const AccessRecord& rec);
  [[nodiscard]] const Stats& stats() const { return stats_; }
  [[nodiscard]] const VerifiedTokens& verifiedTokens() const { return verified_tokens_; }
  // /metrics (CONTRACT-level names in main.cc): request durations by route, upstream durations,
  // requests by client and decision, denials by reason. Every label comes from a bounded set:
  // routes and reasons are keyward's own words, clients the config's names.
  static constexpr std::array<std::string_view, 6> kRouteLabels = {
      "command", "pipeline", "multi-exec", "subscribe", "psubscribe", "none"};
  static constexpr std::array<std::string_view, 4> kDecisionLabels = {"allow", "deny", "partial",
                                                                      "none"};
  struct Latencies {
    std::array<LatencyHistogram, kRouteLabels.size()> request;  // by kRouteLabels
    LatencyHistogram upstream;
  };
  [[nodiscard]] const Latencies& latencies() const { return latencies_; }
  [[nodiscard]] const std::map<std::string, std::array<uint64_t, 4>>& clientDecisions() const {
    return client_decisions_;
  }
  [[nodiscard]] const std::map<std::string, uint64_t>& denialsByReason() const {
    return denials_by_reason_;
  }
  // Requests on which a client's shadow policy decided otherwise than its enforced one, by
  // client, [0] the shadow allowing more, [1] the shadow denying more.
  [[nodiscard]] const std::map<std::string, std::array<uint64_t, 2>>& shadowMismatches() const {
    return shadow_mismatches_;
  }

 private:
  // CORS preflight (OPTIONS): allow headers only for an Origin some client allows.
  HttpResponse preflight(const codec::HttpRequestParser& parser) const;
  // route()'s steps, in order; each returns its refusal, if any.
  // What every later step of the request needs: response options, CORS, passthrough headers.
  RouteContext contextFor(const codec::HttpRequestParser& parser, Admission& admission) const;
  // The request decoded: at admission already when no body followed, else from the body now.
  std::optional<Refusal> decode(const codec::HttpRequestParser& parser, Admission& admission,
                                AccessRecord& rec) const;
  // Subscribe / PSubscribe: what the stream's guard re-checks later (router_streams.cc), and
  // how it closes the stream.
  static std::shared_ptr<StreamGuard> streamGuard(const codec::HttpRequestParser& parser,
                                                  Admission& admission, Exchange& ex);
  // Every command of `req` evaluated into `plan` (a pipeline's denied commands become inline
  // errors; anything else denied refuses the request).
  // With `verdicts`, each decided command's outcome is appended (for the shadow comparison).
  std::optional<Refusal> planRequest(const codec::RestRequest& req, const conf::ClientEntry& entry,
                                     const policy::Identity& identity, Exchange& ex,
                                     const RouteContext& ctx, RequestPlan& plan,
                                     std::vector<bool>* verdicts);
  // The client's `shadow:` policy over the same request (router_shadow.cc): when its outcome
  // differs from `enforced`, one "shadow" log line and a count. Acts on nothing.
  void compareShadow(const codec::RestRequest& req, const conf::ClientEntry& entry,
                     const policy::Identity& identity, std::vector<bool> enforced,
                     policy::EvalScratch& scratch);
  // One unit of the client's share for the plan (a stream, or a request in flight) into `ctx`
  // (router_shares.cc).
  std::optional<Refusal> admitShare(const RequestPlan& plan, const conf::ClientConfig& client,
                                    RouteContext& ctx);
  // 429 when the plan's growth of values by offsets passes the client's rate (GrowthLedger).
  std::optional<Refusal> admitGrowth(const RequestPlan& plan, const conf::ClientConfig& client);
  // Quota for the plan's billed commands (router_quota.cc), then dispatch(); may answer later
  // when a store lease is needed.
  void chargeAndDispatch(const RequestPlan& plan, const conf::ClientConfig& client,
                         std::string identity, const RouteContext& ctx, Exchange& ex);
  // 503 while the audit log cannot take records (refuse mode).
  static Refusal auditUnavailable();
  // The one place a refusal becomes a response (and its access-record fields).
  static void refuse(const Refusal& r, const RouteContext& ctx, Exchange& ex);
  // Sends an allowed (and charged) plan to the upstream; a pipeline whose every command was
  // denied is answered here, with nothing sent.
  void dispatch(const RequestPlan& plan, const RouteContext& ctx, Exchange& ex);
  // The client's address: the peer, or (when the peer is in listen.trusted_proxies) the
  // right-most X-Forwarded-For hop that is not a trusted proxy.
  PeerInfo clientAddress(const codec::HttpRequestParser& parser, const PeerInfo& peer) const;

  std::unique_ptr<RouterShared> owned_shared_;  // the one-worker constructor's
  RouterShared& shared_;
  // The shared snapshot and revocation list as of revocation_generation_ (syncShared).
  conf::SnapshotConstSharedPtr snapshot_;
  Upstream& upstream_;
  AuditLog* audit_ = nullptr;
  std::shared_ptr<const RouterShared::RevokedSet> revoked_;  // JWT jti revocation list
  bool revocations_known_ = true;  // false: revoked_file unreadable, JWTs refused
  // JWTs verified under the snapshot in use; a cache (it changes no decision), so admit(), a
  // const member, may fill it.
  mutable VerifiedTokens verified_tokens_;
  uint64_t revocation_generation_ = 0;  // RouterShared::generation() at the last syncShared()
  // Open streams (router_streams.cc): weak, the streams own their guards.
  void watchStream(const std::shared_ptr<StreamGuard>& guard);
  std::vector<std::weak_ptr<StreamGuard>> streams_;
  size_t streams_live_ = 0;      // streams_ entries alive at the last prune
  int64_t next_deadline_s_ = 0;  // earliest token deadline among open streams (0: none)
  Stats stats_;
  std::map<std::string, std::array<uint64_t, 2>> shadow_mismatches_;  // at most one per client
  Latencies latencies_;
  std::map<std::string, std::array<uint64_t, 4>> client_decisions_;  // by kDecisionLabels
  std::map<std::string, uint64_t> denials_by_reason_;
};

}  // namespace kw::proxy
