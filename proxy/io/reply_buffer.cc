// ReplyBuffer: heap below 1 MiB (mapped_from), an mremap-grown anonymous mapping above.
#include "proxy/io/reply_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace kw::proxy {

namespace {

size_t pageRound(size_t n) {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (n + page - 1) / page * page;
}

// ThreadSanitizer does not intercept mremap: a range it moved away from looks still written to
// TSan, and another worker's later mmap of that range reads as a race. Its build copies instead.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kUseMremap = false;
#else
constexpr bool kUseMremap = true;
#endif
#else
constexpr bool kUseMremap = true;
#endif
}  // namespace

ReplyBuffer::ReplyBuffer(ReplyBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)),
      mapped_(std::exchange(other.mapped_, false)),
      mapped_from_(other.mapped_from_) {}

ReplyBuffer& ReplyBuffer::operator=(ReplyBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    mapped_ = std::exchange(other.mapped_, false);
    mapped_from_ = other.mapped_from_;
  }
  return *this;
}

void ReplyBuffer::release() {
  if (data_ != nullptr) {
    if (mapped_) {
      munmap(data_, capacity_);
    } else {
      std::free(data_);
    }
  }
  data_ = nullptr;
  size_ = 0;
  capacity_ = 0;
  mapped_ = false;
}

bool ReplyBuffer::reserveTail(size_t n) {
  if (capacity_ - size_ >= n) return true;
  if (n > SIZE_MAX / 4 - size_) return false;
  const size_t want = std::max(size_ + n, capacity_ * 2);
  if (want < mapped_from_) {
    void* p = std::realloc(data_, std::max<size_t>(want, 4096));
    if (p == nullptr) return false;
    data_ = static_cast<char*>(p);
    capacity_ = std::max<size_t>(want, 4096);
    return true;
  }
  const size_t bytes = pageRound(want);
  void* p = nullptr;
  if (mapped_ && kUseMremap) {
    p = mremap(data_, capacity_, bytes, MREMAP_MAYMOVE);
  } else if (mapped_) {
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) std::memcpy(p, data_, size_);
    if (p != MAP_FAILED) munmap(data_, capacity_);
  } else {
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED && size_ != 0) std::memcpy(p, data_, size_);  // under 1 MiB, once
    if (p != MAP_FAILED) std::free(data_);
  }
  if (p == MAP_FAILED) return false;
  data_ = static_cast<char*>(p);
  capacity_ = bytes;
  mapped_ = true;
  return true;
}

bool ReplyBuffer::append(std::string_view bytes) {
  if (bytes.empty()) return true;
  if (!reserveTail(bytes.size())) return false;
  std::memcpy(tail(), bytes.data(), bytes.size());
  commit(bytes.size());
  return true;
}

void ReplyBuffer::eraseFront(size_t n) {
  n = std::min(n, size_);
  if (n == 0) return;
  const size_t rest = size_ - n;
  if (mapped_ && rest < mapped_from_ / 2) {
    // A large reply went: the little that follows it goes to a small block of its own.
    ReplyBuffer small(mapped_from_);
    if (small.append(std::string_view(data_ + n, rest))) {
      *this = std::move(small);
      return;
    }
  }
  if (rest != 0) std::memmove(data_, data_ + n, rest);
  size_ = rest;
}

void ReplyBuffer::shrinkIfIdle() {
  if (size_ == 0 && capacity_ > mapped_from_) release();
}

}  // namespace kw::proxy
