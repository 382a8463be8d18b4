// Incremental HTTP/1.1 response parser for the REST upstream: bounded head, Content-Length,
// chunked or close-delimited bodies, body bytes handed out as they arrive (never buffered whole).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kw::proxy::codec {

struct HttpResponseLimits {
  uint32_t max_head_bytes = 16 * 1024;  // status line + header lines + blank line
  uint32_t max_header_count = 100;
  uint32_t max_chunk_line_bytes = 1024;
  uint32_t max_trailer_bytes = 8 * 1024;
  uint64_t max_body_bytes = uint64_t{512} << 20;  // decoded body
};

// Usage, one response per parser (reset() for the next on a kept-alive connection):
//   Status st = p.feed(data, len, &used, body);  // drain `used`; forward and clear `body`
//   headComplete() turns true as soon as the head is parsed (status/headers available).
//   Complete: the whole response arrived; bytes after it are the caller's business (a
//   client that never pipelines treats them as a protocol error).
//   closeDelimited(): the body ends when the connection does: call finishAtEof().
class HttpResponseParser {
 public:
  enum class Status : uint8_t { NeedMore, Complete, Error };

  explicit HttpResponseParser(const HttpResponseLimits& limits = {});

  [[nodiscard]] Status feed(const char* data, size_t len, size_t* consumed, std::string& body);
  // The peer closed the connection: Complete for a close-delimited body, else Error.
  [[nodiscard]] Status finishAtEof();
  void reset();

  [[nodiscard]] bool headComplete() const { return head_done_; }
  [[nodiscard]] int status() const { return status_; }
  // The first header named `name` (lower-case), value trimmed; nullopt when absent.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const;
  // Every header in arrival order: name lower-cased, value trimmed.
  [[nodiscard]] std::vector<std::pair<std::string_view, std::string_view>> headers() const;
  [[nodiscard]] bool keepAlive() const { return keep_alive_; }
  [[nodiscard]] bool closeDelimited() const { return framing_ == Framing::UntilClose; }
  [[nodiscard]] std::optional<uint64_t> contentLength() const;
  [[nodiscard]] const std::string& error() const { return error_; }
  // The failure was the body outgrowing max_body_bytes (the response itself may be well formed).
  [[nodiscard]] bool overLimit() const { return over_limit_; }

 private:
  enum class State : uint8_t {
    Head,
    Body,
    ChunkSize,
    ChunkData,
    ChunkDataEnd,
    Trailer,
    Done,
    Failed
  };
  enum class Framing : uint8_t { None, Length, Chunked, UntilClose };
  struct Field {
    uint32_t name_at, name_len, value_at, value_len;
  };

  Status fail(std::string why);
  Status failOverLimit();
  bool parseHead();  // head_ holds the whole head (ending in CRLFCRLF)
  Status feedHead(const char* data, size_t len, size_t* consumed);

  HttpResponseLimits limits_;
  State state_ = State::Head;
  Framing framing_ = Framing::None;
  std::string head_;  // lower-cased names are written into it in place
  std::vector<Field> fields_;
  std::string line_;  // a chunk-size line or trailer line being collected
  int status_ = 0;
  bool keep_alive_ = true;
  bool head_done_ = false;  // a valid head was parsed
  bool over_limit_ = false;
  uint64_t remaining_ = 0;  // Length: body bytes left; ChunkData: bytes left in the chunk
  uint64_t body_bytes_ = 0;
  uint64_t content_length_ = 0;
  uint32_t trailer_bytes_ = 0;
  std::string error_;
};

}  // namespace kw::proxy::codec
