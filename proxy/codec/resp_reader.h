// RESP reply parser: one complete, framed reply (codec/resp_framer.h finds where it ends) into
// a bounded RespValue tree.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy/result.h"

namespace kw::proxy::codec {

// RESP2 reply types. RESP3 types (only parsed with accept_resp3) are mapped to these the way
// Redis itself downgrades them for a RESP2 client: double ',', big number '(' and verbatim
// '=' (its "txt:" prefix dropped) become Bulk; boolean '#' becomes Integer 1/0; null '_'
// becomes Null; blob error '!' becomes Error; map '%' (flattened k,v,k,v), set '~' and push
// '>' become Array. Attributes '|' are always a protocol error.
enum class RespType : uint8_t {
  Status,     // +OK           str = "OK"
  Error,      // -ERR msg      str = "ERR msg" (no leading '-')
  Integer,    // :42           integer = 42
  Bulk,       // $3 foo        str = "foo" (may be empty)
  Null,       // $-1           nil bulk string
  Array,      // *N ...        elements (may be empty)
  NullArray,  // *-1           nil multi-bulk
};

[[nodiscard]] std::string_view respTypeName(RespType t);  // "status", "error", ...

// One parsed reply. `str` views point into the bytes the value was parsed from (see
// parseReply for their lifetime); hand-built values may point anywhere.
struct RespValue {
  RespType type = RespType::Null;
  int64_t integer = 0;              // Integer
  std::string_view str;             // Status, Error, Bulk
  std::vector<RespValue> elements;  // Array

  [[nodiscard]] bool isError() const { return type == RespType::Error; }
  [[nodiscard]] bool isNil() const { return type == RespType::Null || type == RespType::NullArray; }
  [[nodiscard]] bool isString() const { return type == RespType::Status || type == RespType::Bulk; }
  [[nodiscard]] bool isArray() const { return type == RespType::Array; }

  // Builders (tests, keyward-made replies).
  static RespValue status(std::string_view s);
  static RespValue error(std::string_view s);
  static RespValue integerValue(int64_t v);
  static RespValue bulk(std::string_view s);
  static RespValue null();
  static RespValue nullArray();
  static RespValue array(std::vector<RespValue> elements);
};

// Bounds on one reply; every size read from the network is checked against these before use.
struct RespReaderLimits {
  uint64_t max_bulk_bytes = uint64_t{512} << 20;   // per bulk string (Redis proto-max-bulk-len)
  uint64_t max_reply_bytes = uint64_t{512} << 20;  // raw bytes of one reply, all levels
  uint64_t max_elements = uint64_t{1} << 24;       // values in one reply (all levels, arrays too)
  uint32_t max_depth = 64;                         // array nesting (a top-level scalar is 0)
  uint32_t max_line_bytes = 1 << 20;               // +status / -error / :integer / headers
  bool accept_resp3 = false;                       // false: any RESP3 type byte is a protocol error
};

// Parses exactly one complete reply that fills all of `raw` (no more, no less). The value's
// views point into `raw`. InvalidArgument on malformed or incomplete input or trailing bytes;
// TooLarge when a limit is exceeded. Never reads outside `raw`; recursion depth <= max_depth.
[[nodiscard]] Result<RespValue> parseReply(std::string_view raw,
                                           const RespReaderLimits& limits = {});

}  // namespace kw::proxy::codec
