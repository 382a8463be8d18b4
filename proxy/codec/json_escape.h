// JSON string output for bytes from Redis: escaping plus invalid-UTF-8 repair.
#pragma once

#include <string>
#include <string_view>

namespace kw::proxy::codec {

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
[[nodiscard]] bool isValidUtf8(std::string_view s);

// Appends `s` as a quoted JSON string. Escapes '"', '\\' and every byte < 0x20 (\b \f \n \r \t,
// else \u00XX); DEL and non-ASCII pass through as UTF-8. Each maximal ill-formed subsequence
// (Unicode §3.9 / WHATWG "maximal subpart" practice, as JavaScript's TextDecoder does) is
// replaced by one U+FFFD, so the output is always valid JSON and valid UTF-8.
void appendJsonString(std::string& out, std::string_view s);
// The same, as a new string.
[[nodiscard]] std::string jsonString(std::string_view s);

// appendJsonString's content (no quotes) in pieces: appends the escaped bytes of sv[from, ...)
// up to the first unit boundary at or past from + max_in (a UTF-8 sequence or ill-formed subpart
// is never split; up to 3 bytes past), and returns that position (sv.size() when done). `from`
// must be 0 or a position this returned. Consecutive pieces concatenate to exactly the content.
size_t appendJsonStringPart(std::string& out, std::string_view sv, size_t from, size_t max_in);

// Sizing in pieces: adds to `size` the escaped size of sv[from, p) and returns p, the first unit
// boundary at or past from + max_in (up to 7 bytes past). `from`: 0 or a position this returned.
// Pieces add up to jsonStringSize(sv) - 2.
size_t jsonStringSizePart(std::string_view sv, size_t from, size_t max_in, uint64_t& size);

// The exact number of bytes appendJsonString(out, s) appends, without building it.
[[nodiscard]] size_t jsonStringSize(std::string_view s);

}  // namespace kw::proxy::codec
