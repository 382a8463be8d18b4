// RespValue: one RESP2 reply as a tree (codec/resp_parser.h builds it from the wire).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace kw::proxy::codec {

// RESP2 reply types (keyward speaks RESP2 to Redis: a RESP3 type byte is a protocol error).
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

// One parsed reply. `str` views point into the bytes the value was parsed from (they live as
// long as those bytes); hand-built values may point anywhere.
struct RespValue {
  RespType type = RespType::Null;
  int64_t integer = 0;              // Integer
  std::string_view str;             // Status, Error, Bulk
  std::vector<RespValue> elements;  // Array

  [[nodiscard]] bool isError() const { return type == RespType::Error; }
  [[nodiscard]] bool isNil() const { return type == RespType::Null || type == RespType::NullArray; }
  [[nodiscard]] bool isString() const { return type == RespType::Status || type == RespType::Bulk; }
  [[nodiscard]] bool isArray() const { return type == RespType::Array; }
  // Structural: views compare by content.
  friend bool operator==(const RespValue&, const RespValue&) = default;

  // Builders (tests, keyward-made replies).
  static RespValue status(std::string_view s);
  static RespValue error(std::string_view s);
  static RespValue integerValue(int64_t v);
  static RespValue bulk(std::string_view s);
  static RespValue null();
  static RespValue nullArray();
  static RespValue array(std::vector<RespValue> elements);
};

}  // namespace kw::proxy::codec
