// RespFramer: incremental, bounded RESP2 reply framing (where does the next reply end?).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kw::proxy::codec {

// Bounds on what the upstream may send in one reply. Exceeding one is a protocol error
// (Invalid): the stream cannot be trusted after it. RedisPool sets the reply size and
// element bounds far above its own per-request limits, which it enforces by skipping a reply
// (see RespFramer::accepted/discard) so that the connection stays in sync.
struct RespLimits {
  uint64_t max_reply_bytes = uint64_t{512} << 20;
  uint64_t max_bulk_bytes = uint64_t{512} << 20;
  uint64_t max_elements = uint64_t{1} << 24;  // per array
  uint32_t max_depth = 64;
  uint32_t max_line_bytes = 1 << 20;  // simple string / error / integer lines
};

// Incremental RESP2 framer: finds where each complete reply ends without re-scanning bytes it
// has already seen (a bulk payload is accepted as it arrives). The caller may drop accepted
// bytes of the current reply (discard) so that a reply it will not keep never has to be held
// whole. Pure and header-only. Every RESP stream keyward reads is framed by this (RedisConnection,
// the REST resp2 splice), and each complete reply is read by parseReply (resp_reader.h).
class RespFramer {
 public:
  enum class Status : uint8_t { NeedMore, Complete, Invalid };
  explicit RespFramer(const RespLimits* limits) : limits_(limits) {}
  // Scans data (whose first byte is the first byte of the current reply not yet discarded and
  // which only grows between calls until Complete). On Complete, `length` is the size of the
  // reply's remaining part in data (the whole reply when nothing was discarded); then call
  // reset() for the next.
  [[nodiscard]] Status scan(std::string_view data, size_t& length);
  void reset();
  [[nodiscard]] const std::string& error() const { return error_; }
  // Bytes at the front of data already validated as part of the current reply.
  [[nodiscard]] size_t accepted() const { return offset_; }
  // The caller dropped the first n <= accepted() bytes; the next scan's data starts after them.
  void discard(size_t n) {
    offset_ -= n;
    dropped_ += n;
  }
  [[nodiscard]] uint64_t dropped() const { return dropped_; }
  // Values the current reply holds at all levels (arrays included), counted from the array
  // headers seen so far: known before the elements arrive.
  [[nodiscard]] uint64_t values() const { return values_; }

 private:
  Status fail(std::string why);
  const RespLimits* limits_;       // owned by the caller; outlives the framer
  size_t offset_ = 0;              // bytes of the current reply accepted (after the dropped ones)
  uint64_t dropped_ = 0;           // bytes of the current reply the caller discarded
  uint64_t bulk_left_ = 0;         // payload + CRLF bytes of the open bulk string still to come
  uint64_t values_ = 1;            // values declared in the current reply
  std::vector<uint64_t> pending_;  // remaining elements per open array
  std::string error_;
};

namespace detail {
// Parses a RESP length/integer line body: optional '-', 1..18 digits.
inline bool parseRespInt(std::string_view s, int64_t& out) {
  bool neg = false;
  if (!s.empty() && s.front() == '-') {
    neg = true;
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 18) {
    return false;
  }
  int64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + (c - '0');
  }
  out = neg ? -v : v;
  return true;
}

}  // namespace detail

inline RespFramer::Status RespFramer::fail(std::string why) {
  error_ = std::move(why);
  return Status::Invalid;
}

inline void RespFramer::reset() {
  offset_ = 0;
  dropped_ = 0;
  bulk_left_ = 0;
  values_ = 1;
  pending_.clear();
}

inline RespFramer::Status RespFramer::scan(std::string_view data, size_t& length) {
  while (true) {
    if (offset_ >= data.size()) {
      return Status::NeedMore;
    }
    if (bulk_left_ > 0) {
      // An open bulk payload: accept what arrived; its last two bytes must be CRLF.
      const size_t take =
          static_cast<size_t>(std::min<uint64_t>(data.size() - offset_, bulk_left_));
      if (bulk_left_ >= 2 && bulk_left_ - 2 < take && data[offset_ + bulk_left_ - 2] != '\r') {
        return fail("RESP bulk not terminated by CRLF");
      }
      if (bulk_left_ - 1 < take && data[offset_ + bulk_left_ - 1] != '\n') {
        return fail("RESP bulk not terminated by CRLF");
      }
      offset_ += take;
      bulk_left_ -= take;
      if (bulk_left_ > 0) {
        return Status::NeedMore;
      }
    } else {
      const size_t window = std::min<size_t>(data.size() - offset_, limits_->max_line_bytes + 3);
      const void* nl_ptr = std::memchr(data.data() + offset_, '\n', window);
      if (nl_ptr == nullptr) {
        if (window > limits_->max_line_bytes + 2) {
          return fail("RESP line too long");
        }
        return Status::NeedMore;
      }
      const auto nl = static_cast<size_t>(static_cast<const char*>(nl_ptr) - data.data());
      if (nl < offset_ + 2 || data[nl - 1] != '\r') {
        return fail("RESP line not terminated by CRLF");
      }
      const char type = data[offset_];
      const std::string_view line = data.substr(offset_ + 1, nl - 1 - (offset_ + 1));
      const size_t next = nl + 1;
      int64_t n = 0;
      switch (type) {
        case '+':
        case '-':
          break;
        case ':':
          if (!detail::parseRespInt(line, n)) {
            return fail("bad RESP integer");
          }
          break;
        case '$':
          if (!detail::parseRespInt(line, n) || n < -1 ||
              static_cast<uint64_t>(std::max<int64_t>(n, 0)) > limits_->max_bulk_bytes) {
            return fail("bad or oversized RESP bulk length");
          }
          if (n >= 0) {
            if (dropped_ + next + static_cast<uint64_t>(n) + 2 > limits_->max_reply_bytes) {
              return fail("RESP reply over the size limit");
            }
            offset_ = next;
            bulk_left_ = static_cast<uint64_t>(n) + 2;
            continue;  // the bulk completes with its payload
          }
          break;
        case '*':
          if (!detail::parseRespInt(line, n) || n < -1 ||
              (n > 0 && static_cast<uint64_t>(n) > limits_->max_elements)) {
            return fail("bad or oversized RESP array length");
          }
          if (n > 0) {
            if (pending_.size() >= limits_->max_depth) {
              return fail("RESP reply nested too deeply");
            }
            pending_.push_back(static_cast<uint64_t>(n));
            // Saturates: n < 10^18, so the sum never wraps.
            values_ = std::min<uint64_t>(values_ + static_cast<uint64_t>(n), uint64_t{1} << 62);
            offset_ = next;
            continue;  // the array completes with its last element
          }
          break;
        default:
          return fail("unexpected RESP type byte");
      }
      offset_ = next;
    }
    if (dropped_ + offset_ > limits_->max_reply_bytes) {
      return fail("RESP reply over the size limit");
    }
    while (!pending_.empty() && --pending_.back() == 0) {
      pending_.pop_back();
    }
    if (pending_.empty()) {
      length = offset_;
      return Status::Complete;
    }
  }
}

}  // namespace kw::proxy::codec
