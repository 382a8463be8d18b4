// What every upstream (Redis protocol or Upstash REST) reports to the router and the connection:
// failures, pool figures, and the handles that cancel or pace work in flight.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace kw::proxy {

enum class UpstreamErrorKind : uint8_t {
  Unreachable,  // connect / TLS / DNS failed, or the connection died before the request was sent
  Timeout,      // no complete reply within the timeout (the connection is then closed)
  Protocol,     // the upstream sent a malformed reply or one over the configured limits
  Closed,       // the connection closed after the request was (possibly) written: outcome unknown
  TooLarge,     // the command ran, but its reply was over upstream.max_reply_* (reply dropped,
                // the connection stays in sync)
  Overloaded,   // the wait queue (or the subscription limit) is full
  RequestTooLarge,  // REST: the upstream refused the request's size (HTTP 413); nothing ran
  Share,            // the client's share of a shared bound is used up (nothing was sent): 429
  Auth,             // the upstream rejected keyward's credential (AUTH, SELECT, or HTTP 401)
  Rejected,  // refused before sending: empty command, or one that would desynchronise a pooled
             // connection (SUBSCRIBE, MONITOR, MULTI/EXEC/WATCH, SELECT, AUTH, HELLO, QUIT ...)
};

// A request's quota charge, handed to the upstream with it (README, Quotas). An upstream that
// drops a request it never wrote (its client left while it waited, a queue timeout, an upstream
// that could not be reached, a full queue or share) calls refund(); a written request keeps its
// charge, since it may have run, unless a REST upstream answers 429 or 413 (nothing ran).
// Destroying it does nothing: a path that does not say gives nothing back.
class UnsentRefund {
 public:
  virtual ~UnsentRefund() = default;
  virtual void refund() = 0;
};
using UnsentRefundPtr = std::unique_ptr<UnsentRefund>;

// Gives back `r`'s charge (a request dropped before it was written) and lets go of it.
inline void refundUnsent(UnsentRefundPtr& r) {
  if (r) r->refund();
  r.reset();
}

// HTTP status for an upstream failure: Timeout 504, Overloaded 503, Share 429, Rejected 400,
// RequestTooLarge 413, others 502.
[[nodiscard]] int httpStatus(UpstreamErrorKind kind);
[[nodiscard]] std::string_view toString(UpstreamErrorKind kind);

struct UpstreamError {
  UpstreamErrorKind kind = UpstreamErrorKind::Unreachable;
  std::string message;  // operator-facing detail (never contains a secret)
  // The command was written (so it may have run): a client must not be told it was not.
  bool maybe_executed = false;
  // A REST upstream's own rate or plan limit (its 429): seconds until it takes requests again,
  // from its Retry-After (1 when it sent none). 0 for every other error.
  uint32_t upstream_retry_after_s = 0;
};

// The client-facing error text: "ERR upstream <kind>", plus ": outcome unknown" when the
// command may have run; a TooLarge, RequestTooLarge or Share error is its message.
[[nodiscard]] std::string clientMessage(const UpstreamError& error);

// Pool figures for /metrics; a field an upstream does not have stays 0.
struct UpstreamStats {
  uint32_t connections = 0;  // open (or opening) pooled connections
  uint32_t in_flight = 0;    // requests written and awaiting replies
  uint64_t reply_bytes = 0;  // replies held (partial, and complete until sent), values included
  uint32_t streaming = 0;    // connections receiving a large reply (nothing waits behind it)
  uint32_t queued = 0;       // requests waiting for a connection
  uint32_t subscriptions = 0;
  uint32_t detached = 0;  // REST: relays whose client stopped reading, off the pool
  UpstreamStats& operator+=(const UpstreamStats& o) {  // the workers' pools summed
    connections += o.connections;
    in_flight += o.in_flight;
    reply_bytes += o.reply_bytes;
    streaming += o.streaming;
    queued += o.queued;
    subscriptions += o.subscriptions;
    detached += o.detached;
    return *this;
  }
};

// Where a long response comes from (a subscription, a relayed REST body, a reply encoded in
// slices). The connection pauses it while its client's output buffer is full, resumes it when
// that drains, and closes it when the client goes away; destroying it closes it too.
class StreamSource {
 public:
  virtual ~StreamSource() = default;
  virtual void close() = 0;
  virtual void pause() = 0;
  virtual void resume() = 0;
};
using StreamSourcePtr = std::unique_ptr<StreamSource>;

// Ticket for one pooled request. Destroying it (or cancel()) guarantees its callback never runs
// and releases the callback's captures at once. What cancelling means (a queued request is
// dropped; a written one has its reply read and discarded) is the pool's: it supplies `Ops`.
// Movable, not copyable.
class [[nodiscard]] RequestHandle {
 public:
  struct Ops {
    void (*cancel)(void* request);
    bool (*pending)(const void* request);  // the callback has not run yet
  };
  RequestHandle() = default;
  RequestHandle(std::weak_ptr<void> request, const Ops* ops)
      : request_(std::move(request)), ops_(ops) {}
  ~RequestHandle() { cancel(); }
  RequestHandle(RequestHandle&&) noexcept = default;
  RequestHandle& operator=(RequestHandle&& other) noexcept {
    if (this != &other) {
      cancel();
      request_ = std::move(other.request_);
      ops_ = other.ops_;
    }
    return *this;
  }
  RequestHandle(const RequestHandle&) = delete;
  RequestHandle& operator=(const RequestHandle&) = delete;

  void cancel() {
    const std::shared_ptr<void> r = request_.lock();
    request_.reset();
    if (r) ops_->cancel(r.get());
  }
  // True until the callback has run or the request was cancelled.
  [[nodiscard]] bool pending() const {
    const std::shared_ptr<void> r = request_.lock();
    return r && ops_->pending(r.get());
  }

 private:
  std::weak_ptr<void> request_;
  const Ops* ops_ = nullptr;
};

}  // namespace kw::proxy
