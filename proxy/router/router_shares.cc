// RequestRouter's admission to the shared pools (README, Limits and shares): a subscription stream
// or an upstream request takes one unit of its client's share; a refusal is answered before
// anything is charged or sent.
#include <algorithm>

#include "proxy/router/request_router.h"

namespace kw::proxy {

namespace {
// The upstream wait queue (RedisPoolOptions / RestPoolOptions::max_queue): the pool a
// client's default max_in_flight takes half of.
constexpr uint64_t kUpstreamQueue = 10000;
}  // namespace

std::optional<Refusal> RequestRouter::admitShare(const RequestPlan& plan,
                                                 const conf::ClientConfig& client,
                                                 RouteContext& ctx) {
  if (plan.sendsNothing()) return std::nullopt;
  const bool stream = plan.stream();
  const conf::LimitsConfig& l = client.limits;
  const uint64_t pool = ctx.snapshot->config().listen.max_subscriptions;
  auto got =
      stream ? shared_.shares().acquire(
                   ShareKind::Subscriptions, client.spec.name,
                   l.max_subscriptions != 0 ? l.max_subscriptions : std::max<uint64_t>(pool / 2, 1),
                   pool, ctx.identity)
             : shared_.shares().acquire(ShareKind::InFlight, client.spec.name,
                                        l.max_in_flight != 0 ? l.max_in_flight : kUpstreamQueue / 2,
                                        0, ctx.identity);
  ctx.client = client.spec.name;
  if (auto* ticket = std::get_if<ShareLedger::TicketPtr>(&got)) {
    ctx.share = std::move(*ticket);
    return std::nullopt;
  }
  ShareRefusal& r = std::get<ShareRefusal>(got);
  Refusal out{r.status, std::move(r.message), std::move(r.reason), true, {}};
  out.headers.emplace_back("Retry-After", "1");  // a share frees as requests and streams end
  return out;
}

}  // namespace kw::proxy
