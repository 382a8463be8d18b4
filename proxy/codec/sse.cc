// SSE events ("data: message,ch,payload\n\n") from Redis pub/sub push arrays.
#include "proxy/codec/sse.h"

#include <charconv>

namespace kw::proxy::codec {

namespace {

bool equalsLower(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// A string element (bulk or status); nil allowed when `nil_ok` (unsubscribe from nothing).
bool stringAt(const RespValue& v, size_t i, std::string_view& out, bool nil_ok = false) {
  const RespValue& e = v.elements[i];
  if (e.isString()) {
    out = e.str;
    return true;
  }
  if (nil_ok && e.type == RespType::Null) {
    out = {};
    return true;
  }
  return false;
}

Error notPush() { return makeError(ErrorCode::InvalidArgument, "not a pub/sub push reply"); }

void appendEscaped(std::string& out, std::string_view text, SseNewlines mode) {
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '\n' && c != '\r') continue;
    out.append(text.data() + run, i - run);
    if (mode == SseNewlines::Escape) {
      out += c == '\n' ? "\\n" : "\\r";
    } else {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "\ndata: ";
    }
    run = i + 1;
  }
  out.append(text.data() + run, text.size() - run);
}

}  // namespace

Result<PushEvent> classifyPush(const RespValue& push) {
  if (push.type != RespType::Array || push.elements.empty()) return notPush();
  std::string_view kind;
  if (!stringAt(push, 0, kind)) return notPush();
  const size_t n = push.elements.size();
  PushEvent ev;
  if (equalsLower(kind, "message") && n == 3) {
    ev.kind = PushKind::Message;
    if (!stringAt(push, 1, ev.channel) || !stringAt(push, 2, ev.payload)) return notPush();
    return ev;
  }
  if (equalsLower(kind, "pmessage") && n == 4) {
    ev.kind = PushKind::PMessage;
    if (!stringAt(push, 1, ev.pattern) || !stringAt(push, 2, ev.channel) ||
        !stringAt(push, 3, ev.payload)) {
      return notPush();
    }
    return ev;
  }
  if (equalsLower(kind, "pong") && (n == 1 || n == 2)) {
    ev.kind = PushKind::Pong;
    if (n == 2 && !stringAt(push, 1, ev.payload)) return notPush();
    return ev;
  }
  if (n != 3 || push.elements[2].type != RespType::Integer) return notPush();
  ev.count = push.elements[2].integer;
  bool nil_ok = false;
  if (equalsLower(kind, "subscribe")) {
    ev.kind = PushKind::Subscribe;
  } else if (equalsLower(kind, "psubscribe")) {
    ev.kind = PushKind::PSubscribe;
  } else if (equalsLower(kind, "unsubscribe")) {
    ev.kind = PushKind::Unsubscribe;
    nil_ok = true;
  } else if (equalsLower(kind, "punsubscribe")) {
    ev.kind = PushKind::PUnsubscribe;
    nil_ok = true;
  } else {
    return notPush();
  }
  if (!stringAt(push, 1, ev.channel, nil_ok)) return notPush();
  return ev;
}

void appendSseData(std::string& out, std::string_view text, SseNewlines mode) {
  out.reserve(out.size() + text.size() + 8);
  out += "data: ";
  appendEscaped(out, text, mode);
  out += "\n\n";
}

void appendSseComment(std::string& out, std::string_view text) {
  out += ": ";
  const size_t start = out.size();
  out.append(text);
  for (size_t i = start; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n') out[i] = ' ';
  }
  out += "\n\n";
}

Status appendSseEvent(std::string& out, const RespValue& push, SseNewlines mode) {
  auto ev = classifyPush(push);
  if (!ev) return ev.error();
  std::string_view kind;
  switch (ev->kind) {
    case PushKind::Subscribe:
      kind = "subscribe";
      break;
    case PushKind::Unsubscribe:
      kind = "unsubscribe";
      break;
    case PushKind::PSubscribe:
      kind = "psubscribe";
      break;
    case PushKind::PUnsubscribe:
      kind = "punsubscribe";
      break;
    case PushKind::Message:
      kind = "message";
      break;
    case PushKind::PMessage:
      kind = "pmessage";
      break;
    case PushKind::Pong:
      kind = "pong";
      break;
  }
  out.reserve(out.size() + 16 + ev->pattern.size() + ev->channel.size() + ev->payload.size());
  out += "data: ";
  out += kind;
  out.push_back(',');
  switch (ev->kind) {
    case PushKind::Subscribe:
    case PushKind::Unsubscribe:
    case PushKind::PSubscribe:
    case PushKind::PUnsubscribe: {
      appendEscaped(out, ev->channel, mode);
      out.push_back(',');
      char buf[24];
      const auto r = std::to_chars(buf, buf + sizeof(buf), ev->count);
      out.append(buf, static_cast<size_t>(r.ptr - buf));
      break;
    }
    case PushKind::Message:
      appendEscaped(out, ev->channel, mode);
      out.push_back(',');
      appendEscaped(out, ev->payload, mode);
      break;
    case PushKind::PMessage:
      appendEscaped(out, ev->pattern, mode);
      out.push_back(',');
      appendEscaped(out, ev->channel, mode);
      out.push_back(',');
      appendEscaped(out, ev->payload, mode);
      break;
    case PushKind::Pong:
      out.pop_back();  // "pong," -> "pong" then ",<payload>" only when there is one
      if (push.elements.size() == 2) {
        out.push_back(',');
        appendEscaped(out, ev->payload, mode);
      }
      break;
  }
  out += "\n\n";
  return Ok{};
}

}  // namespace kw::proxy::codec
