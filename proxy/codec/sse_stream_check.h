// A REST upstream's Server-Sent Events stream for one /subscribe or /psubscribe, checked line by
// line while it is relayed: an event that names another channel or pattern, or a line that is
// not an event of this subscription, ends the stream instead of reaching the client. The SDK
// takes every `data: ` line as one event and routes it by the channel it names, so an upstream
// (or anything between it and keyward) that sent another channel's messages on this stream would
// hand a client messages outside its grants.
//
// Lines pass whole: a partial line is held until its '\n' (at most `max_line` bytes). A line may
// be empty, a comment (':' first, the keep-alive), or `data: ` and one of
//   subscribe,<name>,<count>   unsubscribe,<name>,<count>   message,<name>,<payload>
// for a channel, or
//   psubscribe,<name>,<count>  punsubscribe,<name>,<count>  pmessage,<name>,<channel>,<payload>
// for a pattern, where <name> is exactly the subscribed channel or pattern, <count> is decimal
// digits and a pmessage's <channel> matches the pattern as Redis matches it (the channel is the
// text up to the next comma, as the SDK splits it). Anything else fails: an `event:` line, or a
// '\r' anywhere but before the '\n' (EventSource also ends a line at a lone '\r').
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "policy/glob.h"

namespace kw::proxy::codec {

class SseStreamCheck {
 public:
  SseStreamCheck(bool pattern, std::string name, size_t max_line)
      : pattern_(pattern), name_(std::move(name)), max_line_(max_line) {
    if (pattern_) glob_.assign(name_);
  }
  // Appends the whole lines of `in` that pass (each with its '\n') to `out`; false at the first
  // line that does not (nothing of it is appended) and on every call after.
  [[nodiscard]] bool feed(std::string_view in, std::string& out);
  // Why feed() failed (static text).
  [[nodiscard]] const char* error() const { return error_; }

 private:
  bool checkLine(std::string_view line);
  bool fail(const char* why);
  bool pattern_;
  std::string name_;
  policy::Glob glob_;  // the pattern, as Redis matches it: a pmessage's channel must match
  size_t max_line_;
  std::string partial_;  // a line not yet ended
  const char* error_ = nullptr;
};

}  // namespace kw::proxy::codec
