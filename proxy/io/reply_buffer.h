// ReplyBuffer: the bytes of upstream replies, contiguous, growing without copying what it holds.
#pragma once

#include <cstddef>
#include <string_view>

namespace kw::proxy {

// A byte buffer for replies that may reach tens of MiB. Below kMappedBytes it is an ordinary
// heap block; past it the bytes live in their own anonymous mapping that grows with mremap, so
// growing a 32 MiB reply to 64 MiB moves page tables instead of copying 32 MiB (and touching
// 64 MiB of fresh pages) in one event-loop turn, and freeing it hands the pages straight back.
// Growth never zero-fills. Move-only; data() stays put across moves (views survive them).
class ReplyBuffer {
 public:
  static constexpr size_t kMappedBytes = size_t{1} << 20;

  ReplyBuffer() = default;
  // `mapped_from`: the size from which the bytes live in a mapping (tests and fuzzers use a
  // page to reach that path with small inputs).
  explicit ReplyBuffer(size_t mapped_from) : mapped_from_(mapped_from) {}
  ~ReplyBuffer() { release(); }
  ReplyBuffer(ReplyBuffer&& other) noexcept;
  ReplyBuffer& operator=(ReplyBuffer&& other) noexcept;
  ReplyBuffer(const ReplyBuffer&) = delete;
  ReplyBuffer& operator=(const ReplyBuffer&) = delete;

  [[nodiscard]] const char* data() const { return data_; }
  [[nodiscard]] size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  [[nodiscard]] size_t capacity() const { return capacity_; }
  [[nodiscard]] std::string_view view() const { return {data_, size_}; }

  // Room for `n` more bytes at tail(); then commit() what was written there. False when the
  // memory cannot be had (the caller treats it as a failed reply).
  [[nodiscard]] bool reserveTail(size_t n);
  [[nodiscard]] char* tail() { return data_ + size_; }
  void commit(size_t n) { size_ += n; }
  [[nodiscard]] bool append(std::string_view bytes);
  // Keeps the first n bytes.
  void truncate(size_t n) {
    if (n < size_) size_ = n;
  }
  // Drops the first n bytes. What remains moves to the front (a small tail, after a reply).
  void eraseFront(size_t n);
  // Frees the memory when it is large and what it holds is small (kept per connection).
  void shrinkIfIdle();
  void clear() { size_ = 0; }

 private:
  void release();
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  bool mapped_ = false;  // data_ is an mmap of capacity_ bytes, else malloc
  size_t mapped_from_ = kMappedBytes;
};

}  // namespace kw::proxy
