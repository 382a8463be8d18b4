// Decodes an Upstash REST request (route, path segments, query pairs, JSON body) into argv lists.
#include "proxy/codec/rest_request.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>

#include "policy/ascii.h"
#include "proxy/codec/json_input.h"
#include "proxy/codec/percent_decode.h"

namespace kw::proxy::codec {

// Writes arguments into the RestRequest's fixed-size storage and records argv boundaries.
class RestRequestBuilder {
 public:
  RestRequestBuilder(const RestOptions& options, size_t capacity) : options_(options) {
    req_.storage_.reset(new char[capacity == 0 ? 1 : capacity]);
    req_.storage_size_ = capacity;
    req_.args_.reserve(8);  // a typical SDK command; grows geometrically beyond
    req_.offsets_.reserve(4);
    req_.offsets_.push_back(0);
  }

  RestRequest& req() { return req_; }
  void setRoute(RestRoute r, bool path_style) {
    req_.route_ = r;
    req_.path_style_ = path_style;
  }
  RestRoute route() const { return req_.route_; }
  QueryToken queryTokenState() const { return req_.query_token_state_; }
  void setQueryToken(QueryToken state, std::string_view token) {
    req_.query_token_state_ = state;
    req_.query_token_ = token;
  }
  std::string_view lastArg() const { return req_.args_.back(); }
  void setChannel(std::string_view c) { req_.channel_ = c; }
  char* cursor() { return req_.storage_.get() + used_; }
  size_t room() const { return req_.storage_size_ - used_; }

  // Appends bytes already written at cursor() as one argument.
  [[nodiscard]] Status commitArg(size_t len) {
    if (len > room()) return makeError(ErrorCode::Internal, "ERR internal error");
    if (args_in_command_ >= options_.max_args) {
      return makeError(ErrorCode::TooLarge, "ERR too many arguments in one command");
    }
    if (req_.args_.size() >= options_.max_total_args) {
      return makeError(ErrorCode::TooLarge, "ERR too many arguments in the request");
    }
    req_.args_.emplace_back(cursor(), len);
    used_ += len;
    ++args_in_command_;
    return Ok{};
  }

  // Keeps `len` bytes written at cursor() without making them an argument (the query token).
  [[nodiscard]] Status reserve(size_t len) {
    if (len > room()) return makeError(ErrorCode::Internal, "ERR internal error");
    used_ += len;
    return Ok{};
  }

  [[nodiscard]] Status addArg(std::string_view bytes) {
    if (bytes.size() > room()) return makeError(ErrorCode::Internal, "ERR internal error");
    if (!bytes.empty()) std::memcpy(cursor(), bytes.data(), bytes.size());
    return commitArg(bytes.size());
  }

  [[nodiscard]] Status addDecoded(std::string_view raw, PlusMode plus) {
    if (raw.size() > room()) return makeError(ErrorCode::Internal, "ERR internal error");
    std::optional<size_t> n = percentDecode(raw, cursor(), plus);
    if (!n) return makeError(ErrorCode::InvalidArgument, "ERR invalid percent-encoding in URL");
    return commitArg(*n);
  }

  [[nodiscard]] Status endCommand() {
    if (args_in_command_ == 0) return makeError(ErrorCode::InvalidArgument, "ERR empty command");
    if (req_.offsets_.size() > options_.max_commands) {
      return makeError(ErrorCode::TooLarge, "ERR too many commands in the request");
    }
    req_.offsets_.push_back(static_cast<uint32_t>(req_.args_.size()));
    args_in_command_ = 0;
    return Ok{};
  }

 private:
  const RestOptions& options_;
  RestRequest req_;
  size_t used_ = 0;
  uint32_t args_in_command_ = 0;
};

namespace {

Error badRequest(std::string message) {
  return makeError(ErrorCode::InvalidArgument, std::move(message));
}
Error methodNotAllowed() { return makeError(ErrorCode::NotFound, "ERR method not allowed"); }

#define KW_TRY(expr)                                    \
  do {                                                  \
    Status kw_try_status_ = (expr);                     \
    if (!kw_try_status_) return kw_try_status_.error(); \
  } while (0)

// JSON number grammar (RFC 8259 §6), so the raw token can be forwarded exactly as written.
bool isJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i >= s.size()) return false;
  if (s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

std::string_view trimJsonWhitespace(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

constexpr const char* kBadJson = "ERR invalid JSON request body";
constexpr const char* kBadArg = "ERR command arguments must be JSON strings, numbers or booleans";

// One JSON scalar -> one argument: strings unescaped, numbers as written, booleans as text.
Status addScalar(simdjson::ondemand::value v, RestRequestBuilder& b) {
  simdjson::ondemand::json_type type;
  if (v.type().get(type)) return badRequest(kBadJson);
  switch (type) {
    case simdjson::ondemand::json_type::string: {
      std::string_view s;
      if (v.get_string().get(s)) return badRequest(kBadJson);
      return b.addArg(s);
    }
    case simdjson::ondemand::json_type::number: {
      std::string_view raw = trimJsonWhitespace(v.raw_json_token());
      if (!isJsonNumber(raw)) return badRequest(kBadJson);
      return b.addArg(raw);
    }
    case simdjson::ondemand::json_type::boolean: {
      bool flag = false;
      if (v.get_bool().get(flag)) return badRequest(kBadJson);
      return b.addArg(flag ? "true" : "false");
    }
    case simdjson::ondemand::json_type::null:
      return badRequest("ERR null is not a valid command argument");
    case simdjson::ondemand::json_type::array:
    case simdjson::ondemand::json_type::object:
      return badRequest(kBadArg);
  }
  return badRequest(kBadArg);
}

// Elements of one JSON array of scalars -> one command.
Status addCommandArray(simdjson::ondemand::array arr, RestRequestBuilder& b) {
  for (auto elem : arr) {
    simdjson::ondemand::value v;
    if (elem.get(v)) return badRequest(kBadJson);
    KW_TRY(addScalar(v, b));
  }
  return b.endCommand();
}

Status decodeJsonBody(std::string_view body, bool array_of_arrays, RestRequestBuilder& b) {
  JsonInput input(body);

  simdjson::ondemand::document doc;
  if (input.iterate(doc)) {
    return badRequest(kBadJson);
  }
  simdjson::ondemand::array outer;
  if (doc.get_array().get(outer)) {
    return badRequest(array_of_arrays ? "ERR the request body must be a JSON array of commands"
                                      : "ERR the request body must be a JSON array");
  }
  if (!array_of_arrays) {
    KW_TRY(addCommandArray(outer, b));
  } else {
    for (auto elem : outer) {
      simdjson::ondemand::value v;
      if (elem.get(v)) return badRequest(kBadJson);
      simdjson::ondemand::json_type type;
      if (v.type().get(type)) return badRequest(kBadJson);
      if (type != simdjson::ondemand::json_type::array) {
        return badRequest("ERR each command must be a JSON array");
      }
      simdjson::ondemand::array inner;
      if (v.get_array().get(inner)) return badRequest(kBadJson);
      KW_TRY(addCommandArray(inner, b));
    }
    if (b.req().commandCount() == 0) return badRequest("ERR empty pipeline");
  }
  // Anything after the array (a second document, stray tokens) is an error.
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) != simdjson::OUT_OF_BOUNDS) return badRequest(kBadJson);
  return Ok{};
}

// Query pairs: `_token` is taken out; on JSON routes nothing else is allowed, on path-style
// commands each `k=v` adds two arguments (`k` alone adds one).
Status decodeQuery(std::string_view query, bool append_args, const RestOptions& options,
                   RestRequestBuilder& b) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (key.empty()) return badRequest("ERR empty query parameter name");
    // Decode the key in place at the cursor; commit it only if it is an argument.
    if (pair.size() > b.room()) return makeError(ErrorCode::Internal, "ERR internal error");
    std::optional<size_t> klen = percentDecode(key, b.cursor(), PlusMode::Space);
    if (!klen) return badRequest("ERR invalid percent-encoding in URL");
    if (std::string_view(b.cursor(), *klen) == "_token") {
      if (b.queryTokenState() != QueryToken::Absent) {
        return badRequest("ERR duplicate _token query parameter");
      }
      std::string_view raw =
          eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
      std::optional<size_t> tlen = percentDecode(raw, b.cursor(), PlusMode::Space);
      if (!tlen) return badRequest("ERR invalid percent-encoding in URL");
      if (!options.allow_query_token) {
        // Flagged for a 401; the decoded secret is wiped and its bytes left unreserved.
        std::memset(b.cursor(), 0, *tlen);
        b.setQueryToken(QueryToken::Disallowed, {});
        continue;
      }
      b.setQueryToken(QueryToken::Present, std::string_view(b.cursor(), *tlen));
      KW_TRY(b.reserve(*tlen));
      continue;
    }
    if (!append_args)
      return badRequest("ERR query parameters are only allowed with path-style commands");
    KW_TRY(b.commitArg(*klen));
    if (eq != std::string_view::npos) KW_TRY(b.addDecoded(pair.substr(eq + 1), PlusMode::Space));
  }
  return Ok{};
}

bool allowedChars(std::string_view target) {
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// Splits the raw path (after the leading '/') on '/' and decodes each segment separately.
Status addPathSegments(std::string_view rest, RestRequestBuilder& b) {
  while (true) {
    size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    if (seg.empty()) return badRequest("ERR empty path segment");
    KW_TRY(b.addDecoded(seg, PlusMode::Literal));
    if (slash == std::string_view::npos) return Ok{};
    rest.remove_prefix(slash + 1);
  }
}

Status decodeSubscribe(RestRoute route, HttpMethod method, std::string_view rest,
                       std::string_view query, const RestOptions& options, RestRequestBuilder& b) {
  if (method != HttpMethod::Post && method != HttpMethod::Get) return methodNotAllowed();
  if (rest.empty() || rest.find('/') != std::string_view::npos) {
    return badRequest("ERR subscribe needs exactly one channel in the path");
  }
  KW_TRY(b.addArg(route == RestRoute::Subscribe ? "subscribe" : "psubscribe"));
  KW_TRY(b.addDecoded(rest, PlusMode::Literal));
  if (b.lastArg().empty()) return badRequest("ERR empty channel name");
  b.setChannel(b.lastArg());
  KW_TRY(b.endCommand());
  return decodeQuery(query, false, options, b);
}

Status decodeInto(HttpMethod method, std::string_view path, std::string_view query,
                  std::string_view body, const RestOptions& options, RestRequestBuilder& b) {
  if (method == HttpMethod::Options || method == HttpMethod::Other) return methodNotAllowed();
  std::string_view rest = path.substr(1);  // path[0] == '/'
  if (rest == "pipeline" || rest == "multi-exec" || rest.empty()) {
    const RestRoute route = rest.empty()         ? RestRoute::Command
                            : rest == "pipeline" ? RestRoute::Pipeline
                                                 : RestRoute::MultiExec;
    b.setRoute(route, false);
    if (rest.empty() && (method == HttpMethod::Get || method == HttpMethod::Head)) {
      return badRequest("ERR no command given");
    }
    if (method != HttpMethod::Post) return methodNotAllowed();
    KW_TRY(decodeQuery(query, false, options, b));
    return decodeJsonBody(body, route != RestRoute::Command, b);
  }
  std::string_view first = rest.substr(0, rest.find('/'));
  if (first == "subscribe" || first == "psubscribe") {
    const RestRoute route = first == "subscribe" ? RestRoute::Subscribe : RestRoute::PSubscribe;
    b.setRoute(route, false);
    rest.remove_prefix(std::min(rest.size(), first.size() + 1));
    return decodeSubscribe(route, method, rest, query, options, b);
  }
  if (first == "pipeline" || first == "multi-exec") {
    return badRequest("ERR unexpected path after /" + std::string(first));
  }
  b.setRoute(RestRoute::Command, true);
  KW_TRY(addPathSegments(rest, b));
  if (!body.empty()) {
    if (method != HttpMethod::Post && method != HttpMethod::Put) {
      return badRequest("ERR a request body is only allowed with POST or PUT");
    }
    KW_TRY(b.addArg(body));
  }
  KW_TRY(decodeQuery(query, true, options, b));
  return b.endCommand();
}

}  // namespace

std::string_view routeName(RestRoute r) {
  switch (r) {
    case RestRoute::Command:
      return "command";
    case RestRoute::Pipeline:
      return "pipeline";
    case RestRoute::MultiExec:
      return "multi-exec";
    case RestRoute::Subscribe:
      return "subscribe";
    case RestRoute::PSubscribe:
      return "psubscribe";
  }
  return "command";
}

Result<RestRequest> decodeRestRequest(HttpMethod method, std::string_view target,
                                      std::string_view body, const RestOptions& options) {
  if (target.empty() || target[0] != '/' || !allowedChars(target)) {
    return badRequest("ERR bad request target");
  }
  const size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  // Every stored byte comes from the target or the body and decoding never grows it.
  RestRequestBuilder b(options, target.size() + body.size() + sizeof("psubscribe"));
  Status st = decodeInto(method, path, query, body, options, b);
  if (!st) return st.error();
  return std::move(b.req());
}

Result<RestRequest> decodeRestRequest(const HttpRequestParser& parser, const RestOptions& options) {
  return decodeRestRequest(parser.method(), parser.target(), parser.body(), options);
}

uint16_t restErrorStatus(const Error& e) {
  switch (e.code) {
    case ErrorCode::TooLarge:
      return 413;
    case ErrorCode::NotFound:
      return 405;
    case ErrorCode::InvalidArgument:
    case ErrorCode::Config:
    case ErrorCode::Io:
    case ErrorCode::Tls:
    case ErrorCode::Upstream:
    case ErrorCode::Timeout:
    case ErrorCode::Internal:
      return 400;
  }
  return 400;
}

Result<ResponseOptions> parseResponseOptions(std::optional<std::string_view> encoding,
                                             std::optional<std::string_view> format) {
  ResponseOptions out;
  if (encoding && ascii::equalsIgnoreCase(ascii::trimOws(*encoding), "base64")) out.base64 = true;
  if (format) {
    std::string_view f = ascii::trimOws(*format);
    if (ascii::equalsIgnoreCase(f, "resp2")) {
      out.resp2 = true;
    } else if (!ascii::equalsIgnoreCase(f, "json")) {
      return badRequest("ERR invalid Upstash-Response-Format, expected json or resp2");
    }
  }
  if (out.resp2 && out.base64) {
    return badRequest("ERR Upstash-Response-Format resp2 cannot be combined with base64");
  }
  return out;
}

std::optional<std::string_view> bearerToken(std::optional<std::string_view> authorization) {
  if (!authorization) return std::nullopt;
  std::string_view v = ascii::trimOws(*authorization);
  constexpr std::string_view kScheme = "bearer";
  if (v.size() <= kScheme.size() ||
      !ascii::equalsIgnoreCase(v.substr(0, kScheme.size()), kScheme) ||
      (v[kScheme.size()] != ' ' && v[kScheme.size()] != '\t')) {
    return std::nullopt;
  }
  std::string_view token = ascii::trimOws(v.substr(kScheme.size()));
  if (token.empty() || token.size() > kMaxBearerTokenBytes) return std::nullopt;
  for (unsigned char c : token) {
    if (c <= 0x20 || c >= 0x7f) return std::nullopt;
  }
  return token;
}

}  // namespace kw::proxy::codec
