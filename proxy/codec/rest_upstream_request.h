// The bytes keyward sends to an Upstash REST endpoint for one allowed plan: request line, Host,
// keyward's own bearer token, the passthrough headers and the JSON body of the commands.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/result.h"
#include "proxy/codec/rest_request.h"

namespace kw::proxy::codec {

// Where the request goes. Views: the caller keeps the strings alive during the call.
struct RestTarget {
  std::string_view host;  // DNS name or IP literal, without brackets
  uint16_t port = 443;
  bool tls = true;             // decides the default port Host leaves out
  std::string_view base_path;  // "" or "/prefix", no trailing '/'
  std::string_view token;      // SECRET: keyward's upstream bearer token
  // Bound on the JSON body: JSON escaping turns a control byte into six, so a raw path-style
  // body could grow sixfold into memory no body reservation counts.
  uint64_t max_body_bytes = UINT64_MAX;
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// One POST for `route`: the commands as JSON (Command: commands[0]; Pipeline, MultiExec: an
// array of them; Subscribe, PSubscribe: no body, `channel` percent-encoded into the path and
// Accept: text/event-stream). `headers` are appended as they are: their names and values must
// be header-safe (from HttpRequestParser or written by keyward). An argument that is not UTF-8
// cannot travel as JSON text: the error says so (InvalidArgument, a 400 for the client). A body
// over `to.max_body_bytes` is refused before it is built (TooLarge, a 413).
[[nodiscard]] Result<std::string> encodeRestUpstreamRequest(const RestTarget& to, RestRoute route,
                                                            std::span<const Argv> commands,
                                                            std::string_view channel,
                                                            const HeaderList& headers);

// One path segment: RFC 3986 pchar characters stay (unreserved, sub-delims, ':' and '@');
// everything else, '/', '?', '#' and '%' included, becomes %XX.
[[nodiscard]] std::string percentEncodeSegment(std::string_view s);

// The Host value: the host (an IPv6 literal in brackets) and the port unless it is the
// scheme's default (443 with TLS, 80 without).
[[nodiscard]] std::string hostHeaderValue(std::string_view host, uint16_t port, bool tls);

}  // namespace kw::proxy::codec
