// The connection side of one request, as the router and the upstreams see it: a response
// (whole, relayed, or an endless stream) and what the request holds while it waits.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/client_policy.h"
#include "proxy/io/access_log.h"
#include "proxy/upstream/upstream_types.h"

namespace kw::proxy {

class QuotaWait;
using QuotaWaitPtr = std::unique_ptr<QuotaWait>;

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  bool close = false;                                        // Connection: close after it
};

// The connection side of one request. The router calls exactly one of respond() or
// beginStream() per request (possibly later, from an upstream callback).
class Exchange {
 public:
  virtual ~Exchange() = default;
  // Sends the response and completes the request (the access record is written then).
  virtual void respond(HttpResponse resp) = 0;
  // Keeps the in-flight upstream request; destroyed (cancelled) if the client goes away.
  virtual void holdRequest(RequestHandle handle) = 0;
  // Keeps the source of a long response (a subscription, a relayed or sliced body): paused
  // while the client's output buffer is full, closed when the client disconnects.
  virtual void holdSource(StreamSourcePtr source) = 0;
  // Keeps a request waiting for a quota lease; destroyed (cancelled) if the client goes away.
  virtual void holdQuotaWait(QuotaWaitPtr wait) = 0;
  // Sends the head of an endless response (no Content-Length; the connection closes after).
  virtual void beginStream(HttpResponse head) = 0;
  // Appends bytes to a started stream (backpressure is the connection's business).
  virtual void streamWrite(std::string_view bytes) = 0;
  // The same for bytes that many streams send (one pub/sub message fanned out): a connection
  // may keep a reference instead of a copy.
  virtual void streamWriteShared(std::shared_ptr<const std::string> bytes) { streamWrite(*bytes); }
  // Ends a started stream: flush, then close.
  virtual void endStream() = 0;
  // A relayed response body (a REST reply, or a large one encoded in slices): the head with
  // Content-Length `length`, or chunked when unknown; then relayWrite() pieces, and relayEnd()
  // completes the request (keep-alive preserved) or relayAbort() closes the connection at once so
  // the client sees a truncated response, never a complete-looking one. The source held by
  // holdSource() is paused while the client's output buffer is full and closed if the client goes
  // away.
  virtual void relayBegin(HttpResponse head, std::optional<uint64_t> length) = 0;
  virtual void relayWrite(std::string_view bytes) = 0;
  virtual void relayEnd() = 0;
  virtual void relayAbort() = 0;
  virtual AccessRecord& record() = 0;
  virtual policy::EvalScratch& scratch() = 0;
};

// An error response: {"error": message} with `status`.
HttpResponse errorResponse(int status, std::string_view message);

}  // namespace kw::proxy
