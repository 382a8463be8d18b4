// Redis replies -> Upstash REST JSON bodies ({"result":...} / {"error":...}), docs/upstash-wire.md
// §3.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "policy/result.h"
#include "proxy/codec/resp_value.h"

namespace kw::proxy::codec {

// Plain: strings as JSON strings (invalid UTF-8 -> U+FFFD). Base64 (request header
// `Upstash-Encoding: base64`): every string value is base64-encoded, except a top-level Status
// reply exactly "OK" (nested strings, "OK" included, are always encoded; a top-level Bulk "OK"
// is encoded too). Integers and nulls are never encoded. Errors in an envelope
// ({"error":"..."}) are never encoded. An Error nested inside an array value (a Lua table
// holding an error reply) becomes a string, encoded like any nested string.
enum class ReplyEncoding : uint8_t { Plain, Base64 };

// Appends the JSON value alone (no envelope): null, integer digits, string, or array.
// `top_level` selects the base64 "OK" exemption. A top-level Error becomes its message string.
void appendJsonValue(std::string& out, const RespValue& v, ReplyEncoding enc, bool top_level);

// Appends one envelope: {"error":"<msg>"} for an Error reply, else {"result":<value>}.
void appendEnvelope(std::string& out, const RespValue& reply, ReplyEncoding enc);

// Single command (POST / or path style): the body, and its HTTP status (httpStatusForSingle).
[[nodiscard]] std::string singleReplyJson(const RespValue& reply, ReplyEncoding enc);
// 200 for any non-error reply, 400 when the reply is an Error (Upstash: any Redis error on a
// single command is 400).
[[nodiscard]] int httpStatusForSingle(const RespValue& reply);

// {"error":"<message>"}: every byte escaped, invalid UTF-8 repaired (keyward's own errors).
void appendJsonError(std::string& out, std::string_view message);
[[nodiscard]] std::string jsonError(std::string_view message);

// Builds a /pipeline body element by element: "[" env "," env ... "]". Each element is encoded
// as a top level value (base64 "OK" exemption applies per element).
class PipelineJsonWriter {
 public:
  PipelineJsonWriter(std::string& out, ReplyEncoding enc);
  void addReply(const RespValue& reply);    // {"result":..} or {"error":..}
  void addError(std::string_view message);  // keyward-made inline {"error":..}
  void finish();                            // appends "]"; call once
  [[nodiscard]] size_t count() const { return count_; }

 private:
  void separator();
  std::string& out_;
  ReplyEncoding enc_;
  size_t count_ = 0;
};

// One keyward-generated inline error at pipeline position `index` (e.g. a NOPERM denial).
struct InlineError {
  size_t index;
  std::string_view message;
};

// /pipeline body of replies.size() + errors.size() elements: position errors[k].index holds
// {"error":errors[k].message}; the other positions take the upstream replies in order.
// `errors` must be sorted by strictly increasing index < the total (InvalidArgument otherwise,
// and nothing is appended).
[[nodiscard]] Status appendPipelineJson(std::string& out, std::span<const RespValue> replies,
                                        std::span<const InlineError> errors, ReplyEncoding enc);
[[nodiscard]] std::string pipelineJson(std::span<const RespValue> replies, ReplyEncoding enc);

// /multi-exec body from EXEC's reply: an Array becomes [envelope, ...] with status 200; an
// Error (EXECABORT ..., or an error on MULTI/EXEC itself) becomes {"error":"<msg>"} with 400;
// NullArray (aborted transaction) becomes {"error":"EXECABORT Transaction discarded"} with
// 400; any other type (never sent by Redis) becomes {"error":"ERR unexpected EXEC reply"}
// with 502. Returns the HTTP status.
[[nodiscard]] int appendMultiExecJson(std::string& out, const RespValue& exec_reply,
                                      ReplyEncoding enc);

// /multi-exec body from all the replies of appendTransaction()'s bytes: MULTI's reply, one reply
// per queued command, then EXEC's. Like appendMultiExecJson on EXEC's reply, except that an
// aborted transaction reports the first queue-time error (e.g. "ERR wrong number of arguments
// for 'get' command", the Upstash style "ERR ..." for a discarded transaction) instead of the
// generic EXECABORT text, and an error on MULTI itself is reported as is. Fewer than 2
// replies: {"error":"ERR unexpected EXEC reply"} with 502.
[[nodiscard]] int appendTransactionJson(std::string& out, std::span<const RespValue> replies,
                                        ReplyEncoding enc);

// An upper bound (exact for each value, plus envelopes and keyward's fixed error texts) on the
// JSON body that any of the functions above builds from `replies` (a transaction's replies
// included): computed without allocating, to refuse a body before building it.
[[nodiscard]] uint64_t jsonBodySizeBound(std::span<const RespValue> replies, ReplyEncoding enc);

// Upstash-Response-Format: resp2. Single command: the reply's raw bytes, verbatim (use
// RespReply::raw() or appendReply()). Pipeline: the raw replies concatenated, with a keyward
// error as "-<message>\r\n" (CR/LF in the message replaced by spaces).
void appendResp2Passthrough(std::string& out, std::string_view raw_reply);
void appendResp2Error(std::string& out, std::string_view message);
// A resp2 pipeline body: raws[i] in order, with appendResp2Error(messages[k]) at request position
// denied_at[k] (strictly increasing; every position below raws.size() + denied_at.size()).
void appendResp2Pipeline(std::string& out, std::span<const std::string_view> raws,
                         std::span<const size_t> denied_at, std::span<const std::string> messages);

}  // namespace kw::proxy::codec
