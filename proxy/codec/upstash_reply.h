// Upstash REST JSON reply bodies -> RespValue trees: the inverse of reply_json.h's envelopes, so
// keyward can rewrite values in what a REST upstream answers (docs/upstash-wire.md §3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "policy/result.h"
#include "proxy/codec/resp_parser.h"
#include "proxy/codec/resp_value.h"

namespace kw::proxy::codec {

// One envelope ({"result":X} / {"error":"msg"}) for a single command, or a JSON array of
// envelopes (a /pipeline or /multi-exec reply).
enum class UpstashBodyShape : uint8_t { Single, Array };

struct UpstashReply {
  std::vector<RespValue> values;  // Single: exactly 1; Array: one per element, in order
  // Every byte the values' views point into (strings unescaped and decoded). A heap block that
  // is never reallocated: moving the reply keeps the views valid; copying is not allowed.
  std::unique_ptr<char[]> bytes;
};

// Mapping (appendEnvelope's, reversed): {"error":"msg"} -> Error "msg" (never base64);
// {"result":X} -> X where a string is Bulk (base64-decoded first when `base64`: strict, invalid
// base64 is an error), except a top-level "OK" in base64 mode, which is Status "OK" (Upstash
// leaves it unencoded; "OK" is not valid base64). In plain mode a top-level "OK" stays Bulk:
// plain JSON cannot tell a status from a stored value "OK", and a value rewriter must not miss
// data (the render is the same either way). Integers (fitting int64, no fraction or exponent)
// -> Integer, null -> Null, arrays -> Array. Anything else fails closed: an envelope with
// neither, both or other keys, a non-string error, nested objects, booleans, other numbers, a
// string over limits.max_bulk_bytes once decoded.
// Bounds: the body <= limits.max_reply_bytes; values (every envelope's value, arrays and their
// elements) <= limits.max_values in all; array nesting <= limits.max_depth per envelope (a
// top-level scalar is 0; the Array shape's own brackets do not count), never over 512.
// `expected`: for Array, the number of envelopes the caller sent for (another count is an
// error); ignored for Single. Errors (InvalidArgument; TooLarge over a bound) never quote body
// bytes.
[[nodiscard]] Result<UpstashReply> parseUpstashReply(std::string_view body, UpstashBodyShape shape,
                                                     size_t expected, bool base64,
                                                     const RespLimits& limits);

// Whether `body` is one whole reply of `shape`, before it is relayed as it is: valid JSON to its
// end with nothing after it, an envelope being an object with exactly one key, "result" (any
// JSON value) or "error" (a string), and an Array exactly `expected` envelopes. Looser than
// parseUpstashReply about the values (they pass through unread), never about the frame: a
// truncated, padded or miscounted reply must not reach a client as a complete one (attack
// round 15). A body over 1 MiB is refused (the callers hold at most 256 KiB and a read).
// Errors never quote body bytes.
[[nodiscard]] Status checkUpstashBody(std::string_view body, UpstashBodyShape shape,
                                      size_t expected);

}  // namespace kw::proxy::codec
