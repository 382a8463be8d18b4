// RESP2 serialisation of commands (argv, pipelines, MULTI/EXEC) and of reply values.
#include "proxy/codec/resp_writer.h"

#include <charconv>

namespace kw::proxy::codec {

namespace {

size_t decimalDigits(uint64_t v) {
  size_t n = 1;
  while (v >= 10) {
    v /= 10;
    ++n;
  }
  return n;
}

void appendPrefixed(std::string& out, char type, uint64_t n) {
  char buf[24];
  buf[0] = type;
  const auto r = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n);
  char* end = r.ptr;
  *end++ = '\r';
  *end++ = '\n';
  out.append(buf, static_cast<size_t>(end - buf));
}

// One-line text: CR and LF become spaces.
void appendLine(std::string& out, char type, std::string_view s) {
  out.push_back(type);
  const size_t start = out.size();
  out.append(s);
  for (size_t i = start; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n') out[i] = ' ';
  }
  out += "\r\n";
}

}  // namespace

size_t commandWireSize(CommandArgv argv) {
  size_t n = 3 + decimalDigits(argv.size());
  for (std::string_view a : argv) n += 1 + decimalDigits(a.size()) + 2 + a.size() + 2;
  return n;
}

void appendCommand(std::string& out, CommandArgv argv) {
  out.reserve(out.size() + commandWireSize(argv));
  appendPrefixed(out, '*', argv.size());
  for (std::string_view a : argv) {
    appendPrefixed(out, '$', a.size());
    out.append(a);
    out += "\r\n";
  }
}

void appendStatusReply(std::string& out, std::string_view s) { appendLine(out, '+', s); }

void appendErrorReply(std::string& out, std::string_view message) { appendLine(out, '-', message); }

void appendIntegerReply(std::string& out, int64_t v) {
  char buf[24];
  buf[0] = ':';
  const auto r = std::to_chars(buf + 1, buf + sizeof(buf) - 2, v);
  char* end = r.ptr;
  *end++ = '\r';
  *end++ = '\n';
  out.append(buf, static_cast<size_t>(end - buf));
}

void appendBulkReply(std::string& out, std::string_view s) {
  appendPrefixed(out, '$', s.size());
  out.append(s);
  out += "\r\n";
}

void appendNullReply(std::string& out) { out += "$-1\r\n"; }

void appendArrayHeader(std::string& out, size_t count) { appendPrefixed(out, '*', count); }

void appendReply(std::string& out, const RespValue& v) {
  switch (v.type) {
    case RespType::Status:
      appendStatusReply(out, v.str);
      return;
    case RespType::Error:
      appendErrorReply(out, v.str);
      return;
    case RespType::Integer:
      appendIntegerReply(out, v.integer);
      return;
    case RespType::Bulk:
      appendBulkReply(out, v.str);
      return;
    case RespType::Null:
      appendNullReply(out);
      return;
    case RespType::NullArray:
      out += "*-1\r\n";
      return;
    case RespType::Array:
      appendArrayHeader(out, v.elements.size());
      for (const RespValue& e : v.elements) appendReply(out, e);
      return;
  }
}

}  // namespace kw::proxy::codec
