// RespValue names and builders.
#include "proxy/codec/resp_value.h"

namespace kw::proxy::codec {

std::string_view respTypeName(RespType t) {
  switch (t) {
    case RespType::Status:
      return "status";
    case RespType::Error:
      return "error";
    case RespType::Integer:
      return "integer";
    case RespType::Bulk:
      return "bulk";
    case RespType::Null:
      return "null";
    case RespType::Array:
      return "array";
    case RespType::NullArray:
      return "null-array";
  }
  return "?";
}

namespace {
RespValue ofType(RespType type, std::string_view s = {}, int64_t integer = 0) {
  RespValue v;
  v.type = type;
  v.str = s;
  v.integer = integer;
  return v;
}
}  // namespace

RespValue RespValue::status(std::string_view s) { return ofType(RespType::Status, s); }
RespValue RespValue::error(std::string_view s) { return ofType(RespType::Error, s); }
RespValue RespValue::integerValue(int64_t i) { return ofType(RespType::Integer, {}, i); }
RespValue RespValue::bulk(std::string_view s) { return ofType(RespType::Bulk, s); }
RespValue RespValue::null() { return RespValue{}; }
RespValue RespValue::nullArray() { return ofType(RespType::NullArray); }
RespValue RespValue::array(std::vector<RespValue> elements) {
  RespValue v;
  v.type = RespType::Array;
  v.elements = std::move(elements);
  return v;
}

}  // namespace kw::proxy::codec
