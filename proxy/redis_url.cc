// redis:// and rediss:// URL parsing for the Redis-protocol upstream.
#include "proxy/redis_url.h"

#include "proxy/codec/percent_decode.h"

namespace kw::proxy {

namespace {
bool decode(std::string_view in, std::string& out) {
  out.resize(in.size());
  const auto n = codec::percentDecode(in, out.data(), codec::PlusMode::Literal);
  if (!n) {
    out.clear();
    return false;
  }
  out.resize(*n);
  return true;
}
}  // namespace

Result<RedisEndpoint> parseRedisUrl(std::string_view url) {
  RedisEndpoint ep;
  const auto bad = [](std::string why) {
    return makeError(ErrorCode::Config, "upstream url: " + std::move(why));
  };
  if (url.starts_with("redis://")) {
    url.remove_prefix(8);
  } else if (url.starts_with("rediss://")) {
    url.remove_prefix(9);
    ep.tls = true;
  } else {
    return bad("must start with redis:// or rediss://");
  }
  if (url.find_first_of("?#") != std::string_view::npos) {
    return bad("query strings and fragments are not supported");
  }
  const size_t at = url.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view userinfo = url.substr(0, at);
    url.remove_prefix(at + 1);
    const size_t colon = userinfo.find(':');
    const std::string_view user = userinfo.substr(0, colon);
    if (!decode(user, ep.user)) {
      return bad("bad percent-encoding in the user name");
    }
    if (colon != std::string_view::npos && !decode(userinfo.substr(colon + 1), ep.password)) {
      return bad("bad percent-encoding in the password");
    }
  }
  const size_t slash = url.find('/');
  std::string_view hostport = url.substr(0, slash);
  if (slash != std::string_view::npos) {
    const std::string_view db = url.substr(slash + 1);
    if (!db.empty()) {
      uint64_t v = 0;
      for (const char c : db) {
        if (c < '0' || c > '9' || v > 214748364) {
          return bad("db must be a number");
        }
        v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      if (v > 2147483647) {
        return bad("db out of range");
      }
      ep.db = static_cast<uint32_t>(v);
    }
  }
  std::string_view port;
  if (hostport.starts_with('[')) {
    const size_t close = hostport.find(']');
    if (close == std::string_view::npos) {
      return bad("unterminated IPv6 literal");
    }
    ep.host = std::string(hostport.substr(1, close - 1));
    hostport.remove_prefix(close + 1);
    if (!hostport.empty() && !hostport.starts_with(':')) {
      return bad("junk after the IPv6 literal");
    }
    port = hostport.empty() ? std::string_view() : hostport.substr(1);
  } else {
    const size_t colon = hostport.rfind(':');
    ep.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = hostport.substr(colon + 1);
      if (port.empty()) {
        return bad("empty port");
      }
    }
  }
  if (ep.host.empty()) {
    return bad("missing host");
  }
  if (!port.empty()) {
    uint32_t v = 0;
    for (const char c : port) {
      if (c < '0' || c > '9' || v > 6553) {
        return bad("bad port");
      }
      v = v * 10 + static_cast<uint32_t>(c - '0');
    }
    if (v == 0 || v > 65535) {
      return bad("port out of range");
    }
    ep.port = static_cast<uint16_t>(v);
  }
  return ep;
}

}  // namespace kw::proxy
