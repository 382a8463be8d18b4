// A strict, bounded reader for one flat JSON object (JWT headers and claim sets).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/result.h"

namespace kw::policy {

// One top-level member. Nested arrays/objects are validated and kept only as their kind; arrays
// whose elements are all strings also keep those strings (for `aud`).
struct JsonMember {
  enum class Kind : uint8_t { String, Integer, Number, Bool, Null, Array, Object };
  std::string name;
  Kind kind = Kind::Null;
  std::string text;                  // String: decoded UTF-8; Integer/Number: the token as written
  int64_t integer = 0;               // Integer only
  bool boolean = false;              // Bool only
  std::vector<std::string> strings;  // Array of strings only
  bool all_strings = false;          // Array: every element is a string
};

struct JsonObject {
  std::vector<JsonMember> members;
  const JsonMember* find(std::string_view name) const;
};

// Parses exactly one JSON object (RFC 8259) with nothing after it but whitespace. Rejects
// duplicate member names, invalid UTF-8, lone surrogates, nesting deeper than 8, more than 64
// members, and input over 8 KiB.
Result<JsonObject> parseJsonObject(std::string_view text);

}  // namespace kw::policy
