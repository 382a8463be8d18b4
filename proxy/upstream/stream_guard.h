// What an open SSE stream was authorised with, so it can be authorised again later.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kw::proxy {

// One /subscribe or /psubscribe stream. A stream outlives the request that opened it, so its
// credential and grant are re-checked whenever revocations, signing keys or the config change
// and when its token's exp passes (RequestRouter::recheckStreams); a stream they no longer
// allow is closed with a final `event: error` naming why. Owned by the stream's upstream
// callbacks (through RouteContext::stream), so it dies with the stream; the router holds only
// weak references.
struct StreamGuard {
  std::string token;                  // SECRET: the bearer token, resolved again on every re-check
  std::string client;                 // the client it resolved to when the stream opened
  std::string jti;                    // JWT jti (empty for static keys), to say "revoked"
  std::vector<std::string> argv;      // SUBSCRIBE|PSUBSCRIBE <channel>, evaluated again
  std::array<uint8_t, 16> ip16{};     // the client's address, for allow_ips
  std::optional<std::string> origin;  // the Origin header, for allow_origins
  int64_t deadline_s = 0;  // JWT: exp + signing.leeway (refused from then on); 0 for static keys
  bool began = false;      // the stream's head is sent (set by the dispatcher)
  bool closed = false;     // closed by a re-check: never closed twice
  // Ends the stream: an `event: error` with `message` when it began, else a `status` error.
  std::function<void(int status, std::string_view message)> close;
};

// The final SSE event of a stream closed by a re-check. @upstash/redis passes every `data: `
// line to its message handler, which ignores a payload that is not
// subscribe/message/pmessage/...; the stream's end then ends the subscription.
std::string streamClosedEvent(std::string_view message);

}  // namespace kw::proxy
