// HttpResponseParser: framing (length, chunked, close-delimited), bounds, strictness, splits.
#include "proxy/codec/http_response_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace kw::proxy::codec {
namespace {

using Status = HttpResponseParser::Status;

struct Parsed {
  Status status = Status::NeedMore;
  std::string body;
  size_t consumed = 0;
};

// Feeds `in` in pieces of `step` bytes (0 = all at once), stopping at Complete or Error.
Parsed parse(HttpResponseParser& p, std::string_view in, size_t step = 0) {
  Parsed out;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t n = step == 0 ? in.size() - pos : std::min(step, in.size() - pos);
    size_t used = 0;
    out.status = p.feed(in.data() + pos, n, &used, out.body);
    pos += used;
    out.consumed = pos;
    if (out.status != Status::NeedMore) break;
    if (used == 0) break;
  }
  return out;
}

TEST(HttpResponseParser, ContentLengthBodyAnySplit) {
  const std::string msg =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n"
      "Upstash-Sync-Token: 42\r\n\r\n{\"result\":\"OK\"}";
  for (size_t step : {0, 1, 2, 7, 64}) {
    HttpResponseParser p;
    Parsed r = parse(p, msg, step);
    ASSERT_EQ(r.status, Status::Complete) << step;
    EXPECT_EQ(r.body, "{\"result\":\"OK\"}");
    EXPECT_EQ(r.consumed, msg.size());
    EXPECT_EQ(p.status(), 200);
    EXPECT_EQ(p.header("content-type"), "application/json");
    EXPECT_EQ(p.header("upstash-sync-token"), "42");
    EXPECT_EQ(p.contentLength(), 15u);
    EXPECT_TRUE(p.keepAlive());
  }
}

TEST(HttpResponseParser, StopsAtTheEndOfTheResponse) {
  HttpResponseParser p;
  std::string msg = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabEXTRA";
  Parsed r = parse(p, msg);
  EXPECT_EQ(r.status, Status::Complete);
  EXPECT_EQ(r.body, "ab");
  EXPECT_EQ(r.consumed, msg.size() - 5);
}

TEST(HttpResponseParser, ChunkedWithExtensionsAndTrailers) {
  const std::string msg =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n";
  for (size_t step : {0, 1, 3}) {
    HttpResponseParser p;
    Parsed r = parse(p, msg, step);
    ASSERT_EQ(r.status, Status::Complete) << step;
    EXPECT_EQ(r.body, "hello world");
    EXPECT_FALSE(p.contentLength().has_value());
  }
}

TEST(HttpResponseParser, CloseDelimitedEndsAtEof) {
  HttpResponseParser p;
  Parsed r = parse(p, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n");
  EXPECT_EQ(r.status, Status::NeedMore);
  EXPECT_TRUE(p.headComplete());
  EXPECT_TRUE(p.closeDelimited());
  EXPECT_FALSE(p.keepAlive());
  EXPECT_EQ(r.body, "data: x\n\n");
  EXPECT_EQ(p.finishAtEof(), Status::Complete);
}

TEST(HttpResponseParser, EofInsideALengthBodyIsAnError) {
  HttpResponseParser p;
  Parsed r = parse(p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(r.status, Status::NeedMore);
  EXPECT_EQ(p.finishAtEof(), Status::Error);
}

TEST(HttpResponseParser, NoBodyStatuses) {
  HttpResponseParser p;
  EXPECT_EQ(parse(p, "HTTP/1.1 204 No Content\r\n\r\n").status, Status::Complete);
  p.reset();
  EXPECT_EQ(parse(p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").status, Status::Complete);
}

TEST(HttpResponseParser, ConnectionCloseAndHttp10) {
  HttpResponseParser p;
  (void)parse(p, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(p.keepAlive());
  p.reset();
  (void)parse(p, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(p.keepAlive());
  p.reset();
  (void)parse(p, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
  EXPECT_TRUE(p.keepAlive());
}

TEST(HttpResponseParser, RefusesMalformedOrAmbiguousHeads) {
  const char* bad[] = {
      "HTTP/2 200 OK\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 abc OK\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Header: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
      "HTTP/1.1 200 OK\r\n folded\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n",
  };
  for (const char* msg : bad) {
    HttpResponseParser p;
    EXPECT_EQ(parse(p, msg).status, Status::Error) << msg;
    EXPECT_FALSE(p.error().empty());
    EXPECT_FALSE(p.keepAlive());
  }
}

TEST(HttpResponseParser, RefusesMalformedChunks) {
  const char* bad[] = {
      "zz\r\n", "\r\n", "5\r\nhelloX\r\n", "5\nhello\r\n", "fffffffffffffffff\r\n",
  };
  for (const char* chunks : bad) {
    HttpResponseParser p;
    std::string msg = std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") + chunks;
    EXPECT_EQ(parse(p, msg).status, Status::Error) << chunks;
  }
}

TEST(HttpResponseParser, Bounds) {
  HttpResponseLimits small;
  small.max_head_bytes = 64;
  small.max_header_count = 2;
  small.max_body_bytes = 4;
  {
    HttpResponseParser p(small);
    std::string msg = "HTTP/1.1 200 OK\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n";
    EXPECT_EQ(parse(p, msg).status, Status::Error);
  }
  {
    HttpResponseParser p(small);
    EXPECT_EQ(parse(p, "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n").status, Status::Error);
  }
  {
    HttpResponseParser p(small);
    EXPECT_FALSE(p.overLimit());
    EXPECT_EQ(parse(p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").status, Status::Error);
    EXPECT_TRUE(p.overLimit()) << "the body limit, not a malformed response";
    p.reset();
    EXPECT_FALSE(p.overLimit());
  }
  {
    HttpResponseParser p(small);
    EXPECT_EQ(parse(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef")
                  .status,
              Status::Error);
    EXPECT_TRUE(p.overLimit());
  }
  {
    HttpResponseParser p(small);
    EXPECT_EQ(parse(p, "HTTP/1.1 200 OK\r\n\r\n12345").status, Status::Error);
    EXPECT_TRUE(p.overLimit());
  }
  {
    HttpResponseParser p(small);  // malformed, within the limits
    EXPECT_EQ(parse(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").status,
              Status::Error);
    EXPECT_FALSE(p.overLimit());
  }
}

TEST(HttpResponseParser, HeadersListedInOrderWithLowerCaseNames) {
  HttpResponseParser p;
  (void)parse(p, "HTTP/1.1 400 Bad Request\r\nX-A:  one \r\nx-b:two\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(p.status(), 400);
  auto h = p.headers();
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].first, "x-a");
  EXPECT_EQ(h[0].second, "one");
  EXPECT_EQ(h[1].first, "x-b");
  EXPECT_EQ(p.header("missing"), std::nullopt);
}

}  // namespace
}  // namespace kw::proxy::codec
