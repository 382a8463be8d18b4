// The audit log's hash chain (README, Audit log): every record ends with "prev", the SHA-256
// of the line before it, so a changed, removed, reordered or inserted line breaks the chain.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kw::proxy::codec {

// What the first record of the first file chains to.
inline constexpr std::string_view kAuditGenesis = "keyward-audit-v1";
inline constexpr size_t kDigestHexChars = 64;

// SHA-256 of `line` (without its newline) in lowercase hex.
std::string auditDigestHex(std::string_view line);
// auditDigestHex(kAuditGenesis), computed once.
const std::string& auditGenesisHex();

// `record` is one JSON object "{...}" (at least "{}"); returns it with `,"prev":"<prev_hex>"`
// (or `"prev":...` alone for "{}") before the closing brace. No newline.
std::string chainRecord(std::string_view record, std::string_view prev_hex);

// The prev digest a line ends with (`"prev":"<64 lowercase hex>"}`), or nullopt when the line
// does not end so. The line's JSON is not checked here.
std::optional<std::string_view> auditPrevOf(std::string_view line);

}  // namespace kw::proxy::codec
