// RESP2 reply framing with value recording, and the tree built from what was recorded.
#include "proxy/codec/resp_parser.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

namespace kw::proxy::codec {

bool parseRespDecimal(std::string_view s, int64_t& out) {
  std::string_view digits = s;
  const bool negative = !digits.empty() && digits.front() == '-';
  if (negative) digits.remove_prefix(1);
  if (digits.empty() || digits.size() > 19) return false;
  if (digits.front() == '0') {
    if (digits.size() != 1 || negative) return false;
  }
  for (const char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

RespParser::Status RespParser::fail(std::string why, bool over_limit) {
  error_ = std::move(why);
  over_limit_ = over_limit;
  clearNodes();
  return Status::Invalid;
}

void RespParser::record(RespType type, uint64_t offset, int64_t n) {
  if (!recording_) return;
  const RespNode node{offset, static_cast<uint64_t>(type), n};
  if (spilled_.empty() && inline_count_ < kInline) {
    inline_[inline_count_++] = node;
    return;
  }
  if (spilled_.empty()) spilled_.assign(inline_.begin(), inline_.end());
  spilled_.push_back(node);
}

void RespParser::clearNodes() {
  inline_count_ = 0;
  if (spilled_.capacity() > 4096) {
    ReplyNodes().swap(spilled_);  // a large reply's record goes back
  } else {
    spilled_.clear();
  }
}

void RespParser::discard(size_t n) {
  offset_ -= n;
  dropped_ += n;
  if (recording_) {
    recording_ = false;
    clearNodes();  // a reply being skipped can be large: hold nothing for it
  }
}

void RespParser::reset() {
  offset_ = 0;
  line_clean_ = 0;
  dropped_ = 0;
  bulk_left_ = 0;
  values_ = 1;
  pending_.clear();
  recording_ = true;
  clearNodes();
}

RespParser::Status RespParser::scan(std::string_view data, size_t& length) {
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
      // A line: type byte, at most max_line_bytes holding neither CR nor LF, CRLF.
      const char type = data[offset_];
      if (type != '+' && type != '-' && type != ':' && type != '$' && type != '*') {
        return fail("unexpected RESP type byte");
      }
      const size_t line_at = offset_ + 1;
      const size_t window =
          std::min<size_t>(data.size() - line_at, size_t{limits_->max_line_bytes} + 1);
      const size_t from = std::min(line_clean_, window);
      const char* scan_at = data.data() + line_at + from;
      const void* cr = std::memchr(scan_at, '\r', window - from);
      const size_t clean_end =
          cr == nullptr ? window
                        : static_cast<size_t>(static_cast<const char*>(cr) - scan_at) + from;
      if (std::memchr(scan_at, '\n', clean_end - from) != nullptr) {
        return fail("LF inside a RESP line");
      }
      if (cr == nullptr) {
        if (window > limits_->max_line_bytes) {
          return fail("RESP line too long", true);
        }
        line_clean_ = window;
        return Status::NeedMore;
      }
      const size_t cr_at = line_at + clean_end;
      if (cr_at + 1 >= data.size()) {
        line_clean_ = clean_end;
        return Status::NeedMore;
      }
      if (data[cr_at + 1] != '\n') {
        return fail("RESP line not terminated by CRLF");
      }
      line_clean_ = 0;
      const std::string_view line = data.substr(line_at, cr_at - line_at);
      const size_t next = cr_at + 2;
      int64_t n = 0;
      switch (type) {
        case '+':
        case '-':
          record(type == '+' ? RespType::Status : RespType::Error, dropped_ + line_at,
                 static_cast<int64_t>(line.size()));
          break;
        case ':':
          if (!parseRespDecimal(line, n)) {
            return fail("bad RESP integer");
          }
          record(RespType::Integer, 0, n);
          break;
        case '$':
          if (!parseRespDecimal(line, n) || n < -1) {
            return fail("bad RESP bulk length");
          }
          if (n == -1) {
            record(RespType::Null, 0, 0);
            break;
          }
          if (static_cast<uint64_t>(n) > limits_->max_bulk_bytes) {
            return fail("RESP bulk length over the size limit", true);
          }
          if (dropped_ + next + static_cast<uint64_t>(n) + 2 > limits_->max_reply_bytes) {
            return fail("RESP reply over the size limit", true);
          }
          if (dropped_ + next > RespNode::kMaxOffset) {
            return fail("RESP reply over the size limit", true);
          }
          record(RespType::Bulk, dropped_ + next, n);
          offset_ = next;
          bulk_left_ = static_cast<uint64_t>(n) + 2;
          continue;  // the bulk completes with its payload
        case '*':
          if (!parseRespDecimal(line, n) || n < -1) {
            return fail("bad RESP array length");
          }
          if (n == -1) {
            record(RespType::NullArray, 0, 0);
            break;
          }
          if (pending_.size() + 1 > limits_->max_depth) {
            return fail("RESP reply nested too deeply", true);
          }
          // n < 10^19 and values_ <= max_values < 2^63 before this: the sum never wraps.
          values_ += static_cast<uint64_t>(n);
          if (values_ > limits_->max_values) {
            return fail("RESP reply holds too many values", true);
          }
          record(RespType::Array, 0, n);
          if (n > 0) {
            pending_.push_back(static_cast<uint64_t>(n));
            offset_ = next;
            continue;  // the array completes with its last element
          }
          break;
        default:
          return fail("unexpected RESP type byte");  // not reached: checked above
      }
      offset_ = next;
    }
    if (dropped_ + offset_ > limits_->max_reply_bytes) {
      return fail("RESP reply over the size limit", true);
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

namespace {

constexpr uint32_t kMaxTreeDepth = 512;  // building recurses: a cap whatever the caller asks

class TreeBuilder {
 public:
  TreeBuilder(std::string_view raw, std::span<const RespNode> nodes, uint32_t max_depth)
      : raw_(raw), nodes_(nodes), max_depth_(std::min(max_depth, kMaxTreeDepth)) {}

  // Builds nodes_[next_] and what it holds into out.
  Status build(RespValue& out, uint32_t depth) {
    if (next_ >= nodes_.size()) return mismatch();
    const RespNode& node = nodes_[next_++];
    out.type = node.type();
    switch (out.type) {
      case RespType::Status:
      case RespType::Error:
      case RespType::Bulk:
        if (node.n < 0 || node.offset > raw_.size() ||
            static_cast<uint64_t>(node.n) > raw_.size() - node.offset) {
          return mismatch();
        }
        out.str = raw_.substr(node.offset, static_cast<size_t>(node.n));
        return Ok{};
      case RespType::Integer:
        out.integer = node.n;
        return Ok{};
      case RespType::Null:
      case RespType::NullArray:
        return Ok{};
      case RespType::Array:
        if (depth + 1 > max_depth_) {
          return makeError(ErrorCode::TooLarge, "protocol error: arrays nested deeper than " +
                                                    std::to_string(max_depth_));
        }
        if (node.n < 0 || static_cast<uint64_t>(node.n) > nodes_.size() - next_) {
          return mismatch();
        }
        out.elements.resize(static_cast<size_t>(node.n));
        for (RespValue& e : out.elements) {
          if (Status s = build(e, depth + 1); !s) return s;
        }
        return Ok{};
    }
    return mismatch();
  }
  [[nodiscard]] bool done() const { return next_ == nodes_.size(); }

 private:
  static Status mismatch() {
    return makeError(ErrorCode::InvalidArgument, "protocol error: nodes do not match the reply");
  }
  std::string_view raw_;
  std::span<const RespNode> nodes_;
  uint32_t max_depth_;
  size_t next_ = 0;
};

}  // namespace

Result<RespValue> buildReply(std::string_view raw, std::span<const RespNode> nodes,
                             uint32_t max_depth) {
  TreeBuilder builder(raw, nodes, max_depth);
  RespValue v;
  if (Status s = builder.build(v, 0); !s) return s.error();
  if (!builder.done()) {
    return makeError(ErrorCode::InvalidArgument, "protocol error: nodes do not match the reply");
  }
  return v;
}

Result<RespValue> parseReply(std::string_view raw, const RespLimits& limits) {
  RespParser parser(&limits);
  size_t length = 0;
  switch (parser.scan(raw, length)) {
    case RespParser::Status::NeedMore:
      return makeError(ErrorCode::InvalidArgument, "protocol error: incomplete reply");
    case RespParser::Status::Invalid:
      return makeError(parser.overLimit() ? ErrorCode::TooLarge : ErrorCode::InvalidArgument,
                       "protocol error: " + parser.error());
    case RespParser::Status::Complete:
      break;
  }
  if (length != raw.size()) {
    return makeError(ErrorCode::InvalidArgument, "protocol error: trailing bytes after reply");
  }
  return buildReply(raw, parser.nodes(), limits.max_depth);
}

}  // namespace kw::proxy::codec
