// Server-Sent Events framing of Redis pub/sub pushes for /subscribe and /psubscribe (§1.5).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "policy/result.h"
#include "proxy/codec/resp_value.h"

namespace kw::proxy::codec {

enum class PushKind : uint8_t {
  Subscribe,     // ["subscribe", channel, count]
  Unsubscribe,   // ["unsubscribe", channel|nil, count]
  PSubscribe,    // ["psubscribe", pattern, count]
  PUnsubscribe,  // ["punsubscribe", pattern|nil, count]
  Message,       // ["message", channel, payload]
  PMessage,      // ["pmessage", pattern, channel, payload]
  Pong,          // ["pong", payload] (PING while subscribed)
};

// A recognised pub/sub push. Views point into the RespValue's bytes.
struct PushEvent {
  PushKind kind = PushKind::Message;
  std::string_view channel;  // channel or pattern (subscribe kinds); channel (messages)
  std::string_view pattern;  // PMessage only
  std::string_view payload;  // Message, PMessage, Pong
  int64_t count = 0;         // subscription count (subscribe kinds)
};

// Recognises a RESP2 pub/sub push (kind name matched case-insensitively, as the reply
// arrives from Redis in lower case). InvalidArgument for anything else (errors included).
[[nodiscard]] Result<PushEvent> classifyPush(const RespValue& push);

// How a '\n' or '\r' inside the event text is written.
//  Escape (default): '\n' -> the two bytes "\\n", '\r' -> "\\r" (backslashes themselves are
//   left alone, so JSON payloads stay byte-identical unless they hold raw newlines). One
//   event is always exactly one `data: ` line, so a published payload can never forge a
//   second event for the SDK, which treats every `data: ` line as one event.
//  MultiLine: the text is split at '\n' (a "\r\n" or lone '\r' also ends a line) into
//   several `data: ` lines, the SSE-standard encoding that EventSource joins back with '\n';
//   lossless for EventSource, but @upstash/redis would see each line as its own event.
enum class SseNewlines : uint8_t { Escape, MultiLine };

// Appends "data: <text>\n\n" (text framed per `mode`). Line endings are always "\n".
void appendSseData(std::string& out, std::string_view text, SseNewlines mode = SseNewlines::Escape);
// Appends ": <text>\n\n", a comment line (keep-alive); CR/LF in text replaced by spaces.
void appendSseComment(std::string& out, std::string_view text);

// Appends the event for a push: "data: subscribe,<ch>,<n>\n\n", "data: message,<ch>,<payload>
// \n\n", "data: pmessage,<pat>,<ch>,<payload>\n\n", likewise unsubscribe / psubscribe /
// punsubscribe (nil channel -> empty), "data: pong,<payload>\n\n". Payloads are raw bytes,
// never base64. Channel names containing ',' cannot be told apart by the SDK (documented
// Upstash limitation). Returns InvalidArgument, appending nothing, if classifyPush fails.
[[nodiscard]] Status appendSseEvent(std::string& out, const RespValue& push,
                                    SseNewlines mode = SseNewlines::Escape);

}  // namespace kw::proxy::codec
