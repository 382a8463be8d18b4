// RAII owners for libevent and OpenSSL handles, plus callback-based timers and signal events.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "policy/result.h"

struct event;
struct event_base;
struct evbuffer;
struct bufferevent;
struct evconnlistener;
struct ssl_ctx_st;
struct ssl_st;

namespace kw::proxy {

struct EventBaseDeleter {
  void operator()(event_base* p) const noexcept;
};
struct EventDeleter {
  void operator()(event* p) const noexcept;
};
struct EvBufferDeleter {
  void operator()(evbuffer* p) const noexcept;
};
struct BufferEventDeleter {
  void operator()(bufferevent* p) const noexcept;
};
struct ListenerDeleter {
  void operator()(evconnlistener* p) const noexcept;
};
struct SslCtxDeleter {
  void operator()(ssl_ctx_st* p) const noexcept;
};
struct SslDeleter {
  void operator()(ssl_st* p) const noexcept;
};

using EventBasePtr = std::unique_ptr<event_base, EventBaseDeleter>;
using EventPtr = std::unique_ptr<event, EventDeleter>;
using EvBufferPtr = std::unique_ptr<evbuffer, EvBufferDeleter>;
using BufferEventPtr = std::unique_ptr<bufferevent, BufferEventDeleter>;
using ListenerPtr = std::unique_ptr<evconnlistener, ListenerDeleter>;
using SslCtxPtr = std::unique_ptr<ssl_ctx_st, SslCtxDeleter>;  // SSL_CTX
using SslPtr = std::unique_ptr<ssl_st, SslDeleter>;            // SSL

// A new event_base (monotonic timers, no locking: each base is used by one thread only; other
// threads reach it through a LoopMailbox).
[[nodiscard]] Result<EventBasePtr> makeEventBase();

using Milliseconds = std::chrono::milliseconds;

// A one-shot (or periodic) timer bound to an event_base; the callback runs on the loop thread.
// Destroying or cancelling the timer guarantees the callback will not run afterwards.
// The callback may destroy the Timer itself (nothing of the Timer is touched after it returns).
class Timer {
 public:
  Timer(event_base* base, std::function<void()> on_fire);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void arm(Milliseconds delay);          // (re)start as one-shot
  void armPeriodic(Milliseconds every);  // (re)start as periodic
  void cancel();
  [[nodiscard]] bool armed() const;

 private:
  static void onEvent(int fd, short what, void* arg) noexcept;
  void reset(bool periodic, Milliseconds delay);

  event_base* base_;
  std::function<void()> on_fire_;
  EventPtr ev_;
};

// Calls on_signal on the loop thread whenever `signo` is delivered (SIGHUP, SIGTERM, ...).
class SignalEvent {
 public:
  static Result<std::unique_ptr<SignalEvent>> create(event_base* base, int signo,
                                                     std::function<void()> on_signal);
  SignalEvent(const SignalEvent&) = delete;
  SignalEvent& operator=(const SignalEvent&) = delete;

 private:
  explicit SignalEvent(std::function<void()> on_signal) : on_signal_(std::move(on_signal)) {}
  static void onEvent(int fd, short what, void* arg) noexcept;

  std::function<void()> on_signal_;
  EventPtr ev_;
};

}  // namespace kw::proxy
