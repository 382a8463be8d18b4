// Upstash REST request decoding: (method, target, body) -> route + argv list (no I/O).
// The exact path / percent-decoding / query rules are in docs/rest-request-rules.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/result.h"
#include "proxy/codec/http_request_parser.h"

namespace kw::proxy::codec {

enum class RestRoute : uint8_t {
  Command,     // POST / with a JSON array, or path style /{cmd}/{arg}...
  Pipeline,    // POST /pipeline
  MultiExec,   // POST /multi-exec
  Subscribe,   // POST|GET /subscribe/{channel}
  PSubscribe,  // POST|GET /psubscribe/{pattern}
};

std::string_view routeName(RestRoute r);  // "command", "pipeline", "multi-exec", ...

enum class QueryToken : uint8_t {
  Absent,      // no _token in the query string
  Present,     // _token given and allowed: see RestRequest::queryToken()
  Disallowed,  // _token given but allow_query_token is off: answer 401
};

struct RestOptions {
  bool allow_query_token = false;  // listen.allow_query_token
  // Commands in one /pipeline or /multi-exec (10x the SDK's auto-pipeline batch): bounds the
  // loop time one request costs (policy, inline denials, body) whatever its commands are.
  uint32_t max_commands = 10000;
  uint32_t max_args = 1048576;        // arguments in one command (Redis proto-max-multibulk)
  uint32_t max_total_args = 1048576;  // arguments over all commands of the request
};

using Argv = std::span<const std::string_view>;  // same type as kw::policy::Argv

// The decoded request. Every argv view points into storage owned by this object; the views
// stay valid when the RestRequest is moved (heap storage, never reallocated after decoding).
class RestRequest {
 public:
  RestRequest() = default;
  RestRequest(RestRequest&&) noexcept = default;
  RestRequest& operator=(RestRequest&&) noexcept = default;
  RestRequest(const RestRequest&) = delete;
  RestRequest& operator=(const RestRequest&) = delete;

  RestRoute route() const { return route_; }
  bool pathStyle() const { return path_style_; }  // Command given as /{cmd}/{arg}...

  // Command: 1; Pipeline / MultiExec: one per element (>= 1); Subscribe / PSubscribe: 1, the
  // argv {"subscribe" | "psubscribe", channel} (so the policy can check the channel).
  size_t commandCount() const { return offsets_.empty() ? 0 : offsets_.size() - 1; }
  // argv of command i (never empty; argv[0] is the command name as sent, any case).
  Argv command(size_t i) const {
    return Argv(args_.data() + offsets_[i], offsets_[i + 1] - offsets_[i]);
  }
  size_t totalArgs() const { return args_.size(); }

  // Subscribe / PSubscribe: the percent-decoded channel or pattern (non-empty).
  std::string_view channel() const { return channel_; }

  QueryToken queryTokenState() const { return query_token_state_; }
  // The decoded ?_token= value when queryTokenState() == Present; nullopt otherwise.
  // A secret: never log it.
  std::optional<std::string_view> queryToken() const {
    if (query_token_state_ != QueryToken::Present) return std::nullopt;
    return query_token_;
  }

  // For tests and fuzzers: [begin, end) of the bytes every view points into.
  const char* storageBegin() const { return storage_.get(); }
  const char* storageEnd() const { return storage_.get() + storage_size_; }

 private:
  friend class RestRequestBuilder;

  RestRoute route_ = RestRoute::Command;
  bool path_style_ = false;
  std::unique_ptr<char[]> storage_;
  size_t storage_size_ = 0;
  std::vector<std::string_view> args_;
  std::vector<uint32_t> offsets_;  // command i = args_[offsets_[i], offsets_[i+1])
  std::string_view channel_;
  std::string_view query_token_;
  QueryToken query_token_state_ = QueryToken::Absent;
};

// Decodes one request. Errors carry a client-facing message that begins with "ERR " and an
// ErrorCode that restErrorStatus() maps to the HTTP status:
//   InvalidArgument -> 400 (bad JSON, wrong shape, bad percent-encoding, empty command, ...)
//   TooLarge        -> 413 (more commands/arguments than RestOptions allows)
//   NotFound        -> 405 (method not allowed for this route, e.g. GET /pipeline, OPTIONS)
// The message never echoes request bytes (arguments may hold secrets).
[[nodiscard]] Result<RestRequest> decodeRestRequest(HttpMethod method, std::string_view target,
                                                    std::string_view body,
                                                    const RestOptions& options = {});

// Same, straight from a Complete parser.
[[nodiscard]] Result<RestRequest> decodeRestRequest(const HttpRequestParser& parser,
                                                    const RestOptions& options = {});

// HTTP status for an error returned by decodeRestRequest() / parseResponseOptions().
uint16_t restErrorStatus(const Error& e);

struct ResponseOptions {
  bool base64 = false;  // Upstash-Encoding: base64
  bool resp2 = false;   // Upstash-Response-Format: resp2
};

// From the Upstash-Encoding and Upstash-Response-Format header values (nullopt = absent).
// Encoding "base64" (any case) turns base64 on; any other encoding value is ignored.
// Format "json" (default) or "resp2", any case; anything else is 400; resp2 + base64 is 400.
[[nodiscard]] Result<ResponseOptions> parseResponseOptions(std::optional<std::string_view> encoding,
                                                           std::optional<std::string_view> format);

// The token of "Authorization: Bearer <token>" (scheme any case, OWS trimmed). nullopt when
// absent, another scheme, empty, longer than kMaxBearerTokenBytes, or containing whitespace
// or control bytes.
inline constexpr size_t kMaxBearerTokenBytes = 8 * 1024;
std::optional<std::string_view> bearerToken(std::optional<std::string_view> authorization);

}  // namespace kw::proxy::codec
