// base64url without padding (RFC 4648 section 5), strict: one encoding per byte string.
#pragma once

#include <string>
#include <string_view>

namespace kw::policy {

// Rejects '=', characters outside the alphabet, impossible lengths and non-canonical trailing
// bits.
bool base64UrlDecode(std::string_view in, std::string& out);
std::string base64UrlEncode(std::string_view in);

}  // namespace kw::policy
