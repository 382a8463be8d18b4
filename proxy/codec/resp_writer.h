// RESP2 writers: commands (argv -> multibulk; every command keyward sends goes through
// appendCommand) and replies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "proxy/codec/resp_value.h"

namespace kw::proxy::codec {

// Same type as kw::policy::Argv and RestRequest::command(i).
using CommandArgv = std::span<const std::string_view>;

// Exact byte size of appendCommand(argv) (for reserve()).
[[nodiscard]] size_t commandWireSize(CommandArgv argv);

// Appends "*<n>\r\n" then "$<len>\r\n<arg>\r\n" per argument. Arguments are binary-safe.
void appendCommand(std::string& out, CommandArgv argv);

// Reply writers (RESP2). Status and error text must be one line: any '\r' or '\n' in it is
// replaced by a space so the frame can never be broken.
void appendStatusReply(std::string& out, std::string_view s);
void appendErrorReply(std::string& out, std::string_view message);  // without leading '-'
void appendIntegerReply(std::string& out, int64_t v);
void appendBulkReply(std::string& out, std::string_view s);
void appendNullReply(std::string& out);                  // $-1
void appendArrayHeader(std::string& out, size_t count);  // *<count>
// Serialises a value as RESP2 (Null -> $-1, NullArray -> *-1); inverse of parseReply
// (resp_parser.h).
void appendReply(std::string& out, const RespValue& v);

}  // namespace kw::proxy::codec
