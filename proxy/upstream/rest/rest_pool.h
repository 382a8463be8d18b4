// RestPool: a pool of warm keep-alive HTTP/1.1 connections (verified TLS for https://) to
// the Upstash REST API, one request per connection at a time, bodies relayed as they arrive.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "policy/result.h"
#include "proxy/codec/http_response_parser.h"
#include "proxy/io/event_loop.h"
#include "proxy/upstream/upstream_types.h"

namespace kw::proxy {

struct RestPoolOptions {
  std::string host;  // DNS name or IP literal (no brackets)
  uint16_t port = 443;
  bool tls = true;
  std::string ca_file;         // empty = system CA store
  Milliseconds timeout{5000};  // per request: queue wait + connect + whole response (stream
                               // calls: until the response head)
  uint32_t connections = 8;    // pooled, kept warm
  uint32_t max_queue = 10000;
  uint32_t max_streams = 1024;  // dedicated stream (SSE) connections
  // Relayed (long) responses and calls whose client stopped reading leave the pool for a
  // connection of their own (the pool opens a replacement), at most this many at once and half
  // of it per tenant; past that a relay stays pooled, and a paused call is cut off (Overloaded)
  // instead of holding a pooled connection until the timeout.
  uint32_t max_detached = 1024;
  // A reply's body (twice upstream.max_reply_bytes): past it the call fails TooLarge, whatever
  // was relayed of it already. Subscription streams have no total.
  uint64_t max_body_bytes = uint64_t{64} << 20;
};

// One request: its complete bytes (request line, headers, blank line, body), built by the caller.
struct RestCallSpec {
  std::string bytes;
  bool stream = false;  // SSE: dedicated connection, no timeout once the head arrived
  std::string tenant;   // whose call: waiting calls of different tenants are served in turn
  std::string lane;     // "tenant\nsub" of a JWT identity: a tenant's identities take turns
  // The client's in-flight share ticket: kept while the upstream may still run the call. A call
  // cancelled after it was written (its client left) keeps it until upstream.timeout after the
  // write: the upstream is not told, so keyward cannot know when it finished.
  std::shared_ptr<const void> hold;
  // The call's quota charge: given back when the call ends without being written (a full queue,
  // a queue timeout, no connection, its client gone while it waited); kept once written.
  UnsentRefundPtr refund;
};

// Callbacks run from the event loop, never inside call(). Exactly one of on_done / on_error runs
// last, unless the call is cancelled first. on_head runs once before any on_body.
struct RestCallbacks {
  std::function<void(const codec::HttpResponseParser&)> on_head;
  std::function<void(std::string_view)> on_body;
  std::function<void()> on_done;
  std::function<void(const UpstreamError&)> on_error;
};

namespace detail {
struct RestPending;
}

// Ticket for one call: destroying it (or close()) cancels the call; a connection with a
// cancelled response in progress is closed (its outcome is unknown). pause()/resume() stop and
// restart reading the response (backpressure); a paused call on a pooled connection takes that
// connection out of the pool, so a client that does not read never holds a pooled connection.
// Usable as the client's stream source.
class RestCall final : public StreamSource {
 public:
  explicit RestCall(std::shared_ptr<detail::RestPending> p) : p_(std::move(p)) {}
  ~RestCall() override { close(); }
  RestCall(const RestCall&) = delete;
  RestCall& operator=(const RestCall&) = delete;
  void close() override;
  void pause() override;
  void resume() override;
  // The rest of this response is long (a relay): its connection leaves the pool, which opens a
  // replacement, so large replies never hold the pooled connections small requests wait for.
  void leavePool();

 private:
  std::shared_ptr<detail::RestPending> p_;
};
using RestCallPtr = std::unique_ptr<RestCall>;

class RestPool {
 public:
  static Result<std::unique_ptr<RestPool>> create(event_base* base, RestPoolOptions o);
  ~RestPool();
  RestPool(const RestPool&) = delete;
  RestPool& operator=(const RestPool&) = delete;

  // Never retried once written. Fails with Overloaded when the queue is full.
  RestCallPtr call(RestCallSpec spec, RestCallbacks callbacks);
  // Opens pooled connections up to `connections` (start-up, and the readiness timer).
  void warm();
  [[nodiscard]] UpstreamStats stats() const;
  // True when a pooled connection is established (TLS verified).
  [[nodiscard]] bool connected() const;
  [[nodiscard]] std::string describe() const;  // "host:port (tls)": no token

  struct Impl;

 private:
  explicit RestPool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kw::proxy
