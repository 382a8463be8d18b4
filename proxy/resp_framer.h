// RespFramer: incremental, bounded RESP2 reply framing (where does the next reply end?).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kw::proxy {

// Bounds on what the upstream may send in one reply.
struct RespLimits {
  uint64_t max_reply_bytes = uint64_t{512} << 20;
  uint64_t max_bulk_bytes = uint64_t{512} << 20;
  uint64_t max_elements = uint64_t{1} << 24;  // per array
  uint32_t max_depth = 64;
  uint32_t max_line_bytes = 1 << 20;  // simple string / error / integer lines
};

// Incremental RESP2 framer: finds where each complete reply ends without re-scanning bytes it
// has already seen (a bulk header is re-read while its payload arrives). Pure, header-only so
// that fuzz/resp_framer_fuzzer links it without libevent.
class RespFramer {
 public:
  enum class Status : uint8_t { NeedMore, Complete, Invalid };
  explicit RespFramer(const RespLimits* limits) : limits_(limits) {}
  // Scans data (whose first byte starts the current reply and which only grows between calls
  // until Complete). On Complete, `length` is the reply's size; then call reset() for the next.
  [[nodiscard]] Status scan(std::string_view data, size_t& length);
  void reset();
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  Status fail(std::string why);
  const RespLimits* limits_;       // owned by the caller; outlives the framer
  size_t offset_ = 0;              // bytes of the current reply already accepted
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
  pending_.clear();
}

inline RespFramer::Status RespFramer::scan(std::string_view data, size_t& length) {
  while (true) {
    if (offset_ >= data.size()) {
      return Status::NeedMore;
    }
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
    size_t next = nl + 1;
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
          const size_t end = next + static_cast<size_t>(n) + 2;
          if (end > limits_->max_reply_bytes) {
            return fail("RESP reply over the size limit");
          }
          if (data.size() < end) {
            return Status::NeedMore;  // re-reads only this short header next time
          }
          if (data[end - 2] != '\r' || data[end - 1] != '\n') {
            return fail("RESP bulk not terminated by CRLF");
          }
          next = end;
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
          offset_ = next;
          continue;  // the array completes with its last element
        }
        break;
      default:
        return fail("unexpected RESP type byte");
    }
    offset_ = next;
    if (offset_ > limits_->max_reply_bytes) {
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

}  // namespace kw::proxy
