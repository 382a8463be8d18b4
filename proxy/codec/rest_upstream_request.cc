// REST upstream request encoding (see the header).
#include "proxy/codec/rest_upstream_request.h"

#include <algorithm>

#include "policy/ascii.h"
#include "proxy/codec/json_escape.h"

namespace kw::proxy::codec {

namespace {

// ["a","b"]: false when an argument is not UTF-8 (JSON text cannot carry it unchanged).
bool appendCommandJson(std::string& out, Argv argv) {
  out += '[';
  for (size_t i = 0; i < argv.size(); ++i) {
    if (!isValidUtf8(argv[i])) return false;
    if (i != 0) out += ',';
    appendJsonString(out, argv[i]);
  }
  out += ']';
  return true;
}

}  // namespace

std::string percentEncodeSegment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
        std::string_view("-._~!$&'()*+,;=:@").find(static_cast<char>(c)) !=
            std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string hostHeaderValue(std::string_view host, uint16_t port, bool tls) {
  std::string h = ascii::bracketHost(host);
  if (port != (tls ? 443 : 80)) h += ":" + std::to_string(port);
  return h;
}

Result<std::string> encodeRestUpstreamRequest(const RestTarget& to, RestRoute route,
                                              std::span<const Argv> commands,
                                              std::string_view channel, const HeaderList& headers) {
  // Sized first, so nothing over the bound is ever built; exactly only when the cheap bound (six
  // bytes per byte, \u00XX) could pass it.
  const bool stream = route == RestRoute::Subscribe || route == RestRoute::PSubscribe;
  const std::span<const Argv> sent = stream ? std::span<const Argv>()
                                     : route == RestRoute::Command
                                         ? commands.first(std::min<size_t>(1, commands.size()))
                                         : commands;
  uint64_t raw = 2, args = 0;
  for (Argv argv : sent) {
    raw += 3;
    for (std::string_view a : argv) raw += a.size(), ++args;
  }
  uint64_t body_size = 6 * raw + 3 * args;
  if (body_size > to.max_body_bytes) {
    body_size = 2;
    for (Argv argv : sent) {
      body_size += 3;
      for (std::string_view a : argv) body_size += jsonStringSize(a) + 1;
    }
  }
  if (body_size > to.max_body_bytes) {
    return Error{ErrorCode::TooLarge,
                 "ERR request too large once encoded as JSON for the REST upstream (over " +
                     std::to_string(to.max_body_bytes) + " bytes)"};
  }
  std::string path(to.base_path);
  std::string body;
  bool utf8 = true;
  switch (route) {
    case RestRoute::Command:
      path += "/";
      utf8 = !commands.empty() && appendCommandJson(body, commands[0]);
      break;
    case RestRoute::Pipeline:
    case RestRoute::MultiExec:
      path += route == RestRoute::Pipeline ? "/pipeline" : "/multi-exec";
      body = "[";
      for (size_t i = 0; i < commands.size() && utf8; ++i) {
        if (i != 0) body += ',';
        utf8 = appendCommandJson(body, commands[i]);
      }
      body += ']';
      break;
    case RestRoute::Subscribe:
    case RestRoute::PSubscribe:
      path += route == RestRoute::Subscribe ? "/subscribe/" : "/psubscribe/";
      path += percentEncodeSegment(channel);
      break;
  }
  if (!utf8) {
    return Error{ErrorCode::InvalidArgument,
                 "ERR argument is not valid UTF-8 (the REST upstream takes JSON text)"};
  }
  std::string req;
  req.reserve(body.size() + path.size() + 256 + to.token.size());
  req.append("POST ").append(path).append(" HTTP/1.1\r\nHost: ");
  req.append(hostHeaderValue(to.host, to.port, to.tls)).append("\r\n");
  req.append("Authorization: Bearer ").append(to.token).append("\r\n");
  if (stream) req += "Accept: text/event-stream\r\n";
  req +=
      "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& [name, value] : headers) req.append(name).append(": ").append(value) += "\r\n";
  req += "Connection: keep-alive\r\n\r\n";
  req += body;
  return req;
}

}  // namespace kw::proxy::codec
