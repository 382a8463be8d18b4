// Incremental, strict HTTP/1.1 request parser with bounded head, body and chunk framing.
#include "proxy/codec/http_request_parser.h"

#include <algorithm>
#include <cstring>

#include "policy/ascii.h"

namespace kw::proxy::codec {
namespace {

constexpr size_t kMaxMethodBytes = 32;
constexpr size_t kMaxLeadingEmptyLines = 4;
constexpr size_t kInitialBodyReserve = 256 * 1024;

// RFC 9110 tchar.
constexpr bool isTcharSlow(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

struct CharTables {
  bool tchar[256] = {};
  char lower[256] = {};
  bool field_value[256] = {};  // HTAB, SP, VCHAR, obs-text
  constexpr CharTables() {
    for (int c = 0; c < 256; ++c) {
      const auto u = static_cast<unsigned char>(c);
      tchar[c] = isTcharSlow(u);
      lower[c] = static_cast<char>((c >= 'A' && c <= 'Z') ? (c | 0x20) : c);
      field_value[c] = c == '\t' || (c >= 0x20 && c != 0x7f);
    }
  }
};
constexpr CharTables kChars;

constexpr bool isTchar(unsigned char c) { return kChars.tchar[c]; }

// field-value bytes: HTAB, SP, VCHAR, obs-text. No NUL, CR, LF, other CTLs or DEL.
bool validFieldValue(std::string_view v) {
  bool ok = true;
  for (unsigned char c : v) ok &= kChars.field_value[c];
  return ok;
}

HttpMethod methodFromToken(std::string_view m) {
  switch (m.size()) {
    case 3:
      if (m == "GET") return HttpMethod::Get;
      if (m == "PUT") return HttpMethod::Put;
      break;
    case 4:
      if (m == "POST") return HttpMethod::Post;
      if (m == "HEAD") return HttpMethod::Head;
      break;
    case 7:
      if (m == "OPTIONS") return HttpMethod::Options;
      break;
    default:
      break;
  }
  return HttpMethod::Other;
}

// Calls fn(token) for each comma-separated, OWS-trimmed, non-empty list element.
template <class Fn>
void forEachListToken(std::string_view v, Fn&& fn) {
  while (!v.empty()) {
    size_t comma = v.find(',');
    std::string_view tok = ascii::trimOws(v.substr(0, comma));
    if (!tok.empty()) fn(tok);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

}  // namespace

std::string_view methodName(HttpMethod m) {
  switch (m) {
    case HttpMethod::Get:
      return "GET";
    case HttpMethod::Head:
      return "HEAD";
    case HttpMethod::Post:
      return "POST";
    case HttpMethod::Put:
      return "PUT";
    case HttpMethod::Options:
      return "OPTIONS";
    case HttpMethod::Other:
      return "OTHER";
  }
  return "OTHER";
}

HttpRequestParser::HttpRequestParser(const HttpParserLimits& limits) : limits_(limits) {
  head_.reserve(1024);
  headers_.reserve(32);
}

void HttpRequestParser::reset() {
  status_ = ParseStatus::NeedMore;
  phase_ = Phase::Head;
  head_done_ = false;
  head_.clear();
  scan_from_ = 0;
  leading_empty_lines_ = 0;
  request_line_seen_ = false;
  headers_.clear();
  method_ = HttpMethod::Other;
  method_token_ = {};
  target_ = {};
  version_minor_ = 1;
  keep_alive_ = true;
  expect_continue_ = false;
  chunked_ = false;
  content_length_.reset();
  body_.clear();
  if (body_.capacity() > kInitialBodyReserve) body_.shrink_to_fit();  // drop big buffers
  remaining_ = 0;
  line_.clear();
  trailer_bytes_ = 0;
  error_status_ = 0;
  error_message_.clear();
}

std::string_view HttpRequestParser::path() const { return target_.substr(0, target_.find('?')); }

std::string_view HttpRequestParser::query() const {
  size_t q = target_.find('?');
  return q == std::string_view::npos ? std::string_view() : target_.substr(q + 1);
}

std::optional<std::string_view> HttpRequestParser::header(std::string_view lowercase_name) const {
  for (const HttpHeader& h : headers_) {
    if (h.name == lowercase_name) return h.value;
  }
  return std::nullopt;
}

size_t HttpRequestParser::headerCount(std::string_view lowercase_name) const {
  size_t n = 0;
  for (const HttpHeader& h : headers_) n += h.name == lowercase_name ? 1 : 0;
  return n;
}

std::vector<std::string_view> HttpRequestParser::headerList(std::string_view lowercase_name) const {
  std::vector<std::string_view> out;
  for (const HttpHeader& h : headers_) {
    if (h.name == lowercase_name)
      forEachListToken(h.value, [&](std::string_view t) { out.push_back(t); });
  }
  return out;
}

ParseStatus HttpRequestParser::fail(uint16_t http_status, std::string_view message) {
  status_ = ParseStatus::Error;
  error_status_ = http_status;
  error_message_.assign(message);
  return status_;
}

ParseStatus HttpRequestParser::feed(const char* data, size_t len, size_t* consumed) {
  *consumed = 0;
  if (status_ == ParseStatus::Complete || status_ == ParseStatus::Error) return status_;
  if (len > 0 && data == nullptr) return fail(400, "ERR bad request");
  switch (phase_) {
    case Phase::Head:
      status_ = feedHead(data, len, consumed);
      return status_;
    case Phase::Body:
      status_ = feedBody(data, len, consumed);
      return status_;
    case Phase::ChunkSize:
    case Phase::ChunkData:
    case Phase::ChunkDataEnd:
    case Phase::Trailers:
      status_ = feedChunked(data, len, consumed);
      return status_;
    case Phase::Done:
      return status_;
  }
  return status_;
}

ParseStatus HttpRequestParser::feedHead(const char* data, size_t len, size_t* consumed) {
  // Dropping leading empty lines frees buffer room, so one pass may not take all it can.
  size_t total = 0;
  while (true) {
    size_t used = 0;
    ParseStatus st = feedHeadOnce(data + total, len - total, &used);
    total += used;
    if (st != ParseStatus::NeedMore || total == len || used == 0) {
      *consumed = total;
      return st;
    }
  }
}

ParseStatus HttpRequestParser::feedHeadOnce(const char* data, size_t len, size_t* consumed) {
  const size_t old = head_.size();
  const size_t room = limits_.max_header_bytes > old ? limits_.max_header_bytes - old : 0;
  const size_t take = std::min(len, room);
  head_.append(data, take);
  size_t erased = 0;  // leading empty lines dropped during this call
  // One pass over the new bytes: every LF must follow a CR; CRLFCRLF ends the head.
  size_t i = scan_from_;
  while (i < head_.size()) {
    const void* hit = std::memchr(head_.data() + i, '\n', head_.size() - i);
    if (hit == nullptr) break;
    size_t lf = static_cast<size_t>(static_cast<const char*>(hit) - head_.data());
    if (lf == 0 || head_[lf - 1] != '\r') return fail(400, "ERR bad request: bare LF");
    if (lf == 1) {  // an empty line before the request line (RFC 9112 §2.2 allows skipping)
      if (++leading_empty_lines_ > kMaxLeadingEmptyLines) return fail(400, "ERR bad request");
      head_.erase(0, 2);
      erased += 2;
      i = 0;
      continue;
    }
    if (!request_line_seen_ && lf > maxRequestLineBytes()) {
      return fail(414, "ERR request URI too long");
    }
    request_line_seen_ = true;
    if (lf >= 3 && head_[lf - 2] == '\n' && head_[lf - 3] == '\r') {
      const size_t end = lf + 1;
      head_.resize(end);
      *consumed = end + erased - old;
      return parseHead();
    }
    i = lf + 1;
  }
  scan_from_ = head_.size();
  *consumed = take;
  if (!request_line_seen_ && head_.size() > maxRequestLineBytes()) {
    return fail(414, "ERR request URI too long");
  }
  if (head_.size() >= limits_.max_header_bytes) {
    return fail(431, "ERR request header fields too large");
  }
  return ParseStatus::NeedMore;
}

// Longest request line that can still be valid: method SP target SP "HTTP/1.1" CR.
size_t HttpRequestParser::maxRequestLineBytes() const {
  return kMaxMethodBytes + 1 + static_cast<size_t>(limits_.max_target_bytes) + 1 + 8 + 1;
}

ParseStatus HttpRequestParser::parseHead() {
  std::string_view head(head_);
  size_t eol = head.find("\r\n");
  ParseStatus st = parseRequestLine(head.substr(0, eol));
  if (st == ParseStatus::Error) return st;
  size_t pos = eol + 2;
  while (true) {
    eol = head.find("\r\n", pos);
    if (eol == pos) break;  // the blank line
    st = parseHeaderLine(std::string_view(head_.data() + pos, eol - pos));
    if (st == ParseStatus::Error) return st;
    pos = eol + 2;
  }
  return finishHead();
}

ParseStatus HttpRequestParser::parseRequestLine(std::string_view line) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0 || sp1 > kMaxMethodBytes) {
    return fail(400, "ERR bad request line");
  }
  method_token_ = line.substr(0, sp1);
  for (unsigned char c : method_token_) {
    if (!isTchar(c)) return fail(400, "ERR bad request method");
  }
  method_ = methodFromToken(method_token_);
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return fail(400, "ERR bad request line");
  target_ = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (target_.size() > limits_.max_target_bytes) return fail(414, "ERR request URI too long");
  if (target_.empty() || target_[0] != '/') {
    return fail(400, "ERR bad request target: only origin-form is accepted");
  }
  for (unsigned char c : target_) {
    if (c <= 0x20 || c >= 0x7f) return fail(400, "ERR bad request target");
  }
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return fail(400, "ERR bad HTTP version");
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    return fail(505, "ERR HTTP version not supported");
  }
  version_minor_ = static_cast<uint8_t>(version[7] - '0');
  return ParseStatus::NeedMore;
}

ParseStatus HttpRequestParser::parseHeaderLine(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    return fail(400, "ERR bad request: obsolete header line folding");
  }
  // The line lives in head_, which no longer changes: lower-case the name in place while
  // checking it is a token.
  char* name = head_.data() + (line.data() - head_.data());
  size_t colon = 0;
  while (colon < line.size() && isTchar(static_cast<unsigned char>(name[colon]))) {
    name[colon] = kChars.lower[static_cast<unsigned char>(name[colon])];
    ++colon;
  }
  if (colon == 0 || colon == line.size() || line[colon] != ':') {
    return fail(400, "ERR bad header line");
  }
  std::string_view value = ascii::trimOws(line.substr(colon + 1));
  if (!validFieldValue(value)) return fail(400, "ERR bad header value");
  if (headers_.size() >= limits_.max_header_count) return fail(431, "ERR too many header fields");
  headers_.push_back(HttpHeader{std::string_view(name, colon), value});
  return ParseStatus::NeedMore;
}

namespace {

// Header names that may appear on one line only: two would let different readers (keyward,
// the upstream, a logger) take different values. Sorted for binary search.
constexpr std::string_view kSingletons[] = {
    "authorization",    "content-length",          "content-type", "host", "origin",
    "upstash-encoding", "upstash-response-format",
};

bool isSingleton(std::string_view name) {
  return std::binary_search(std::begin(kSingletons), std::end(kSingletons), name);
}

}  // namespace

ParseStatus HttpRequestParser::finishHead() {
  bool seen_te = false, seen_cl = false;
  bool conn_close = false, conn_keep_alive = false;
  uint64_t cl = 0;
  for (size_t i = 0; i < headers_.size(); ++i) {
    const HttpHeader& h = headers_[i];
    // Cheap pre-filter: the names that matter here are 4 to 23 bytes long.
    const size_t n = h.name.size();
    if (n < 4 || n > 23) continue;
    if (isSingleton(h.name)) {
      for (size_t j = 0; j < i; ++j) {
        if (headers_[j].name == h.name) {
          return fail(400, "ERR bad request: duplicate " + std::string(h.name) + " header");
        }
      }
    }
    if (h.name == "content-length") {
      seen_cl = true;
      if (h.value.empty() || h.value.size() > 19) return fail(400, "ERR bad Content-Length");
      for (char c : h.value) {
        if (c < '0' || c > '9') return fail(400, "ERR bad Content-Length");
        cl = cl * 10 + static_cast<uint64_t>(c - '0');
      }
    } else if (h.name == "transfer-encoding") {
      if (seen_te) return fail(501, "ERR unsupported transfer coding");
      seen_te = true;
      if (!ascii::equalsIgnoreCase(h.value, "chunked")) {
        return fail(501, "ERR unsupported transfer coding");
      }
    } else if (h.name == "connection") {
      forEachListToken(h.value, [&](std::string_view tok) {
        if (ascii::equalsIgnoreCase(tok, "close")) conn_close = true;
        if (ascii::equalsIgnoreCase(tok, "keep-alive")) conn_keep_alive = true;
      });
    } else if (h.name == "expect") {
      forEachListToken(h.value, [&](std::string_view tok) {
        if (version_minor_ == 1 && ascii::equalsIgnoreCase(tok, "100-continue"))
          expect_continue_ = true;
      });
    }
  }
  if (seen_te && seen_cl) {
    return fail(400, "ERR bad request: both Content-Length and Transfer-Encoding");
  }
  if (seen_te && version_minor_ == 0) {
    return fail(400, "ERR bad request: Transfer-Encoding in HTTP/1.0");
  }
  keep_alive_ = version_minor_ == 1 ? !conn_close : (conn_keep_alive && !conn_close);
  head_done_ = true;
  if (seen_te) {
    chunked_ = true;
    phase_ = Phase::ChunkSize;
    return ParseStatus::HeadComplete;
  }
  if (seen_cl) {
    content_length_ = cl;
    if (cl > limits_.max_body_bytes) return fail(413, "ERR max request size exceeded");
  }
  if (cl == 0) {
    phase_ = Phase::Done;
    return ParseStatus::Complete;
  }
  body_.reserve(static_cast<size_t>(std::min<uint64_t>(cl, kInitialBodyReserve)));
  remaining_ = cl;
  phase_ = Phase::Body;
  return ParseStatus::HeadComplete;
}

ParseStatus HttpRequestParser::feedBody(const char* data, size_t len, size_t* consumed) {
  const size_t take = static_cast<size_t>(std::min<uint64_t>(len, remaining_));
  body_.append(data, take);
  remaining_ -= take;
  *consumed = take;
  if (remaining_ > 0) return ParseStatus::NeedMore;
  phase_ = Phase::Done;
  return ParseStatus::Complete;
}

// Accumulates one CRLF-terminated line into line_ (without the CRLF).
HttpRequestParser::LineResult HttpRequestParser::takeLine(const char* data, size_t len,
                                                          size_t* used, uint32_t max_line) {
  const void* hit = len == 0 ? nullptr : std::memchr(data, '\n', len);
  size_t n = hit ? static_cast<size_t>(static_cast<const char*>(hit) - data) + 1 : len;
  if (line_.size() + n > static_cast<size_t>(max_line) + 2) return LineResult::TooLong;
  line_.append(data, n);
  *used = n;
  if (!hit) return LineResult::Partial;
  if (line_.size() < 2 || line_[line_.size() - 2] != '\r' || line_.find('\r') != line_.size() - 2) {
    return LineResult::Bad;
  }
  line_.resize(line_.size() - 2);
  return LineResult::Done;
}

ParseStatus HttpRequestParser::feedChunked(const char* data, size_t len, size_t* consumed) {
  size_t off = 0;
  while (off < len) {
    const char* p = data + off;
    const size_t n = len - off;
    size_t used = 0;
    switch (phase_) {
      case Phase::ChunkSize: {
        LineResult r = takeLine(p, n, &used, limits_.max_chunk_line_bytes);
        if (r == LineResult::Bad || r == LineResult::TooLong) {
          return fail(400, "ERR bad chunked encoding");
        }
        off += used;
        *consumed = off;
        if (r == LineResult::Partial) break;
        uint64_t size = 0;
        size_t i = 0;
        for (; i < line_.size(); ++i) {
          char c = ascii::toLower(line_[i]);
          int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
          if (d < 0) break;
          if (size > (limits_.max_body_bytes >> 4)) {  // also guards uint64 overflow
            return fail(413, "ERR max request size exceeded");
          }
          size = (size << 4) | static_cast<uint64_t>(d);
        }
        std::string_view rest = std::string_view(line_).substr(i);
        while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t'))
          rest.remove_prefix(1);
        if (i == 0 || (!rest.empty() && rest.front() != ';')) {
          return fail(400, "ERR bad chunked encoding");
        }
        line_.clear();
        if (size > limits_.max_body_bytes - body_.size()) {
          return fail(413, "ERR max request size exceeded");
        }
        if (size == 0) {
          phase_ = Phase::Trailers;
        } else {
          remaining_ = size;
          phase_ = Phase::ChunkData;
        }
        break;
      }
      case Phase::ChunkData: {
        used = static_cast<size_t>(std::min<uint64_t>(n, remaining_));
        body_.append(p, used);
        remaining_ -= used;
        off += used;
        *consumed = off;
        if (remaining_ == 0) phase_ = Phase::ChunkDataEnd;
        break;
      }
      case Phase::ChunkDataEnd: {
        LineResult r = takeLine(p, n, &used, 0);
        if (r == LineResult::Bad || r == LineResult::TooLong) {
          return fail(400, "ERR bad chunked encoding");
        }
        off += used;
        *consumed = off;
        if (r == LineResult::Done) {
          if (!line_.empty()) return fail(400, "ERR bad chunked encoding");
          phase_ = Phase::ChunkSize;
        }
        break;
      }
      case Phase::Trailers: {
        uint32_t budget = limits_.max_trailer_bytes - trailer_bytes_;
        LineResult r = takeLine(p, n, &used, budget);
        if (r == LineResult::TooLong) return fail(431, "ERR request trailer fields too large");
        if (r == LineResult::Bad) return fail(400, "ERR bad chunked encoding");
        off += used;
        *consumed = off;
        if (r == LineResult::Partial) break;
        if (line_.empty()) {
          phase_ = Phase::Done;
          return ParseStatus::Complete;
        }
        if (!validFieldValue(line_)) return fail(400, "ERR bad trailer field");
        trailer_bytes_ += static_cast<uint32_t>(line_.size() + 2);
        if (trailer_bytes_ > limits_.max_trailer_bytes) {
          return fail(431, "ERR request trailer fields too large");
        }
        line_.clear();
        break;
      }
      case Phase::Head:
      case Phase::Body:
      case Phase::Done:
        return fail(400, "ERR bad request");
    }
  }
  return ParseStatus::NeedMore;
}

}  // namespace kw::proxy::codec
