// The one seam between the router and where commands run. The router decides (who asks, what is
// allowed, what it costs) and hands an allowed, charged plan to an Upstream, which sends it and
// answers the exchange. Two implementations: RedisUpstream (redis:// and rediss://, a pooled
// RESP client) and RestUpstream (https:// and http://, the Upstash REST API); tests use a fake.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/codec/http_request_parser.h"
#include "proxy/codec/rest_request.h"
#include "proxy/upstream/exchange.h"
#include "proxy/upstream/request_plan.h"
#include "proxy/upstream/upstream_types.h"

namespace kw::proxy {

class Upstream {
 public:
  virtual ~Upstream() = default;

  // Before `plan` is charged: a refusal when this upstream cannot carry it (REST: an argument
  // that is not UTF-8, a body too large once encoded), so that nothing is billed for a request
  // never sent. May keep work for dispatch in the plan (REST: the encoded request).
  [[nodiscard]] virtual std::optional<Refusal> prepare(RequestPlan& /*plan*/,
                                                       const RouteContext& /*ctx*/) {
    return std::nullopt;
  }

  // Sends `plan` (allowed, prepared and charged; its views are valid only during the call) and
  // answers `ex` exactly once, now or from a later loop turn: respond(), a relay, or a stream.
  // Errors are answered too (upstreamFailure). `ctx` is copied where kept.
  virtual void dispatch(const RequestPlan& plan, const RouteContext& ctx, Exchange& ex) = 0;

  // The request headers the upstream receives on `client`'s behalf, from the client's request
  // and the response options keyward parsed from it (REST: Upstash-Encoding, telemetry, the
  // client's read-your-writes token; Redis: none).
  [[nodiscard]] virtual std::vector<std::pair<std::string, std::string>> passthroughHeaders(
      const codec::HttpRequestParser& parser, const codec::ResponseOptions& opts,
      std::string_view client) const = 0;

  // Readiness (/readyz). probe() runs every 2 s and refreshes what ready() reports: Redis
  // answers a PING; REST holds a verified connection (no PING: Upstash bills every command).
  virtual void probe() = 0;
  [[nodiscard]] virtual bool ready() const = 0;

  [[nodiscard]] virtual UpstreamStats stats() const = 0;
  // "host:port" (and "tls"), for logs: never a secret.
  [[nodiscard]] virtual std::string describe() const = 0;
};

}  // namespace kw::proxy
