// Tests for the incremental HTTP/1.1 request parser: framing, limits, smuggling, pipelining.
#include "proxy/codec/http_request_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kw::proxy::codec {
namespace {

// Feeds `input` in pieces of at most `step` bytes (0 = all at once), continuing after
// HeadComplete, until Complete/Error or the input is exhausted. Returns the final status and
// the number of bytes consumed in total.
struct Outcome {
  ParseStatus status;
  size_t consumed;
  bool saw_head_complete;
};

Outcome run(HttpRequestParser& p, std::string_view input, size_t step = 0) {
  size_t off = 0;
  bool saw_head = false;
  while (true) {
    size_t n = input.size() - off;
    if (step != 0 && n > step) n = step;
    size_t used = 0;
    ParseStatus st = p.feed(input.data() + off, n, &used);
    EXPECT_LE(used, n);
    off += used;
    if (st == ParseStatus::HeadComplete) {
      EXPECT_FALSE(saw_head) << "HeadComplete reported twice";
      saw_head = true;
      continue;
    }
    if (st == ParseStatus::Complete || st == ParseStatus::Error) return {st, off, saw_head};
    EXPECT_EQ(used, n) << "NeedMore must consume everything it was given";
    if (off >= input.size()) return {st, off, saw_head};
  }
}

Outcome runAll(HttpRequestParser& p, std::string_view input) { return run(p, input, 0); }

const std::string kSdkPipeline =
    "POST /pipeline HTTP/1.1\r\n"
    "host: 127.0.0.1:18080\r\n"
    "connection: keep-alive\r\n"
    "Content-Type: application/json\r\n"
    "authorization: Bearer secret-token\r\n"
    "Upstash-Encoding: base64\r\n"
    "Upstash-Telemetry-Runtime: node@v20.20.2\r\n"
    "Upstash-Telemetry-Platform: unknown\r\n"
    "Upstash-Telemetry-Sdk: @upstash/redis@v1.39.0\r\n"
    "upstash-sync-token: \r\n"
    "accept: */*\r\n"
    "accept-language: *\r\n"
    "sec-fetch-mode: cors\r\n"
    "user-agent: node\r\n"
    "pragma: no-cache\r\n"
    "cache-control: no-cache\r\n"
    "accept-encoding: gzip, deflate\r\n"
    "content-length: 34\r\n"
    "\r\n"
    "[[\"set\",\"k\",\"{\\\"a\\\":1}\",\"ex\",100]]";

ParseStatus parseOnce(std::string_view input, HttpParserLimits limits = {},
                      uint16_t* status = nullptr) {
  HttpRequestParser p(limits);
  Outcome o = runAll(p, input);
  if (status) *status = p.errorStatus();
  return o.status;
}

uint16_t errorOf(std::string_view input, HttpParserLimits limits = {}) {
  HttpRequestParser p(limits);
  Outcome o = runAll(p, input);
  EXPECT_EQ(o.status, ParseStatus::Error) << input.substr(0, 200);
  EXPECT_TRUE(p.errorMessage().starts_with("ERR ")) << p.errorMessage();
  return p.errorStatus();
}

TEST(HttpRequestParser, SimpleGet) {
  HttpRequestParser p;
  std::string req = "GET /get/foo?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
  size_t used = 0;
  EXPECT_EQ(p.feed(req, &used), ParseStatus::Complete);
  EXPECT_EQ(used, req.size());
  EXPECT_EQ(p.method(), HttpMethod::Get);
  EXPECT_EQ(p.methodToken(), "GET");
  EXPECT_EQ(p.target(), "/get/foo?x=1");
  EXPECT_EQ(p.path(), "/get/foo");
  EXPECT_EQ(p.query(), "x=1");
  EXPECT_EQ(p.versionMinor(), 1);
  EXPECT_TRUE(p.keepAlive());
  EXPECT_FALSE(p.expectContinue());
  EXPECT_FALSE(p.contentLength().has_value());
  EXPECT_EQ(p.body(), "");
  EXPECT_EQ(p.header("host"), "h");
}

TEST(HttpRequestParser, SdkPipelineRequest) {
  HttpRequestParser p;
  size_t used = 0;
  ASSERT_EQ(p.feed(kSdkPipeline, &used), ParseStatus::HeadComplete);
  size_t head_len = kSdkPipeline.find("\r\n\r\n") + 4;
  EXPECT_EQ(used, head_len);
  EXPECT_EQ(p.header("authorization"), "Bearer secret-token");
  EXPECT_EQ(p.header("upstash-encoding"), "base64");
  ASSERT_TRUE(p.header("upstash-sync-token").has_value());
  EXPECT_EQ(*p.header("upstash-sync-token"), "");
  EXPECT_EQ(p.header("accept-encoding"), "gzip, deflate");
  EXPECT_FALSE(p.header("Authorization").has_value()) << "lookups take lower-case names";
  EXPECT_EQ(p.contentLength(), 34u);
  EXPECT_EQ(p.headers().size(), 17u);
  size_t used2 = 0;
  ASSERT_EQ(p.feed(kSdkPipeline.data() + used, kSdkPipeline.size() - used, &used2),
            ParseStatus::Complete);
  EXPECT_EQ(used + used2, kSdkPipeline.size());
  EXPECT_EQ(p.body(), "[[\"set\",\"k\",\"{\\\"a\\\":1}\",\"ex\",100]]");
  EXPECT_EQ(p.method(), HttpMethod::Post);
  EXPECT_EQ(p.path(), "/pipeline");
  EXPECT_EQ(p.query(), "");
}

TEST(HttpRequestParser, EveryByteBoundaryGivesSameResult) {
  for (size_t step : {1u, 2u, 3u, 7u, 64u}) {
    HttpRequestParser p;
    Outcome o = run(p, kSdkPipeline, step);
    ASSERT_EQ(o.status, ParseStatus::Complete) << step;
    EXPECT_TRUE(o.saw_head_complete);
    EXPECT_EQ(o.consumed, kSdkPipeline.size());
    EXPECT_EQ(p.body().size(), 34u);
    EXPECT_EQ(p.header("user-agent"), "node");
  }
}

TEST(HttpRequestParser, SplitAtEveryPosition) {
  for (size_t cut = 0; cut <= kSdkPipeline.size(); ++cut) {
    HttpRequestParser p;
    size_t off = 0, used = 0;
    ParseStatus st = p.feed(kSdkPipeline.data(), cut, &used);
    off += used;
    while (st != ParseStatus::Complete && st != ParseStatus::Error) {
      st = p.feed(kSdkPipeline.data() + off, kSdkPipeline.size() - off, &used);
      off += used;
      if (st == ParseStatus::NeedMore && off == kSdkPipeline.size()) break;
    }
    ASSERT_EQ(st, ParseStatus::Complete) << cut;
    EXPECT_EQ(off, kSdkPipeline.size());
    EXPECT_EQ(p.body().size(), 34u);
  }
}

TEST(HttpRequestParser, HeaderNamesLowercasedValuesTrimmed) {
  HttpRequestParser p;
  ASSERT_EQ(runAll(p, "GET / HTTP/1.1\r\nX-MiXeD:  \t spaced value \t \r\nEmpty:\r\n\r\n").status,
            ParseStatus::Complete);
  ASSERT_EQ(p.headers().size(), 2u);
  EXPECT_EQ(p.headers()[0].name, "x-mixed");
  EXPECT_EQ(p.headers()[0].value, "spaced value");
  EXPECT_EQ(p.header("empty"), "");
  EXPECT_FALSE(p.header("absent").has_value());
}

TEST(HttpRequestParser, DuplicateHeaderLookupReturnsFirst) {
  HttpRequestParser p;
  ASSERT_EQ(runAll(p, "GET / HTTP/1.1\r\nA: 1\r\nB: x\r\na: 2\r\n\r\n").status,
            ParseStatus::Complete);
  EXPECT_EQ(p.header("a"), "1");
  ASSERT_EQ(p.headers().size(), 3u);
  EXPECT_EQ(p.headers()[2].value, "2");
}

TEST(HttpRequestParser, ObsTextInValueAllowed) {
  EXPECT_EQ(parseOnce("GET / HTTP/1.1\r\nX: caf\xc3\xa9 \xff\r\n\r\n"), ParseStatus::Complete);
}

TEST(HttpRequestParser, Methods) {
  struct Case {
    const char* token;
    HttpMethod m;
  };
  for (Case c : {Case{"GET", HttpMethod::Get}, Case{"HEAD", HttpMethod::Head},
                 Case{"POST", HttpMethod::Post}, Case{"PUT", HttpMethod::Put},
                 Case{"OPTIONS", HttpMethod::Options}, Case{"DELETE", HttpMethod::Other},
                 Case{"PATCH", HttpMethod::Other}, Case{"get", HttpMethod::Other},
                 Case{"CONNECT", HttpMethod::Other}}) {
    HttpRequestParser p;
    std::string req = std::string(c.token) + " /x HTTP/1.1\r\n\r\n";
    ASSERT_EQ(runAll(p, req).status, ParseStatus::Complete) << c.token;
    EXPECT_EQ(p.method(), c.m) << c.token;
    EXPECT_EQ(p.methodToken(), c.token);
  }
  EXPECT_EQ(methodName(HttpMethod::Put), "PUT");
  EXPECT_EQ(methodName(HttpMethod::Other), "OTHER");
}

TEST(HttpRequestParser, BadMethodToken) {
  EXPECT_EQ(errorOf("GE(T / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(errorOf(" GET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(errorOf(std::string(40, 'A') + " / HTTP/1.1\r\n\r\n"), 400);
}

TEST(HttpRequestParser, RequestLineShape) {
  EXPECT_EQ(errorOf("GET http://x/ HTTP/1.1\r\n\r\n"), 400);  // absolute-form
  EXPECT_EQ(errorOf("OPTIONS * HTTP/1.1\r\n\r\n"), 400);      // asterisk-form
  EXPECT_EQ(errorOf("GET /a b HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET  /a HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET /a\r\n\r\n"), 400);  // HTTP/0.9
  EXPECT_EQ(errorOf("GET /a\x01 HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(errorOf(std::string("GET /a\0b HTTP/1.1\r\n\r\n", 22)), 400);
  EXPECT_EQ(errorOf("GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET /a HTTP/1.1 \r\n\r\n"), 400);
}

TEST(HttpRequestParser, Versions) {
  EXPECT_EQ(errorOf("GET / HTTP/2.0\r\n\r\n"), 505);
  EXPECT_EQ(errorOf("GET / HTTP/1.2\r\n\r\n"), 505);
  EXPECT_EQ(errorOf("GET / HTTP/0.9\r\n\r\n"), 505);
  EXPECT_EQ(errorOf("GET / HTTP/1\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / http/1.1\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.10\r\n\r\n"), 400);
  HttpRequestParser p;
  ASSERT_EQ(runAll(p, "GET / HTTP/1.0\r\n\r\n").status, ParseStatus::Complete);
  EXPECT_EQ(p.versionMinor(), 0);
}

TEST(HttpRequestParser, TargetTooLong) {
  HttpParserLimits lim;
  lim.max_target_bytes = 100;
  EXPECT_EQ(errorOf("GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n", lim), 414);
  EXPECT_EQ(parseOnce("GET /" + std::string(99, 'a') + " HTTP/1.1\r\n\r\n", lim),
            ParseStatus::Complete);
  // Detected before the line ends (no CRLF yet): no need to buffer 16 KiB.
  HttpRequestParser p(lim);
  std::string partial = "GET /" + std::string(200, 'a');
  size_t used = 0;
  EXPECT_EQ(p.feed(partial, &used), ParseStatus::Error);
  EXPECT_EQ(p.errorStatus(), 414);
  // Default limit is 8 KiB.
  EXPECT_EQ(errorOf("GET /" + std::string(8192, 'a') + " HTTP/1.1\r\n\r\n"), 414);
}

TEST(HttpRequestParser, HeaderBytesLimit) {
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(17000, 'v') + "\r\n\r\n";
  EXPECT_EQ(errorOf(big), 431);
  HttpParserLimits lim;
  lim.max_header_bytes = 64;
  EXPECT_EQ(
      errorOf("GET / HTTP/1.1\r\nX-Long-Header: 0123456789012345678901234567890\r\n\r\n", lim),
      431);
  // Never buffers more than the limit even when offered more.
  HttpRequestParser p(lim);
  std::string flood(10000, 'a');
  flood.insert(0, "GET / HTTP/1.1\r\nX: ");
  size_t used = 0;
  EXPECT_EQ(p.feed(flood, &used), ParseStatus::Error);
  EXPECT_LE(used, 64u);
}

TEST(HttpRequestParser, HeaderCountLimit) {
  std::string req = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 100; ++i) req += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(parseOnce(req + "\r\n"), ParseStatus::Complete);
  EXPECT_EQ(errorOf(req + "One-More: v\r\n\r\n"), 431);
  std::string flood = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 2000; ++i) flood += "a:\r\n";
  EXPECT_EQ(errorOf(flood + "\r\n"), 431);
}

TEST(HttpRequestParser, ObsFoldRejected) {
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nX: a\r\n\tfolded\r\n\r\n"), 400);
}

TEST(HttpRequestParser, BadHeaderLines) {
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400);  // space before colon
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\n: empty-name\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nBad(Name): x\r\n\r\n"), 400);
  EXPECT_EQ(errorOf(std::string("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 27)), 400);  // NUL
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), 400);                   // bare CR
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n"), 400);                  // DEL
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n"), 400);
}

TEST(HttpRequestParser, BareLfRejected) {
  EXPECT_EQ(errorOf("GET / HTTP/1.1\nHost: x\n\n"), 400);
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: x\n\r\n"), 400);
  EXPECT_EQ(errorOf("\nGET / HTTP/1.1\r\n\r\n"), 400);
}

TEST(HttpRequestParser, LeadingEmptyLinesSkipped) {
  HttpRequestParser p;
  std::string req = "\r\n\r\nGET /x HTTP/1.1\r\n\r\n";
  Outcome o = run(p, req, 1);
  ASSERT_EQ(o.status, ParseStatus::Complete);
  EXPECT_EQ(o.consumed, req.size());
  EXPECT_EQ(p.target(), "/x");
  EXPECT_EQ(errorOf("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n"), 400);
}

TEST(HttpRequestParser, KeepAliveSemantics) {
  struct Case {
    const char* req;
    bool keep;
  };
  for (Case c : {Case{"GET / HTTP/1.1\r\n\r\n", true},
                 Case{"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
                 Case{"GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n", false},
                 Case{"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true},
                 Case{"GET / HTTP/1.0\r\n\r\n", false},
                 Case{"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
                 Case{"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
                 Case{"GET / HTTP/1.1\r\nConnection: x\r\nConnection: close\r\n\r\n", false}}) {
    HttpRequestParser p;
    ASSERT_EQ(runAll(p, c.req).status, ParseStatus::Complete) << c.req;
    EXPECT_EQ(p.keepAlive(), c.keep) << c.req;
  }
}

TEST(HttpRequestParser, ExpectContinue) {
  HttpRequestParser p;
  size_t used = 0;
  std::string head = "POST /set/k HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
  ASSERT_EQ(p.feed(head, &used), ParseStatus::HeadComplete);
  EXPECT_TRUE(p.expectContinue());
  EXPECT_EQ(p.feed("abc", 3, &used), ParseStatus::Complete);
  EXPECT_EQ(p.body(), "abc");
  HttpRequestParser p10;
  ASSERT_EQ(runAll(p10, "GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").status,
            ParseStatus::Complete);
  EXPECT_FALSE(p10.expectContinue());
}

TEST(HttpRequestParser, NoBodyGoesStraightToComplete) {
  HttpRequestParser p;
  size_t used = 0;
  EXPECT_EQ(p.feed("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 38, &used),
            ParseStatus::Complete);
  EXPECT_EQ(p.contentLength(), 0u);
  EXPECT_TRUE(p.headComplete());
}

TEST(HttpRequestParser, ContentLengthValidation) {
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"), 400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n"), 400);
  HttpRequestParser p;
  ASSERT_EQ(runAll(p, "POST / HTTP/1.1\r\nContent-Length: 003\r\n\r\nabc").status,
            ParseStatus::Complete);
  EXPECT_EQ(p.body(), "abc");
}

TEST(HttpRequestParser, BodyLimit) {
  HttpParserLimits lim;
  lim.max_body_bytes = 10;
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", lim), 413);
  EXPECT_EQ(parseOnce("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", lim),
            ParseStatus::Complete);
  // Default 10 MiB: announced larger bodies are refused from the head alone.
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nContent-Length: 10485761\r\n\r\n"), 413);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nContent-Length: 9999999999999999999\r\n\r\n"), 413);
}

TEST(HttpRequestParser, SmugglingClAndTe) {
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "0\r\n\r\n"),
            400);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
                    "0\r\n\r\n"),
            400);
}

TEST(HttpRequestParser, TransferEncodingVariants) {
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 501);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n"), 501);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"),
            501);
  EXPECT_EQ(errorOf("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n"), 501);
  EXPECT_EQ(errorOf("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 400);
  EXPECT_EQ(parseOnce("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n"),
            ParseStatus::Complete);
}

const std::string kChunked =
    "POST /set/k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n"
    "6;ext=1;other=\"q\"\r\n world\r\n"
    "A\r\n0123456789\r\n"
    "0\r\n"
    "X-Trailer: t\r\n"
    "\r\n";

TEST(HttpRequestParser, ChunkedBody) {
  HttpRequestParser p;
  Outcome o = runAll(p, kChunked);
  ASSERT_EQ(o.status, ParseStatus::Complete);
  EXPECT_TRUE(o.saw_head_complete);
  EXPECT_TRUE(p.chunked());
  EXPECT_EQ(o.consumed, kChunked.size());
  EXPECT_EQ(p.body(), "hello world0123456789");
  EXPECT_FALSE(p.header("x-trailer").has_value()) << "trailers are discarded";
}

TEST(HttpRequestParser, ChunkedSplitAtEveryByteBoundary) {
  for (size_t cut = 0; cut <= kChunked.size(); ++cut) {
    HttpRequestParser p;
    size_t used = 0, off = 0;
    ParseStatus st = p.feed(kChunked.data(), cut, &used);
    off += used;
    for (int guard = 0; guard < 8 && st != ParseStatus::Complete && st != ParseStatus::Error;
         ++guard) {
      st = p.feed(kChunked.data() + off, kChunked.size() - off, &used);
      off += used;
    }
    ASSERT_EQ(st, ParseStatus::Complete) << cut;
    EXPECT_EQ(off, kChunked.size());
    EXPECT_EQ(p.body(), "hello world0123456789") << cut;
  }
  for (size_t step = 1; step < 8; ++step) {
    HttpRequestParser p;
    Outcome o = run(p, kChunked, step);
    ASSERT_EQ(o.status, ParseStatus::Complete) << step;
    EXPECT_EQ(p.body(), "hello world0123456789");
  }
}

TEST(HttpRequestParser, ChunkedErrors) {
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(errorOf(head + "zz\r\n"), 400);            // not hex
  EXPECT_EQ(errorOf(head + "\r\n"), 400);              // empty size line
  EXPECT_EQ(errorOf(head + "5 x\r\nhello\r\n"), 400);  // junk after size
  EXPECT_EQ(errorOf(head + "-5\r\n"), 400);
  EXPECT_EQ(errorOf(head + "5\nhello\r\n"), 400);           // bare LF
  EXPECT_EQ(errorOf(head + "5\r\nhelloXX0\r\n\r\n"), 400);  // data longer than size
  EXPECT_EQ(errorOf(head + "5\r\nhello\n0\r\n\r\n"), 400);
  EXPECT_EQ(errorOf(head + "5;" + std::string(2000, 'e') + "\r\n"), 400);  // extension flood
  EXPECT_EQ(errorOf(head + "0\r\nbad\x01trailer\r\n\r\n"), 400);
}

TEST(HttpRequestParser, ChunkSizeOverflowAndLimit) {
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_EQ(errorOf(head + "ffffffffffffffffffffffff\r\n"), 413);
  EXPECT_EQ(errorOf(head + "10000000000000001\r\n"), 413);
  HttpParserLimits lim;
  lim.max_body_bytes = 8;
  EXPECT_EQ(errorOf(head + "9\r\n", lim), 413);
  EXPECT_EQ(errorOf(head + "5\r\nhello\r\n4\r\n", lim), 413);
  EXPECT_EQ(parseOnce(head + "5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n", lim), ParseStatus::Complete);
  // Leading zeros do not count as overflow.
  EXPECT_EQ(parseOnce(head + "00000000000000000000005\r\nhello\r\n0\r\n\r\n"),
            ParseStatus::Complete);
}

TEST(HttpRequestParser, TrailerLimit) {
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  std::string trailers;
  for (int i = 0; i < 1000; ++i) trailers += "X-T: 0123456789\r\n";
  EXPECT_EQ(errorOf(head + trailers + "\r\n"), 431);
}

TEST(HttpRequestParser, PipelinedRequests) {
  std::string two = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n";
  HttpRequestParser p;
  Outcome o = runAll(p, two);
  ASSERT_EQ(o.status, ParseStatus::Complete);
  EXPECT_EQ(p.body(), "abc");
  EXPECT_EQ(o.consumed, two.find("GET"));
  // Complete is sticky: nothing more is consumed until reset().
  size_t used = 7;
  EXPECT_EQ(p.feed(two.data() + o.consumed, two.size() - o.consumed, &used), ParseStatus::Complete);
  EXPECT_EQ(used, 0u);
  p.reset();
  Outcome o2 = runAll(p, std::string_view(two).substr(o.consumed));
  ASSERT_EQ(o2.status, ParseStatus::Complete);
  EXPECT_EQ(p.target(), "/b");
  EXPECT_EQ(p.body(), "");
  EXPECT_EQ(o.consumed + o2.consumed, two.size());
}

TEST(HttpRequestParser, PipelinedAfterChunked) {
  std::string two = kChunked + "GET /next HTTP/1.1\r\n\r\n";
  HttpRequestParser p;
  Outcome o = runAll(p, two);
  ASSERT_EQ(o.status, ParseStatus::Complete);
  EXPECT_EQ(o.consumed, kChunked.size());
  p.reset();
  ASSERT_EQ(runAll(p, std::string_view(two).substr(o.consumed)).status, ParseStatus::Complete);
  EXPECT_EQ(p.target(), "/next");
  EXPECT_FALSE(p.chunked());
}

TEST(HttpRequestParser, ManyPipelinedRequestsByteByByte) {
  std::string stream;
  for (int i = 0; i < 20; ++i) {
    stream += "POST /pipeline HTTP/1.1\r\nContent-Length: 2\r\n\r\n[]";
  }
  HttpRequestParser p;
  size_t off = 0;
  int done = 0;
  while (off < stream.size()) {
    size_t used = 0;
    ParseStatus st = p.feed(stream.data() + off, 1, &used);
    off += used;
    ASSERT_NE(st, ParseStatus::Error);
    if (st == ParseStatus::Complete) {
      EXPECT_EQ(p.body(), "[]");
      ++done;
      p.reset();
    }
  }
  EXPECT_EQ(done, 20);
}

TEST(HttpRequestParser, ErrorIsSticky) {
  HttpRequestParser p;
  size_t used = 0;
  EXPECT_EQ(p.feed("BAD\r\n\r\n", 7, &used), ParseStatus::Error);
  EXPECT_EQ(p.feed("GET / HTTP/1.1\r\n\r\n", 18, &used), ParseStatus::Error);
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(p.status(), ParseStatus::Error);
  p.reset();
  EXPECT_EQ(p.feed("GET / HTTP/1.1\r\n\r\n", 18, &used), ParseStatus::Complete);
  EXPECT_EQ(p.errorStatus(), 0);
}

TEST(HttpRequestParser, EmptyFeed) {
  HttpRequestParser p;
  size_t used = 9;
  EXPECT_EQ(p.feed(nullptr, 0, &used), ParseStatus::NeedMore);
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(p.feed("", 0, &used), ParseStatus::NeedMore);
}

TEST(HttpRequestParser, DuplicateAuthorizationRejected) {
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nauthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n"),
            400);
}

TEST(HttpRequestParser, EverySingletonHeaderRefusedWhenRepeated) {
  for (std::string_view name : {"Authorization", "Origin", "Host", "Content-Length", "Content-Type",
                                "Upstash-Encoding", "Upstash-Response-Format"}) {
    std::string req = "GET / HTTP/1.1\r\n" + std::string(name) + ": 1\r\nX: y\r\n" +
                      std::string(name) + ": 1\r\n\r\n";
    HttpRequestParser p;
    EXPECT_EQ(runAll(p, req).status, ParseStatus::Error) << name;
    EXPECT_EQ(p.errorStatus(), 400) << name;
    EXPECT_NE(p.errorMessage().find("duplicate"), std::string_view::npos) << name;
  }
  // Once each is fine.
  EXPECT_EQ(parseOnce("GET / HTTP/1.1\r\nOrigin: https://a\r\nUpstash-Encoding: base64\r\n"
                      "Upstash-Sync-Token: 1\r\n\r\n"),
            ParseStatus::Complete);
}

TEST(HttpRequestParser, ListHeadersJoinAcrossLines) {
  HttpRequestParser p;
  ASSERT_EQ(runAll(p,
                   "GET / HTTP/1.1\r\nX-Forwarded-For: 10.1.2.3\r\nA: b\r\n"
                   "x-forwarded-for: 203.0.113.9 , 127.0.0.1,\r\nX-Forwarded-For:\r\n\r\n")
                .status,
            ParseStatus::Complete);
  std::vector<std::string_view> hops = p.headerList("x-forwarded-for");
  ASSERT_EQ(hops.size(), 3u);
  EXPECT_EQ(hops[0], "10.1.2.3");
  EXPECT_EQ(hops[1], "203.0.113.9");
  EXPECT_EQ(hops[2], "127.0.0.1");
  EXPECT_EQ(p.headerCount("x-forwarded-for"), 3u);
  EXPECT_EQ(p.headerCount("absent"), 0u);
  EXPECT_TRUE(p.headerList("absent").empty());
}

TEST(HttpRequestParser, ExpectAndConnectionReadAcrossLines) {
  HttpRequestParser p;
  size_t used = 0;
  std::string head =
      "POST / HTTP/1.1\r\nExpect: foo\r\nExpect: 100-continue\r\nConnection: x\r\n"
      "Connection: close\r\nContent-Length: 1\r\n\r\n";
  ASSERT_EQ(p.feed(head, &used), ParseStatus::HeadComplete);
  EXPECT_TRUE(p.expectContinue());
  EXPECT_FALSE(p.keepAlive());
}

TEST(HttpRequestParser, DuplicateHostRejectedMissingHostAccepted) {
  EXPECT_EQ(errorOf("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  EXPECT_EQ(parseOnce("GET / HTTP/1.1\r\n\r\n"), ParseStatus::Complete);
}

TEST(HttpRequestParser, TakeBodyAndResetKeepsWorking) {
  HttpRequestParser p;
  ASSERT_EQ(runAll(p, "PUT /set/k HTTP/1.1\r\nContent-Length: 5\r\n\r\nvalue").status,
            ParseStatus::Complete);
  EXPECT_EQ(p.method(), HttpMethod::Put);
  std::string b = p.takeBody();
  EXPECT_EQ(b, "value");
  p.reset();
  ASSERT_EQ(runAll(p, "HEAD /get/k HTTP/1.1\r\n\r\n").status, ParseStatus::Complete);
  EXPECT_EQ(p.method(), HttpMethod::Head);
  EXPECT_EQ(p.headers().size(), 0u);
}

TEST(HttpRequestParser, LargeBodyInPieces) {
  std::string body(3 * 1024 * 1024, 'x');
  body[12345] = 'y';
  std::string req =
      "POST /set/k HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  HttpRequestParser p;
  Outcome o = run(p, req, 16384);
  ASSERT_EQ(o.status, ParseStatus::Complete);
  EXPECT_EQ(p.body(), body);
}

TEST(HttpRequestParser, ViewsStableAfterBodyArrives) {
  HttpRequestParser p;
  size_t used = 0;
  std::string head = "POST /set/k HTTP/1.1\r\nX-Key: kept\r\nContent-Length: 70000\r\n\r\n";
  ASSERT_EQ(p.feed(head, &used), ParseStatus::HeadComplete);
  std::string_view v = *p.header("x-key");
  std::string_view t = p.target();
  std::string body(70000, 'b');
  ASSERT_EQ(p.feed(body, &used), ParseStatus::Complete);
  EXPECT_EQ(v, "kept");
  EXPECT_EQ(t, "/set/k");
}

TEST(HttpRequestParser, LeadingEmptyLinesWithFullBufferConsumeEverything) {
  // Regression (fuzzer): dropping leading CRLFs from a full head buffer must not stop the
  // parser from taking the rest of what it was offered.
  HttpParserLimits lim;
  lim.max_header_bytes = 64;
  HttpRequestParser p(lim);
  std::string req = "\r\nGET /x HTTP/1.1\r\nA: " + std::string(50, 'a') + "\r\n\r\n";
  size_t used = 0;
  ParseStatus st = p.feed(req, &used);
  EXPECT_TRUE(st == ParseStatus::Error || used == req.size());
  EXPECT_EQ(st, ParseStatus::Error);
  EXPECT_EQ(p.errorStatus(), 431);
  HttpRequestParser q(lim);
  std::string ok = "\r\n\r\n\r\n\r\nGET /x HTTP/1.1\r\nA: " + std::string(36, 'a') + "\r\n\r\n";
  ASSERT_LE(ok.size() - 8, 64u);
  ASSERT_GT(ok.size(), 64u);
  EXPECT_EQ(q.feed(ok, &used), ParseStatus::Complete);
  EXPECT_EQ(used, ok.size());
}

}  // namespace
}  // namespace kw::proxy::codec
