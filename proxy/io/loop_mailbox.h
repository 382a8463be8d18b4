// LoopMailbox: runs functions posted from any thread on one event loop's thread (the control
// thread tells a worker to take a reload, drain, or report its counters). An eventfd wakes the
// loop; the loop itself stays lock-free (no evthread locking on the request path).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "policy/result.h"
#include "proxy/io/event_loop.h"

namespace kw::proxy {

class LoopMailbox {
 public:
  static Result<std::unique_ptr<LoopMailbox>> create(event_base* base);
  ~LoopMailbox();
  LoopMailbox(const LoopMailbox&) = delete;
  LoopMailbox& operator=(const LoopMailbox&) = delete;

  // From any thread: `fn` runs on the loop's thread, in posting order. After close() (or once
  // the loop has stopped for good) posts are dropped: false.
  bool post(std::function<void()> fn);
  // Runs `fn` on the loop and waits at most `timeout` for it to finish. False when it did not
  // run in time (it may still run later: `fn` must own what it touches).
  bool call(std::function<void()> fn, std::chrono::milliseconds timeout);
  // Drops what is queued and refuses later posts; from the loop's thread or after it stopped.
  void close();

 private:
  LoopMailbox() = default;
  static void onWake(int fd, short what, void* arg) noexcept;

  int fd_ = -1;
  EventPtr ev_;
  std::mutex mu_;
  std::deque<std::function<void()>> queue_;
  bool closed_ = false;
};

}  // namespace kw::proxy
