// RespParser: the one RESP2 reply reader. It frames replies as their bytes arrive (where does the
// next reply end?) and, in the same pass, records every value it crosses, so a complete reply
// becomes a RespValue tree (buildReply) without its bytes being read a second time.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/result.h"
#include "proxy/codec/resp_value.h"

namespace kw::proxy::codec {

// Bounds on one reply. Passing one makes the reply Invalid with overLimit() set: the stream
// cannot be trusted after it. RedisPool sets the size and count bounds far above its own
// per-request limits, which it enforces by skipping a reply (see RespParser::discard) so that
// the connection stays in sync.
struct RespLimits {
  uint64_t max_reply_bytes = uint64_t{512} << 20;  // raw bytes of one reply, all levels
  uint64_t max_bulk_bytes = uint64_t{512} << 20;   // per bulk string (Redis proto-max-bulk-len)
  uint64_t max_values = uint64_t{1} << 24;  // values in one reply, arrays included (declared)
  uint32_t max_depth = 64;                  // array nesting (a top-level scalar is 0)
  uint32_t max_line_bytes = 1 << 20;        // +status / -error / :integer / headers
};

// One value of a framed reply, in wire order (an array before its elements). 16 bytes: a reply
// of a million values records 16 MiB while it is held, and its tree is built from them.
struct RespNode {
  static constexpr uint64_t kMaxOffset = (uint64_t{1} << 60) - 1;
  uint64_t offset : 60;  // Status/Error/Bulk: where the text starts, from the reply's first byte
  uint64_t kind : 4;     // a RespType
  int64_t n;  // Integer: its value; Status/Error/Bulk: the text's length; Array: element count
  [[nodiscard]] RespType type() const { return static_cast<RespType>(kind); }
};
using ReplyNodes = std::vector<RespNode>;

// Incremental and bounded: it never re-reads bytes it has accepted (a bulk payload is taken as it
// arrives) and keeps at most one line beyond them. Strict as Redis writes replies: canonical
// decimals (no '+', leading zeros or "-0"), lines holding neither CR nor LF, CRLF after every
// bulk payload, RESP2 type bytes only.
class RespParser {
 public:
  enum class Status : uint8_t { NeedMore, Complete, Invalid };
  explicit RespParser(const RespLimits* limits) : limits_(limits) {}
  // Scans data (whose first byte is the first byte of the current reply not yet discarded and
  // which only grows between calls until Complete). On Complete, `length` is the size of the
  // reply's remaining part in data (the whole reply when nothing was discarded); take its
  // nodes() if wanted, then reset() for the next.
  [[nodiscard]] Status scan(std::string_view data, size_t& length);
  void reset();
  [[nodiscard]] const std::string& error() const { return error_; }
  // Invalid because a limit was passed (rather than malformed bytes).
  [[nodiscard]] bool overLimit() const { return over_limit_; }
  // Bytes at the front of data already validated as part of the current reply.
  [[nodiscard]] size_t accepted() const { return offset_; }
  // The caller dropped the first n <= accepted() bytes; the next scan's data starts after them.
  // The reply can then only be framed: its values are no longer recorded.
  void discard(size_t n);
  [[nodiscard]] uint64_t dropped() const { return dropped_; }
  // Values the current reply holds at all levels (arrays included), counted from the array
  // headers seen so far: known before the elements arrive.
  [[nodiscard]] uint64_t values() const { return values_; }
  // The values of the reply just completed, in wire order (none after a discard). Valid until
  // the next scan() or reset().
  [[nodiscard]] std::span<const RespNode> nodes() const {
    return spilled_.empty() ? std::span<const RespNode>(inline_.data(), inline_count_)
                            : std::span<const RespNode>(spilled_);
  }

 private:
  Status fail(std::string why, bool over_limit = false);
  void record(RespType type, uint64_t offset, int64_t n);
  void clearNodes();
  const RespLimits* limits_;       // owned by the caller; outlives the parser
  size_t offset_ = 0;              // bytes of the current reply accepted (after the dropped ones)
  size_t line_clean_ = 0;          // bytes of the open line known to hold no CR
  uint64_t dropped_ = 0;           // bytes of the current reply the caller discarded
  uint64_t bulk_left_ = 0;         // payload + CRLF bytes of the open bulk string still to come
  uint64_t values_ = 1;            // values declared in the current reply
  std::vector<uint64_t> pending_;  // remaining elements per open array
  // A reply's first values are kept inline: most replies are one value, and reading one then
  // costs no allocation. Past kInline they all move to spilled_.
  static constexpr size_t kInline = 4;
  std::array<RespNode, kInline> inline_{};
  size_t inline_count_ = 0;
  ReplyNodes spilled_;
  bool recording_ = true;
  bool over_limit_ = false;
  std::string error_;
};

// The tree of one complete reply from the nodes its scan recorded; the views point into `raw`
// (the reply's bytes, wherever they live now). TooLarge when arrays nest deeper than max_depth
// (at most 512: building recurses); the value is refused, the stream stays in step.
// InvalidArgument when nodes and raw disagree (never a read outside raw).
[[nodiscard]] Result<RespValue> buildReply(std::string_view raw, std::span<const RespNode> nodes,
                                           uint32_t max_depth);

// Exactly one complete reply filling all of `raw`: scan, then build. InvalidArgument when
// malformed, incomplete or followed by more bytes; TooLarge when a limit is passed.
[[nodiscard]] Result<RespValue> parseReply(std::string_view raw, const RespLimits& limits = {});

// A RESP decimal as Redis writes it: "0", or an optional '-', a non-zero digit and more digits,
// within int64.
[[nodiscard]] bool parseRespDecimal(std::string_view s, int64_t& out);

}  // namespace kw::proxy::codec
