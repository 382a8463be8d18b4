// Strict HTTP/1.1 response parsing (RFC 9112) with every size bounded; see the header.
#include "proxy/codec/http_response_parser.h"

#include <algorithm>
#include <cstring>

#include "policy/ascii.h"

namespace kw::proxy::codec {

namespace {

bool isTchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// 1*DIGIT without sign or overflow.
std::optional<uint64_t> parseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "Connection" tokens: true when `token` is listed.
bool listsToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = ascii::trimOws(value.substr(0, comma));
    if (ascii::equalsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

HttpResponseParser::HttpResponseParser(const HttpResponseLimits& limits) : limits_(limits) {}

void HttpResponseParser::reset() {
  state_ = State::Head;
  framing_ = Framing::None;
  head_.clear();
  fields_.clear();
  line_.clear();
  status_ = 0;
  keep_alive_ = true;
  head_done_ = false;
  over_limit_ = false;
  remaining_ = body_bytes_ = content_length_ = 0;
  trailer_bytes_ = 0;
  error_.clear();
}

HttpResponseParser::Status HttpResponseParser::failOverLimit() {
  over_limit_ = true;
  return fail("upstream body over the size limit");
}

HttpResponseParser::Status HttpResponseParser::fail(std::string why) {
  state_ = State::Failed;
  error_ = std::move(why);
  keep_alive_ = false;
  return Status::Error;
}

std::optional<std::string_view> HttpResponseParser::header(std::string_view name) const {
  for (const Field& f : fields_) {
    if (std::string_view(head_).substr(f.name_at, f.name_len) == name) {
      return std::string_view(head_).substr(f.value_at, f.value_len);
    }
  }
  return std::nullopt;
}

std::vector<std::pair<std::string_view, std::string_view>> HttpResponseParser::headers() const {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  out.reserve(fields_.size());
  for (const Field& f : fields_) {
    out.emplace_back(std::string_view(head_).substr(f.name_at, f.name_len),
                     std::string_view(head_).substr(f.value_at, f.value_len));
  }
  return out;
}

std::optional<uint64_t> HttpResponseParser::contentLength() const {
  if (framing_ != Framing::Length) return std::nullopt;
  return content_length_;
}

bool HttpResponseParser::parseHead() {
  std::string_view all(head_);
  size_t eol = all.find("\r\n");
  std::string_view status_line = all.substr(0, eol);
  // HTTP-version SP 3DIGIT SP [reason]
  bool http11 = status_line.starts_with("HTTP/1.1 ");
  if (!http11 && !status_line.starts_with("HTTP/1.0 ")) {
    fail("upstream response is not HTTP/1.x");
    return false;
  }
  if (status_line.size() < 12 || (status_line.size() > 12 && status_line[12] != ' ')) {
    fail("malformed upstream status line");
    return false;
  }
  auto code = parseDecimal(status_line.substr(9, 3));
  if (!code || *code < 100) {
    fail("malformed upstream status code");
    return false;
  }
  for (char c : status_line.substr(std::min<size_t>(12, status_line.size()))) {
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
      fail("control character in the upstream reason phrase");
      return false;
    }
  }
  status_ = static_cast<int>(*code);
  if (status_ < 200) {
    fail("unexpected interim (1xx) upstream response");
    return false;
  }
  keep_alive_ = http11;
  size_t pos = eol + 2;
  bool has_length = false, chunked = false, has_te = false;
  while (pos < all.size()) {
    size_t end = all.find("\r\n", pos);
    if (end == pos) break;  // the blank line
    std::string_view line = all.substr(pos, end - pos);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      fail("malformed upstream header line");
      return false;
    }
    for (size_t i = 0; i < colon; ++i) {
      if (!isTchar(static_cast<unsigned char>(line[i]))) {
        fail("invalid character in an upstream header name");
        return false;
      }
      head_[pos + i] = ascii::toLower(head_[pos + i]);
    }
    std::string_view raw_value = line.substr(colon + 1);
    for (char c : raw_value) {
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
        fail("control character in an upstream header value");
        return false;
      }
    }
    std::string_view value = ascii::trimOws(raw_value);
    if (fields_.size() >= limits_.max_header_count) {
      fail("too many upstream headers");
      return false;
    }
    Field f{static_cast<uint32_t>(pos), static_cast<uint32_t>(colon),
            static_cast<uint32_t>(value.data() - head_.data()),
            static_cast<uint32_t>(value.size())};
    fields_.push_back(f);
    std::string_view name = std::string_view(head_).substr(pos, colon);
    if (name == "content-length") {
      auto n = parseDecimal(value);
      if (!n || (has_length && *n != content_length_)) {
        fail("invalid upstream Content-Length");
        return false;
      }
      has_length = true;
      content_length_ = *n;
    } else if (name == "transfer-encoding") {
      if (has_te || !ascii::equalsIgnoreCase(value, "chunked")) {
        fail("unsupported upstream Transfer-Encoding");
        return false;
      }
      has_te = chunked = true;
    } else if (name == "connection") {
      if (listsToken(value, "close")) keep_alive_ = false;
      if (!http11 && listsToken(value, "keep-alive")) keep_alive_ = true;
    }
    pos = end + 2;
  }
  if (has_length && chunked) {
    fail("upstream sent both Content-Length and Transfer-Encoding");
    return false;
  }
  if (status_ == 204 || status_ == 304) {
    framing_ = Framing::None;
    state_ = State::Done;
  } else if (chunked) {
    framing_ = Framing::Chunked;
    state_ = State::ChunkSize;
  } else if (has_length) {
    if (content_length_ > limits_.max_body_bytes) {
      failOverLimit();
      return false;
    }
    framing_ = Framing::Length;
    remaining_ = content_length_;
    state_ = remaining_ == 0 ? State::Done : State::Body;
  } else {
    framing_ = Framing::UntilClose;
    keep_alive_ = false;
    state_ = State::Body;
  }
  return true;
}

HttpResponseParser::Status HttpResponseParser::feedHead(const char* data, size_t len,
                                                        size_t* consumed) {
  // Copy up to the end of the head (CRLFCRLF), never past it.
  size_t i = 0;
  while (i < len) {
    head_.push_back(data[i++]);
    if (head_.size() > limits_.max_head_bytes) {
      *consumed = i;
      return fail("upstream response head over the size limit");
    }
    if (head_.back() == '\n') {
      size_t n = head_.size();
      if (n < 2 || head_[n - 2] != '\r') {
        *consumed = i;
        return fail("bare LF in the upstream response head");
      }
      if (n >= 4 && head_.compare(n - 4, 4, "\r\n\r\n") == 0) {
        *consumed = i;
        if (!parseHead()) return Status::Error;
        head_done_ = true;
        return state_ == State::Done ? Status::Complete : Status::NeedMore;
      }
    } else if (head_.back() == '\0') {
      *consumed = i;
      return fail("NUL in the upstream response head");
    }
  }
  *consumed = i;
  return Status::NeedMore;
}

HttpResponseParser::Status HttpResponseParser::feed(const char* data, size_t len, size_t* consumed,
                                                    std::string& body) {
  *consumed = 0;
  if (state_ == State::Failed) return Status::Error;
  if (state_ == State::Done) return Status::Complete;
  size_t pos = 0;
  if (state_ == State::Head) {
    size_t used = 0;
    Status st = feedHead(data, len, &used);
    pos = used;
    if (st != Status::NeedMore || state_ == State::Head) {
      *consumed = pos;
      return st;
    }
  }
  auto takeBody = [&](size_t n) -> bool {
    body_bytes_ += n;
    if (body_bytes_ > limits_.max_body_bytes) return false;
    body.append(data + pos, n);
    pos += n;
    return true;
  };
  while (pos < len && state_ != State::Done) {
    switch (state_) {
      case State::Body: {
        size_t n = len - pos;
        if (framing_ == Framing::Length) n = static_cast<size_t>(std::min<uint64_t>(n, remaining_));
        if (!takeBody(n)) {
          *consumed = pos;
          return failOverLimit();
        }
        if (framing_ == Framing::Length) {
          remaining_ -= n;
          if (remaining_ == 0) state_ = State::Done;
        }
        break;
      }
      case State::ChunkSize:
      case State::Trailer:
      case State::ChunkDataEnd: {
        char c = data[pos++];
        line_.push_back(c);
        const uint32_t cap =
            state_ == State::Trailer ? limits_.max_trailer_bytes : limits_.max_chunk_line_bytes;
        if (state_ == State::Trailer && ++trailer_bytes_ > cap) {
          *consumed = pos;
          return fail("upstream chunk trailers over the size limit");
        }
        if (line_.size() > cap) {
          *consumed = pos;
          return fail("upstream chunk line over the size limit");
        }
        if (c != '\n') break;
        if (line_.size() < 2 || line_[line_.size() - 2] != '\r') {
          *consumed = pos;
          return fail("bare LF in upstream chunk framing");
        }
        std::string_view line(line_.data(), line_.size() - 2);
        if (state_ == State::ChunkDataEnd) {
          if (!line.empty()) {
            *consumed = pos;
            return fail("missing CRLF after an upstream chunk");
          }
          state_ = State::ChunkSize;
        } else if (state_ == State::ChunkSize) {
          std::string_view size_part = line.substr(0, line.find(';'));
          size_part = ascii::trimOws(size_part);
          if (size_part.empty() || size_part.size() > 15) {
            *consumed = pos;
            return fail("invalid upstream chunk size");
          }
          uint64_t size = 0;
          for (char h : size_part) {
            int v = hexValue(h);
            if (v < 0) {
              *consumed = pos;
              return fail("invalid upstream chunk size");
            }
            size = size * 16 + static_cast<uint64_t>(v);
          }
          if (size == 0) {
            state_ = State::Trailer;
          } else {
            remaining_ = size;
            state_ = State::ChunkData;
          }
        } else {  // Trailer: ends with an empty line; trailer fields are ignored
          if (line.empty()) state_ = State::Done;
        }
        line_.clear();
        break;
      }
      case State::ChunkData: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(len - pos, remaining_));
        if (!takeBody(n)) {
          *consumed = pos;
          return failOverLimit();
        }
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::ChunkDataEnd;
        break;
      }
      case State::Head:
      case State::Done:
      case State::Failed:
        break;
    }
  }
  *consumed = pos;
  return state_ == State::Done ? Status::Complete : Status::NeedMore;
}

HttpResponseParser::Status HttpResponseParser::finishAtEof() {
  if (state_ == State::Done) return Status::Complete;
  if (state_ == State::Body && framing_ == Framing::UntilClose) {
    state_ = State::Done;
    return Status::Complete;
  }
  return fail("upstream closed the connection before the response was complete");
}

}  // namespace kw::proxy::codec
