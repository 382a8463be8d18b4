// parseRedisUrl: redis://[[user]:password@]host[:port][/db] and rediss://... into an endpoint.
#pragma once

#include <string_view>

#include "policy/result.h"
#include "proxy/redis_connection.h"

namespace kw::proxy {

// IPv6 hosts as [::1]; user and password percent-decoded; port defaults to 6379; db 0..2^31-1;
// no query string or fragment. Error messages never repeat the password.
[[nodiscard]] Result<RedisEndpoint> parseRedisUrl(std::string_view url);

}  // namespace kw::proxy
