// Cross-thread posts onto an event loop through an eventfd; see loop_mailbox.h.
#include "proxy/io/loop_mailbox.h"

#include <event2/event.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <cstring>

namespace kw::proxy {

Result<std::unique_ptr<LoopMailbox>> LoopMailbox::create(event_base* base) {
  std::unique_ptr<LoopMailbox> m(new LoopMailbox());
  m->fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m->fd_ < 0) return Error{ErrorCode::Io, std::string("eventfd: ") + std::strerror(errno)};
  m->ev_.reset(event_new(base, m->fd_, EV_READ | EV_PERSIST, onWake, m.get()));
  if (!m->ev_ || event_add(m->ev_.get(), nullptr) != 0) {
    return Error{ErrorCode::Io, "cannot watch the mailbox"};
  }
  return m;
}

LoopMailbox::~LoopMailbox() {
  ev_.reset();
  if (fd_ >= 0) ::close(fd_);
}

bool LoopMailbox::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    queue_.push_back(std::move(fn));
  }
  const uint64_t one = 1;
  // EAGAIN only when the counter is at its maximum: the loop is woken already.
  (void)!::write(fd_, &one, sizeof one);
  return true;
}

bool LoopMailbox::call(std::function<void()> fn, std::chrono::milliseconds timeout) {
  struct Done {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  };
  auto done = std::make_shared<Done>();
  const bool posted = post([fn = std::move(fn), done] {
    fn();
    std::lock_guard<std::mutex> lock(done->mu);
    done->done = true;
    done->cv.notify_all();
  });
  if (!posted) return false;
  std::unique_lock<std::mutex> lock(done->mu);
  return done->cv.wait_for(lock, timeout, [&] { return done->done; });
}

void LoopMailbox::close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  queue_.clear();
}

void LoopMailbox::onWake(int fd, short /*what*/, void* arg) noexcept {
  auto* self = static_cast<LoopMailbox*>(arg);
  uint64_t n = 0;
  (void)!::read(fd, &n, sizeof n);
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(self->mu_);
    batch.swap(self->queue_);
  }
  // A function may close() the mailbox (a drain's last step); what is left of the batch runs.
  for (auto& fn : batch) fn();
}

}  // namespace kw::proxy
