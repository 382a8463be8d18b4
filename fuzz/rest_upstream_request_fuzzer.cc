// Fuzzes encodeRestUpstreamRequest: whatever the arguments, the bytes are one complete HTTP
// request that keyward's own parser reads back to the same commands (or channel), with the token
// only in Authorization; the only refusals are an argument that is not UTF-8 and a body over the
// bound.
//
// Input: byte 0 picks the route (and, odd and over 4, a 64-byte body bound), byte 1 the port;
// the rest is split at 0xFF into arguments and at 0xFE into commands (Subscribe: the whole rest
// is the channel).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/http_request_parser.h"
#include "proxy/codec/json_escape.h"
#include "proxy/codec/rest_request.h"
#include "proxy/codec/rest_upstream_request.h"

using namespace kw::proxy::codec;  // NOLINT(google-build-using-namespace): harness only

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const RestRoute routes[] = {RestRoute::Command, RestRoute::Pipeline, RestRoute::MultiExec,
                              RestRoute::Subscribe, RestRoute::PSubscribe};
  const RestRoute route = routes[data[0] % 5];
  const uint16_t port = data[1] % 2 == 0 ? 443 : static_cast<uint16_t>(1000 + data[1]);
  const std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);

  std::vector<std::vector<std::string_view>> commands(1);
  for (size_t start = 0, i = 0; i <= rest.size(); ++i) {
    if (i == rest.size() || rest[i] == '\xff' || rest[i] == '\xfe') {
      commands.back().push_back(rest.substr(start, i - start));
      if (i < rest.size() && rest[i] == '\xfe') commands.emplace_back();
      start = i + 1;
    }
  }
  std::vector<Argv> argvs(commands.begin(), commands.end());
  const bool stream = route == RestRoute::Subscribe || route == RestRoute::PSubscribe;
  if (route == RestRoute::Command) argvs.resize(1);

  // An odd byte 0 above 4 also bounds the body, low enough to be hit.
  const uint64_t bound = data[0] >= 5 && (data[0] & 1) != 0 ? 64 : UINT64_MAX;
  const RestTarget to{"up.example", port, true, "", "SECRET-TOKEN", bound};
  const HeaderList headers{{"upstash-encoding", "base64"}};
  auto bytes = encodeRestUpstreamRequest(to, route, argvs, rest, headers);
  if (!bytes && bytes.error().code == kw::ErrorCode::TooLarge) {
    KW_FUZZ_CHECK(bound != UINT64_MAX && !stream);
    return 0;
  }
  if (!bytes) {
    bool utf8 = true;
    for (Argv a : argvs) {
      for (std::string_view s : a) utf8 = utf8 && isValidUtf8(s);
    }
    KW_FUZZ_CHECK(!stream && !utf8);
    return 0;
  }

  // Sized for what the encoder may build: a channel percent-encodes to up to 3x its bytes.
  HttpParserLimits limits;
  limits.max_body_bytes = bytes->size();
  limits.max_target_bytes = static_cast<uint32_t>(bytes->size());
  limits.max_header_bytes = static_cast<uint32_t>(bytes->size()) + 1;
  HttpRequestParser parser(limits);
  size_t used = 0;
  ParseStatus st = parser.feed(*bytes, &used);
  if (st == ParseStatus::HeadComplete) {  // the body is fed on its own, as a connection does
    size_t body = 0;
    st = parser.feed(std::string_view(*bytes).substr(used), &body);
    used += body;
  }
  KW_FUZZ_CHECK(st == ParseStatus::Complete);
  KW_FUZZ_CHECK(used == bytes->size());
  KW_FUZZ_CHECK(parser.method() == HttpMethod::Post);
  KW_FUZZ_CHECK(parser.header("authorization") == "Bearer SECRET-TOKEN");
  KW_FUZZ_CHECK(parser.header("host") ==
                (port == 443 ? std::string("up.example") : "up.example:" + std::to_string(port)));
  KW_FUZZ_CHECK(parser.header("upstash-encoding") == "base64");
  if (rest.find("SECRET-TOKEN") == std::string_view::npos) {  // the token is sent once
    const size_t at = bytes->find("SECRET-TOKEN");
    KW_FUZZ_CHECK(at == bytes->find("Bearer ") + 7);
    KW_FUZZ_CHECK(bytes->find("SECRET-TOKEN", at + 1) == std::string::npos);
  }

  if (stream) {
    KW_FUZZ_CHECK(parser.header("accept") == "text/event-stream");
    KW_FUZZ_CHECK(parser.body().empty());
    if (rest.empty()) return 0;
    auto back = decodeRestRequest(HttpMethod::Get, parser.target(), {});
    KW_FUZZ_CHECK(back.has_value());
    KW_FUZZ_CHECK(back->route() == route);
    KW_FUZZ_CHECK(back->channel() == rest);
    return 0;
  }
  for (Argv a : argvs) {
    if (a.empty()) return 0;  // the router never sends an empty command
  }
  KW_FUZZ_CHECK(parser.body().size() <= bound);
  auto back = decodeRestRequest(parser);
  KW_FUZZ_CHECK(back.has_value());
  KW_FUZZ_CHECK(back->route() == route);
  KW_FUZZ_CHECK(back->commandCount() == argvs.size());
  for (size_t i = 0; i < argvs.size(); ++i) {
    Argv got = back->command(i);
    KW_FUZZ_CHECK(got.size() == argvs[i].size());
    for (size_t k = 0; k < got.size(); ++k) KW_FUZZ_CHECK(got[k] == argvs[i][k]);
  }
  return 0;
}
