// Percent-decoding of URL path segments and query components (RFC 3986 §2.1), no allocation.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace kw::proxy::codec {

enum class PlusMode : bool {
  Literal,  // path segments: '+' stays '+'
  Space,    // query components (application/x-www-form-urlencoded): '+' becomes ' '
};

// Decodes `in` into `out`, which must have room for in.size() bytes (decoding never grows).
// Every '%' must be followed by two hex digits (either case); the decoded byte may be anything,
// including NUL and '/'. Returns the number of bytes written, or nullopt on a bad escape.
std::optional<size_t> percentDecode(std::string_view in, char* out, PlusMode plus);

}  // namespace kw::proxy::codec
