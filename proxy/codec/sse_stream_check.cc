// The upstream's SSE lines for one subscription, checked before they are relayed.
#include "proxy/codec/sse_stream_check.h"

namespace kw::proxy::codec {

namespace {

// Splits off the text before the next ',' ("" and false when there is none).
bool field(std::string_view& rest, std::string_view& out) {
  const size_t comma = rest.find(',');
  if (comma == std::string_view::npos) return false;
  out = rest.substr(0, comma);
  rest.remove_prefix(comma + 1);
  return true;
}

bool digits(std::string_view s) {
  if (s.empty() || s.size() > 19) return false;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

bool SseStreamCheck::fail(const char* why) {
  error_ = why;
  partial_.clear();
  return false;
}

bool SseStreamCheck::checkLine(std::string_view line) {
  // A lone '\r' ends a line for EventSource (not for the SDK): one line here could be two events
  // there, the second another channel's.
  if (line.find('\r') != std::string_view::npos) {
    return fail("upstream stream sent a line break inside an event");
  }
  if (line.empty() || line.front() == ':') return true;
  if (!line.starts_with("data: ")) return fail("upstream stream sent a line that is not an event");
  std::string_view rest = line.substr(6);
  std::string_view kind;
  std::string_view name;
  if (!field(rest, kind) || !field(rest, name)) {
    return fail("upstream stream sent an event keyward does not know");
  }
  const bool counted = pattern_ ? (kind == "psubscribe" || kind == "punsubscribe")
                                : (kind == "subscribe" || kind == "unsubscribe");
  const bool message = kind == (pattern_ ? "pmessage" : "message");
  if (!counted && !message) return fail("upstream stream sent an event keyward does not know");
  if (name != name_) return fail("upstream stream sent an event of another channel");
  if (counted && !digits(rest)) return fail("upstream stream sent an event keyward does not know");
  // pmessage,<pattern>,<channel>,<payload>: the pattern was authorised for the client, and a
  // channel it matches is what Redis delivers for it (attack round 17: a pmessage of a channel
  // outside the pattern had been relayed).
  std::string_view channel;
  if (message && pattern_) {
    if (!field(rest, channel)) return fail("upstream stream sent an event keyward does not know");
    if (!glob_.match(channel)) return fail("upstream stream sent an event of another channel");
  }
  return true;
}

bool SseStreamCheck::feed(std::string_view in, std::string& out) {
  if (error_ != nullptr) return false;
  while (!in.empty()) {
    const size_t nl = in.find('\n');
    if (nl == std::string_view::npos) {
      if (partial_.size() + in.size() > max_line_) {
        return fail("upstream stream sent a line over the reply bound");
      }
      partial_.append(in);
      return true;
    }
    std::string_view line = in.substr(0, nl);
    in.remove_prefix(nl + 1);
    if (!partial_.empty()) {
      if (partial_.size() + line.size() > max_line_) {
        return fail("upstream stream sent a line over the reply bound");
      }
      partial_.append(line);
      line = partial_;
    } else if (line.size() > max_line_) {
      return fail("upstream stream sent a line over the reply bound");
    }
    // A "\r\n" ending is checked without its '\r' and passed on as it came.
    const bool cr = !line.empty() && line.back() == '\r';
    if (!checkLine(cr ? line.substr(0, line.size() - 1) : line)) return false;
    out.append(line).append(1, '\n');
    partial_.clear();
  }
  return true;
}

}  // namespace kw::proxy::codec
