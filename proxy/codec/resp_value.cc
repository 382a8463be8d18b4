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

RespValue RespValue::status(std::string_view s) {
  RespValue v;
  v.type = RespType::Status;
  v.str = s;
  return v;
}
RespValue RespValue::error(std::string_view s) {
  RespValue v;
  v.type = RespType::Error;
  v.str = s;
  return v;
}
RespValue RespValue::integerValue(int64_t i) {
  RespValue v;
  v.type = RespType::Integer;
  v.integer = i;
  return v;
}
RespValue RespValue::bulk(std::string_view s) {
  RespValue v;
  v.type = RespType::Bulk;
  v.str = s;
  return v;
}
RespValue RespValue::null() { return RespValue{}; }
RespValue RespValue::nullArray() {
  RespValue v;
  v.type = RespType::NullArray;
  return v;
}
RespValue RespValue::array(std::vector<RespValue> elements) {
  RespValue v;
  v.type = RespType::Array;
  v.elements = std::move(elements);
  return v;
}

}  // namespace kw::proxy::codec
