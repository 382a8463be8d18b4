// Credentials shaped like real ones, made up for tests (none of them opens anything).
#pragma once

#include <string>

#include "policy/base64url.h"

namespace kw::scan::testing {

// An Upstash-shaped token: version byte, database id, three bytes, then "p1" + 32 hex + "p10"
// (the 2024 format), base64url without padding.
inline std::string upstashToken(char fill = '7') {
  std::string raw = {'\x01', '\x55', '\x3c', '\x00', '\x02', '\x23'};
  raw += "p1" + std::string(32, fill) + "p10";
  std::string b64 = policy::base64UrlEncode(raw);
  return b64;
}

// The older format: version byte, id, "$ " and a UUID with hex, standard base64 with padding.
inline std::string upstashTokenV1() {
  std::string raw = {'\x01', '\x84', '\x20', '\x01', '\x24', '\x20'};
  raw += "7d850127-61ee-4dc4-9cc2-267591116448780510998";
  std::string b64 = policy::base64UrlEncode(raw);
  for (char& c : b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (b64.size() % 4 != 0) b64 += '=';
  return b64;
}

inline std::string keywardKey(char fill = 'Q') {
  return "kw_" + policy::base64UrlEncode(std::string(32, fill));
}

// A JWT-shaped string (HS256 header, a payload, a 43-character signature); not signed by any
// configured key.
inline std::string jwt() {
  return policy::base64UrlEncode(R"({"alg":"HS256","typ":"JWT","kid":"k1"})") + "." +
         policy::base64UrlEncode(R"({"client":"web","exp":1900000000})") + "." +
         policy::base64UrlEncode(std::string(32, 's'));
}

}  // namespace kw::scan::testing
