// RedisConnection: one TCP or TLS connection to Redis that connects, authenticates, writes
// bytes and frames the replies (validated RESP2, bounded).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec/resp_parser.h"
#include "proxy/io/event_loop.h"
#include "proxy/io/reply_buffer.h"
#include "proxy/upstream/upstream_types.h"

namespace kw::proxy {

// Where and how to connect. `password` is secret: never logged, never in an error message.
struct RedisEndpoint {
  std::string host;  // DNS name or IP literal (no brackets)
  uint16_t port = 6379;
  bool tls = false;
  std::string user;      // AUTH <user> <password> when set, AUTH <password> otherwise
  std::string password;  // empty: no AUTH
  uint32_t db = 0;       // SELECT when non-zero
};

// One connection. Reports to a Handler; the owner holds it in a shared_ptr and may drop it from
// inside any Handler callback (the connection keeps itself alive until its callback returns).
// It may outlive the RedisPool that made it (it copies what it needs).
class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // Connected, TLS verified, AUTH/SELECT accepted: requests may be written now.
    virtual void onReady(RedisConnection& conn) = 0;
    // One complete reply (not a handshake reply) and the values its framing recorded (build
    // the tree with codec::buildReply). Both are valid during the call only.
    virtual void onReply(RedisConnection& conn, std::string_view raw,
                         std::span<const codec::RespNode> nodes) = 0;
    // A large reply that filled the front of the read buffer is handed over as that buffer
    // (no copy: a 64 MiB reply would otherwise be copied in one loop turn). By default it is
    // delivered as a view.
    virtual void onReplyOwned(RedisConnection& conn, ReplyBuffer&& raw,
                              std::span<const codec::RespNode> nodes) {
      onReply(conn, raw.view(), nodes);
    }
    // Asked while a reply arrives (and once it is complete) with its size so far and the
    // values its array headers declare: false makes the connection skip that reply (its bytes
    // are framed and dropped, never held) and report onReplySkipped instead of onReply.
    virtual bool admitReply(RedisConnection& /*conn*/, uint64_t /*bytes*/, uint64_t /*values*/) {
      return true;
    }
    virtual void onReplySkipped(RedisConnection& /*conn*/) {}
    // The connection is gone (never after close()). Kinds: Unreachable or Auth before onReady;
    // Closed or Protocol after it.
    virtual void onClosed(RedisConnection& conn, const UpstreamError& error) = 0;
  };

  enum class State : uint8_t { Idle, Connecting, Handshaking, Ready, Closed };

  static std::shared_ptr<RedisConnection> create(event_base* base, const RedisEndpoint& endpoint,
                                                 ssl_ctx_st* tls_ctx, Milliseconds connect_timeout,
                                                 const codec::RespLimits& limits, Handler* handler);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Starts connecting; the outcome arrives via onReady or onClosed (never inside start()).
  void start();
  // Queues bytes for writing (Ready state only). Small writes are corked: everything written
  // during one loop turn leaves in one send, after the turn's other callbacks (see flush_).
  void write(std::string_view bytes);
  // Closes at once; no Handler call follows.
  void close();
  // Stop / restart reading and delivering replies (backpressure).
  void pauseReading();
  void resumeReading();

  [[nodiscard]] State state() const { return state_; }

 private:
  RedisConnection(event_base* base, const RedisEndpoint& endpoint, ssl_ctx_st* tls_ctx,
                  Milliseconds connect_timeout, const codec::RespLimits& limits, Handler* handler);
  static void onReadCb(bufferevent* bev, void* arg) noexcept;
  // Plaintext: the socket is read straight into in_ (see direct_read_).
  static void onSocketReadable(int fd, short what, void* arg) noexcept;
  // resumeReading's second half, from the loop: what is buffered first, then the socket again.
  void resumeAfterBuffered();
  static void onEventCb(bufferevent* bev, short what, void* arg) noexcept;
  static void onFlush(int fd, short what, void* arg) noexcept;
  void flushCorked();
  void doStart();
  void onConnected();
  void processInput();
  void handleHandshakeReply(std::string_view raw);
  void fail(const UpstreamError& error);

  event_base* base_;
  RedisEndpoint endpoint_;
  SslCtxPtr tls_ctx_;  // a reference of its own (SSL_CTX_up_ref)
  Milliseconds connect_timeout_;
  codec::RespLimits limits_;
  Handler* handler_;
  State state_ = State::Idle;
  BufferEventPtr bev_;
  // A plaintext connection, once connected, is read by this event with read(2) into in_ (the
  // bufferevent keeps writes and connect): no FIONREAD ioctl and no copy out of an evbuffer per
  // reply. TLS connections read through the bufferevent. Reset before bev_ (which owns the fd).
  EventPtr direct_read_;
  // Requests written in this loop turn, sent together by flush_: an event made active (never
  // polled) by the first write of a turn, so it runs after the callbacks epoll reported with it
  // (every client read of the turn). The bytes go straight to the socket (writeThrough): the
  // bufferevent arms EV_WRITE only for what the socket does not take, instead of two epoll_ctl
  // per write. Reset before bev_.
  EventPtr flush_;
  std::string corked_;
  Timer connect_timer_;
  Timer start_timer_;
  Timer resume_timer_;
  codec::RespParser parser_;
  ReplyBuffer in_;     // bytes read and not yet delivered
  size_t in_pos_ = 0;  // start of the first undelivered reply in in_
  uint32_t handshake_replies_ = 0;
  bool skipping_ = false;  // the current reply was refused by admitReply: drop its bytes
  bool paused_ = false;
  bool processing_ = false;
};

}  // namespace kw::proxy
