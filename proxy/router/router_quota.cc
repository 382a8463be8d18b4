// RequestRouter's quota step between the policy plan and the upstream: one charge of the plan's
// billed commands (README, Quotas), a 429 naming the limit, or a wait for a store lease.
#include <chrono>
#include <memory>

#include "proxy/codec/reply_json.h"
#include "proxy/router/request_router.h"

namespace kw::proxy {
namespace {

// 429 with Retry-After and the IETF rate-limit headers (draft-ietf-httpapi-ratelimit-headers:
// RateLimit-Policy: "day";q=500;w=86400 and RateLimit: "day";r=0;t=3600).
Refusal tooMany(const QuotaRefusal& r) {
  Refusal out{429, r.message, r.reason, true, {}};
  const std::string name = "\"" + r.policy + "\"";
  out.headers.emplace_back("Retry-After", std::to_string(r.retry_after_s));
  out.headers.emplace_back("RateLimit-Policy", name + ";q=" + std::to_string(r.limit) +
                                                   ";w=" + std::to_string(r.window_s));
  out.headers.emplace_back("RateLimit", name + ";r=0;t=" + std::to_string(r.retry_after_s));
  return out;
}

// A granted charge, given back by the upstream when the request is never written.
class ChargeRefund final : public UnsentRefund {
 public:
  ChargeRefund(QuotaLedger& ledger, QuotaAsk ask, const policy::QuotaReceipt& receipt)
      : ledger_(ledger), ask_(std::move(ask)), receipt_(receipt) {}
  void refund() override { ledger_.refund(ask_, receipt_); }

 private:
  QuotaLedger& ledger_;  // the process's: outlives every worker's upstream
  QuotaAsk ask_;
  policy::QuotaReceipt receipt_;
};

// A copy of `plan` whose views point into its own storage (the request's bytes are gone by the
// time a store lease arrives).
std::shared_ptr<RequestPlan> detach(const RequestPlan& plan) {
  auto out = std::make_shared<RequestPlan>();
  out->route = plan.route;
  out->denied_at = plan.denied_at;
  out->messages = plan.messages;
  out->channel = out->owned.emplace_back(plan.channel);
  out->encoded = std::move(plan.encoded);
  out->opens = std::move(plan.opens);  // without it the replies' sealed values went out sealed
  for (const policy::Argv& argv : plan.forward) {
    auto& v = out->views.emplace_back();
    v.reserve(argv.size());
    for (std::string_view a : argv) v.push_back(out->owned.emplace_back(a));
    out->forward.emplace_back(v.data(), v.size());
  }
  return out;
}

}  // namespace

std::optional<Refusal> RequestRouter::admitGrowth(const RequestPlan& plan,
                                                  const conf::ClientConfig& client) {
  if (plan.grown_bytes == 0) return std::nullopt;
  const uint64_t per_second = snapshot_->config().listen.max_body_bytes;
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  const auto wait = shared_.growth().take(client.spec.name, plan.grown_bytes, per_second, now_ms);
  if (!wait) return std::nullopt;
  Refusal out{429,
              "ERR this client grows values by offsets (SETRANGE, SETBIT, BITFIELD) faster than "
              "listen.max_body_bytes a second; retry later",
              "growth_rate",
              true,
              {}};
  out.headers.emplace_back("Retry-After", std::to_string(*wait));
  return out;
}

void RequestRouter::chargeAndDispatch(const RequestPlan& plan, const conf::ClientConfig& client,
                                      std::string identity, const RouteContext& ctx, Exchange& ex) {
  QuotaAsk ask{client.spec.name, client.limits, std::move(identity), plan.billed(),
               snapshot_->config().clients.size() > 1};
  QuotaLedger& ledger = shared_.quota();
  QuotaLedger::Charge charge = ledger.charge(ask);
  if (charge.refused) return refuse(tooMany(*charge.refused), ctx, ex);
  if (!charge.wait) {
    if (charge.receipt.taken != 0) {
      plan.refund = std::make_unique<ChargeRefund>(ledger, std::move(ask), charge.receipt);
    }
    return dispatch(plan, ctx, ex);
  }
  QuotaWait* wait = charge.wait.get();
  charge.wait->onDone(
      [this, owned = detach(plan), ctx, &ex, &ledger, wait](const std::optional<QuotaRefusal>& r) {
        if (r) return refuse(tooMany(*r), ctx, ex);
        // The wait lives while its callback runs (QuotaLedger::finish).
        if (wait->receipt().taken != 0) {
          owned->refund = std::make_unique<ChargeRefund>(ledger, wait->ask(), wait->receipt());
        }
        dispatch(*owned, ctx, ex);
      });
  ex.holdQuotaWait(std::move(charge.wait));
}

void RequestRouter::dispatch(const RequestPlan& plan, const RouteContext& ctx, Exchange& ex) {
  if (plan.sendsNothing()) {
    HttpResponse out;  // every command denied: nothing to send
    if (ctx.resp2) {
      out.content_type = "application/octet-stream";
      codec::appendResp2Pipeline(out.body, {}, plan.denied_at, plan.messages);
    } else {
      std::vector<codec::InlineError> errs;
      for (size_t k = 0; k < plan.denied_at.size(); ++k) {
        errs.push_back({plan.denied_at[k], plan.messages[k]});
      }
      if (!codec::appendPipelineJson(out.body, {}, errs, ctx.enc)) {
        return ex.respond(errorResponse(500, "ERR internal error"));
      }
    }
    return ex.respond(withHeaders(std::move(out), ctx));
  }
  upstream_.dispatch(plan, ctx, ex);
}

}  // namespace kw::proxy
