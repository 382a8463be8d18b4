// One client connection: HTTP/1.1 framing on a bufferevent, timeouts, keep-alive, SSE streams.
#pragma once

#include <event2/buffer.h>

#include <chrono>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "conf/config.h"
#include "policy/client_policy.h"
#include "proxy/codec/http_request_parser.h"
#include "proxy/io/event_loop.h"
#include "proxy/router/admission.h"
#include "proxy/upstream/exchange.h"

namespace kw::proxy {

class GatewayServer;
class ClientConnection;

// GatewayServer's connections that have not counted for a client yet, oldest first.
struct UnauthenticatedEntry {
  ClientConnection* conn;
  int64_t since_us;  // steady clock (microseconds), when accepted
};
using UnauthenticatedList = std::list<UnauthenticatedEntry>;

// Lifecycle: created by GatewayServer on accept, start(), then it serves requests one at a time
// (pipelined bytes wait in the input buffer) until the peer leaves, a timeout fires, an error
// response closes it, or the server drains. It never deletes itself: it asks the server to
// (deferred), so no callback ever runs on a freed object.
class ClientConnection final : public Exchange {
 public:
  // `anonymous_key`: the server's per-address count this connection is in until it first counts
  // for a client ("" = none, a trusted proxy's). `unauthenticated_at`: its place in the server's
  // list of connections that have not counted for a client yet (oldest first), left then too;
  // none (the list's end) for a trusted proxy's, which is never closed for a newcomer.
  ClientConnection(GatewayServer& server, BufferEventPtr bev, PeerInfo peer,
                   std::string anonymous_key,
                   std::optional<UnauthenticatedList::iterator> unauthenticated_at);
  ~ClientConnection() override;
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  void start();
  // Server shutdown: close now when between requests, else after the current response.
  void drain();
  [[nodiscard]] bool closed() const { return state_ == State::Closed; }
  // listen.max_output_bytes: this connection's unsent output, whether its reader is stalled (no
  // byte of it sent for kOutputStallTime), and closing it to shed that output.
  [[nodiscard]] size_t outputHeld() const { return output_held_; }
  [[nodiscard]] bool outputStalled(std::chrono::steady_clock::time_point now) const;
  void shed();
  // At listen.max_connections: closed to make room for a new connection (GatewayServer::accept).
  void evict();

  // Exchange
  void respond(HttpResponse resp) override;
  void holdRequest(RequestHandle handle) override;
  void holdSource(StreamSourcePtr sub) override;
  void holdQuotaWait(QuotaWaitPtr wait) override { quota_wait_ = std::move(wait); }
  void beginStream(HttpResponse head) override;
  void streamWrite(std::string_view bytes) override;
  void streamWriteShared(std::shared_ptr<const std::string> bytes) override;
  // Shared messages at least this large are queued by reference; smaller ones are copied.
  static constexpr size_t kSharedWriteBytes = 16384;
  void endStream() override;
  void relayBegin(HttpResponse head, std::optional<uint64_t> length) override;
  void relayWrite(std::string_view bytes) override;
  void relayEnd() override;
  void relayAbort() override;
  AccessRecord& record() override { return record_; }
  policy::EvalScratch& scratch() override { return scratch_; }

 private:
  // Closing: flushing the last response. Lingering: response sent and our side shut down; the
  // client's unread bytes are read and discarded (bounded) so closing does not reset the
  // connection before the client has read the response (RFC 9112 section 9.6).
  // Relaying: a kept-alive response body is being relayed (input waits, as when Busy).
  enum class State : uint8_t { Reading, Busy, Relaying, Streaming, Closing, Lingering, Closed };

  static void onRead(bufferevent* bev, void* arg);
  static void onWrite(bufferevent* bev, void* arg);
  static void onEvent(bufferevent* bev, short what, void* arg);
  static void onOutputChange(evbuffer* buf, const evbuffer_cb_info* info, void* arg);
  void detachOutput();  // gives this connection's output share back to the server

  void processInput();
  // The head is in (`st` HeadComplete: a body follows; Complete: none): admission, the
  // connection's client, the body's share of listen.max_buffered_bytes, `100 Continue`. True
  // when the request was refused and answered (its body is never read).
  bool onHead(codec::ParseStatus st);
  // clients[].limits.max_connections for the client the head authenticated as.
  std::optional<HttpResponse> attributeTo(const conf::ClientConfig& client);
  void releaseBody();
  // Unsent output above kOutputHighWater: stop reading (and serving) until it drains.
  bool outputBlocked();
  void serveRequest();
  // The response head. `length`: a Content-Length value; chunked framing when `chunked`;
  // neither: close-delimited. `room`: bytes the caller appends after it (reserved).
  std::string headFor(const HttpResponse& resp, std::optional<uint64_t> length, bool keep_alive,
                      bool chunked = false, size_t room = 0);
  void completeRequest(bool keep);
  void noteOutput();
  void finishRecord(int status, size_t bytes_out);
  void closeAfterFlush();
  void linger();
  // A request whose record is still open is recorded with status 499 and `reason`.
  void closeNow(const char* reason = "client_closed");
  void leaveAnonymous();
  void onTimeout();
  void armForNextRequest();
  // Reading on or off (backpressure, busy, closing): the direct read event when there is one,
  // else the bufferevent's.
  void readOn();
  void readOff();
  // The idle timer for a connection that may hold output: a timeout finding the unsent bytes
  // (ours plus the kernel's queue) lower than at arming, or ours written since, re-arms it.
  // `delay`: idle_timeout unless given.
  void armIdle(std::optional<Milliseconds> delay = std::nullopt);
  [[nodiscard]] bool outputMoved() const;
  [[nodiscard]] size_t unsentBytes() const;
  static void onSocketReadable(int fd, short what, void* arg) noexcept;

  GatewayServer& server_;
  BufferEventPtr bev_;
  // A plaintext connection is read by this event, read(2) straight into the bufferevent's input
  // (the bufferevent keeps writes): libevent's own read asks FIONREAD first, one more syscall per
  // request. TLS connections read through the bufferevent. Destroyed before bev_ (its fd).
  EventPtr direct_read_;
  PeerInfo peer_;
  codec::HttpRequestParser parser_;
  State state_ = State::Reading;
  // A request's head was read and its record not written yet (closeNow writes it: 499).
  bool record_pending_ = false;
  // nginx's "client closed request": the record of a request whose client left before the answer.
  static constexpr int kClientClosedStatus = 499;
  bool in_process_ = false;
  bool draining_ = false;
  bool keep_alive_ = true;
  bool head_request_ = false;    // HEAD: no body bytes
  bool awaiting_bytes_ = true;   // between requests and nothing received yet
  bool first_head_ = true;       // no request byte received yet on this connection
  bool paused_ = false;          // SSE upstream paused for backpressure
  size_t lingered_bytes_ = 0;    // discarded while Lingering
  size_t linger_limit_ = 0;      // the most discarded before closing at once
  bool output_blocked_ = false;  // reading stopped until the output drains
  evbuffer_cb_entry* output_cb_ = nullptr;
  size_t output_held_ = 0;  // counted in the server's total
  // Bytes queued by reference to a buffer other streams share (streamWriteShared): not this
  // connection's memory, so outside output_held_ (attack round 24: one 7 MB PUBLISH copied into
  // 400 of a client's streams held 1.2 GB). Ranges in bytes ever added to the output, which
  // its callback (synchronous: never deferred here) counts as they come and go.
  std::deque<std::pair<uint64_t, uint64_t>> shared_ranges_;
  uint64_t output_added_ = 0;
  uint64_t output_deleted_ = 0;
  bool adding_shared_ = false;
  std::chrono::steady_clock::time_point output_progress_;  // last byte sent, or first held
  std::chrono::steady_clock::time_point armed_at_;         // armIdle()
  size_t unsent_at_arm_ = 0;
  uint64_t reserved_body_ = 0;  // this request's share of listen.max_buffered_bytes
  std::string reserved_for_;    // the client it is counted for
  std::string client_;          // the client this connection counts for ("" = none yet)
  std::string anonymous_key_;   // counted as anonymous under this address until then
  // Its place in the server's list until then (none for a trusted proxy's).
  std::optional<UnauthenticatedList::iterator> unauthenticated_at_;
  Admission admission_;
  bool relay_chunked_ = false;  // Relaying with chunked framing
  bool relay_keep_ = false;     // Relaying: keep the connection after relayEnd()
  Timer timer_;
  RequestHandle pending_;
  QuotaWaitPtr quota_wait_;  // destroyed first: cancels a wait for a store lease
  StreamSourcePtr source_;
  AccessRecord record_;
  policy::EvalScratch scratch_;
};

}  // namespace kw::proxy
