// Standard base64 (RFC 4648 §4 alphabet, '=' padding), as the Upstash SDK's atob() expects.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "policy/result.h"

namespace kw::proxy::codec {

// Encoded length of n input bytes: 4 * ceil(n / 3).
[[nodiscard]] constexpr size_t base64EncodedSize(size_t n) { return (n + 2) / 3 * 4; }

// Appends the padded encoding of `in` to `out`.
void appendBase64(std::string& out, std::string_view in);
[[nodiscard]] std::string base64Encode(std::string_view in);

// Strict decoder (tests, fuzz cross-checks): length a multiple of 4, '=' only as 1-2 trailing
// pad characters, no whitespace, unused bits of the last symbol zero. InvalidArgument otherwise.
[[nodiscard]] Result<std::string> base64Decode(std::string_view in);

}  // namespace kw::proxy::codec
