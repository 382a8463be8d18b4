// Incremental HTTP/1.1 request parser: bytes from a socket in, one bounded request out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kw::proxy::codec {

enum class HttpMethod : uint8_t { Get, Head, Post, Put, Options, Other };

// Upper-case method name for logs ("GET", ...; "OTHER" for anything else).
std::string_view methodName(HttpMethod m);

struct HttpParserLimits {
  uint32_t max_header_bytes = 16 * 1024;  // request line + header lines + blank line
  uint32_t max_header_count = 100;
  uint32_t max_target_bytes = 8 * 1024;        // request-target (path + query)
  uint64_t max_body_bytes = 10 * 1024 * 1024;  // listen.max_body_bytes (decoded body)
  uint32_t max_chunk_line_bytes = 1024;        // chunk-size line incl. extensions
  uint32_t max_trailer_bytes = 8 * 1024;       // all trailer lines of a chunked body
};

enum class ParseStatus : uint8_t {
  NeedMore,      // feed more bytes
  HeadComplete,  // headers parsed and a body follows: headers are available; feed the rest
  Complete,      // whole request available (head and body); feed nothing more until reset()
  Error,         // answer errorStatus() with errorMessage() and close the connection
};

// One header; `name` is lower-cased, `value` has its surrounding OWS trimmed.
struct HttpHeader {
  std::string_view name;
  std::string_view value;
};

// Usage (one request at a time; pipelined bytes are never consumed past the current request):
//   HttpRequestParser p(limits);
//   size_t used = 0;
//   ParseStatus st = p.feed(data, len, &used);   // drain `used` bytes from the input buffer
//   HeadComplete -> check headers (auth, 413, Expect: 100-continue), then keep feeding the
//                   remaining bytes (possibly none yet) until Complete.
//   Complete     -> serve; then reset() and feed the unconsumed remainder (next request).
// HeadComplete is reported only when a body follows (Content-Length > 0 or chunked); a request
// without body goes straight to Complete. Headers are available in both states. feed() stops
// right after the head when it reports HeadComplete (body bytes in the same buffer are left
// for the next call); NeedMore always consumes everything it was given.
// All views returned stay valid until reset() or destruction (body(): once Complete).
class HttpRequestParser {
 public:
  explicit HttpRequestParser(const HttpParserLimits& limits = {});

  // Consumes a prefix of [data, data+len); *consumed <= len. After Complete or Error it
  // consumes nothing and returns the same status until reset().
  [[nodiscard]] ParseStatus feed(const char* data, size_t len, size_t* consumed);
  [[nodiscard]] ParseStatus feed(std::string_view bytes, size_t* consumed) {
    return feed(bytes.data(), bytes.size(), consumed);
  }

  // Ready for the next request on the same connection (keeps allocated capacity).
  void reset();

  ParseStatus status() const { return status_; }
  bool headComplete() const { return head_done_; }

  // Valid when status() == Error: 400, 413, 414, 431, 501 or 505, and an "ERR ..." text.
  uint16_t errorStatus() const { return error_status_; }
  std::string_view errorMessage() const { return error_message_; }

  // Valid once the head is complete.
  HttpMethod method() const { return method_; }
  std::string_view methodToken() const { return method_token_; }
  std::string_view target() const { return target_; }      // raw origin-form, e.g. "/get/a?x=1"
  std::string_view path() const;                           // target up to '?'
  std::string_view query() const;                          // after '?', without it ("" if none)
  uint8_t versionMinor() const { return version_minor_; }  // HTTP/1.<minor>: 0 or 1
  std::span<const HttpHeader> headers() const { return headers_; }
  // Repeated header lines (RFC 9110 section 5.3). Every header keyward reads has one rule:
  //  - singletons, a second line is refused at head time (400, or 501 for Transfer-Encoding):
  //    authorization, origin, host, content-length, content-type, transfer-encoding,
  //    upstash-encoding, upstash-response-format;
  //  - lists, all lines are one comma-joined list (read them with headerList()):
  //    x-forwarded-for, connection, expect, access-control-request-headers;
  //  - upstash-sync-token and upstash-telemetry-* (relayed to a REST upstream, never acted on):
  //    the first line only, so the upstream gets exactly one.
  // header(): the first line with this name; `lowercase_name` must be lower case. nullopt when
  // absent (an empty value is a present, empty header). For a singleton it is the only line.
  std::optional<std::string_view> header(std::string_view lowercase_name) const;
  // Number of lines with this name.
  size_t headerCount(std::string_view lowercase_name) const;
  // Every OWS-trimmed, non-empty element of the list made of all lines named `lowercase_name`,
  // in order (first line first). Returns the number of elements.
  std::vector<std::string_view> headerList(std::string_view lowercase_name) const;
  bool keepAlive() const { return keep_alive_; }
  bool expectContinue() const { return expect_continue_; }
  bool chunked() const { return chunked_; }
  std::optional<uint64_t> contentLength() const { return content_length_; }

  // Decoded body (de-chunked). Complete only.
  std::string_view body() const { return body_; }
  // Moves the body out (Complete only); body() is empty afterwards.
  std::string takeBody() { return std::move(body_); }

 private:
  enum class Phase : uint8_t { Head, Body, ChunkSize, ChunkData, ChunkDataEnd, Trailers, Done };

  ParseStatus fail(uint16_t http_status, std::string_view message);
  ParseStatus feedHead(const char* data, size_t len, size_t* consumed);
  ParseStatus feedHeadOnce(const char* data, size_t len, size_t* consumed);
  ParseStatus parseHead();
  size_t maxRequestLineBytes() const;
  ParseStatus parseRequestLine(std::string_view line);
  ParseStatus parseHeaderLine(std::string_view line);
  ParseStatus finishHead();
  ParseStatus feedBody(const char* data, size_t len, size_t* consumed);
  ParseStatus feedChunked(const char* data, size_t len, size_t* consumed);
  enum class LineResult : uint8_t { Partial, Done, Bad, TooLong };
  LineResult takeLine(const char* data, size_t len, size_t* used, uint32_t max_line);

  HttpParserLimits limits_;
  ParseStatus status_ = ParseStatus::NeedMore;
  Phase phase_ = Phase::Head;
  bool head_done_ = false;

  std::string head_;  // raw head bytes (header names lower-cased in place); views point here
  size_t scan_from_ = 0;
  size_t leading_empty_lines_ = 0;
  bool request_line_seen_ = false;
  std::vector<HttpHeader> headers_;

  HttpMethod method_ = HttpMethod::Other;
  std::string_view method_token_;
  std::string_view target_;
  uint8_t version_minor_ = 1;
  bool keep_alive_ = true;
  bool expect_continue_ = false;
  bool chunked_ = false;
  std::optional<uint64_t> content_length_;

  std::string body_;
  uint64_t remaining_ = 0;  // Body: bytes left; ChunkData: bytes left in this chunk
  std::string line_;        // partial chunk-size / trailer line
  uint32_t trailer_bytes_ = 0;

  uint16_t error_status_ = 0;
  std::string error_message_;
};

}  // namespace kw::proxy::codec
