// RespParser: framing in any split, the values it records and the trees built from them,
// limits, discarding a skipped reply; parseReply (types, protocol errors); a stream read
// through it (tests/support/resp_stream.h).
#include "proxy/codec/resp_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "proxy/codec/resp_writer.h"
#include "tests/support/resp_stream.h"

namespace kw::proxy::codec {
namespace {

RespValue parsed(std::string_view raw, const RespLimits& lim = {}) {
  auto r = parseReply(raw, lim);
  EXPECT_TRUE(r.has_value()) << testing::PrintToString(std::string(raw.substr(0, 100))) << ": "
                             << (r ? "" : r.error().message);
  return r ? std::move(r).value() : RespValue{};
}

ErrorCode parseFails(std::string_view raw, const RespLimits& lim = {}) {
  auto r = parseReply(raw, lim);
  EXPECT_FALSE(r.has_value()) << testing::PrintToString(std::string(raw.substr(0, 100)));
  if (r) return ErrorCode::Internal;
  EXPECT_TRUE(r.error().message.starts_with("protocol error: ")) << r.error().message;
  return r.error().code;
}

// Feeds `stream` in pieces of the given sizes and collects every reply's raw bytes.
std::vector<std::string> readAll(std::string_view stream, size_t chunk,
                                 const RespLimits& lim = {}) {
  RespReader reader(lim);
  std::vector<std::string> raws;
  for (size_t at = 0; at < stream.size(); at += chunk) {
    reader.feed(stream.substr(at, chunk));
    RespReply reply;
    for (;;) {
      const auto s = reader.next(reply);
      if (s == RespReader::Status::NeedMore) break;
      EXPECT_EQ(s, RespReader::Status::Reply) << reader.error();
      if (s != RespReader::Status::Reply) return raws;
      raws.emplace_back(reply.raw());
      auto again = parseReply(reply.raw());
      EXPECT_TRUE(again && *again == reply.value());
    }
  }
  EXPECT_EQ(reader.buffered(), 0u);
  return raws;
}

TEST(RespParser, ScalarTypes) {
  RespValue v = parsed("+OK\r\n");
  EXPECT_EQ(v.type, RespType::Status);
  EXPECT_EQ(v.str, "OK");
  v = parsed("-ERR unknown command 'x'\r\n");
  EXPECT_EQ(v.type, RespType::Error);
  EXPECT_EQ(v.str, "ERR unknown command 'x'");
  v = parsed(":42\r\n");
  EXPECT_EQ(v.type, RespType::Integer);
  EXPECT_EQ(v.integer, 42);
  v = parsed(":-7\r\n");
  EXPECT_EQ(v.integer, -7);
  v = parsed("+\r\n");
  EXPECT_EQ(v.type, RespType::Status);
  EXPECT_EQ(v.str, "");
}

TEST(RespParser, IntegerExtremes) {
  EXPECT_EQ(parsed(":9223372036854775807\r\n").integer, INT64_MAX);
  EXPECT_EQ(parsed(":-9223372036854775808\r\n").integer, INT64_MIN);
  EXPECT_EQ(parsed(":0\r\n").integer, 0);
  EXPECT_EQ(parseFails(":9223372036854775808\r\n"), ErrorCode::InvalidArgument);
  EXPECT_EQ(parseFails(":-9223372036854775809\r\n"), ErrorCode::InvalidArgument);
  parseFails(":\r\n");
  parseFails(":-\r\n");
  parseFails(":+1\r\n");
  parseFails(": 1\r\n");
  parseFails(":1.5\r\n");
  parseFails(":12a\r\n");
  // Only the canonical form Redis writes (hiredis's string2ll agrees).
  parseFails(":007\r\n");
  parseFails(":-0\r\n");
  parseFails(":-012\r\n");
  parseFails("$03\r\nfoo\r\n");
  parseFails("*01\r\n:1\r\n");
  parseFails("$-01\r\n");
}

TEST(RespParser, BulkStrings) {
  RespValue v = parsed("$3\r\nfoo\r\n");
  EXPECT_EQ(v.type, RespType::Bulk);
  EXPECT_EQ(v.str, "foo");
  v = parsed("$0\r\n\r\n");
  EXPECT_EQ(v.type, RespType::Bulk);
  EXPECT_EQ(v.str, "");
  v = parsed("$-1\r\n");
  EXPECT_EQ(v.type, RespType::Null);
  EXPECT_TRUE(v.isNil());
  const std::string binary(
      "$6\r\na\r\n\0\xff"
      "b\r\n",
      12);
  v = parsed(binary);
  EXPECT_EQ(v.str, std::string_view("a\r\n\0\xff"
                                    "b",
                                    6));
}

TEST(RespParser, ViewsPointIntoInput) {
  const std::string raw = "*2\r\n$3\r\nfoo\r\n+OK\r\n";
  RespValue v = parsed(raw);
  ASSERT_EQ(v.elements.size(), 2u);
  EXPECT_EQ(v.elements[0].str.data(), raw.data() + 8);
  EXPECT_EQ(v.elements[1].str.data(), raw.data() + 14);
}

TEST(RespParser, Arrays) {
  RespValue v = parsed("*0\r\n");
  EXPECT_EQ(v.type, RespType::Array);
  EXPECT_TRUE(v.elements.empty());
  v = parsed("*-1\r\n");
  EXPECT_EQ(v.type, RespType::NullArray);
  v = parsed("*5\r\n$3\r\nfoo\r\n$-1\r\n:5\r\n*2\r\n$3\r\nbar\r\n*2\r\n$3\r\nbaz\r\n:7\r\n+OK\r\n");
  ASSERT_EQ(v.elements.size(), 5u);
  EXPECT_EQ(v.elements[0].str, "foo");
  EXPECT_EQ(v.elements[1].type, RespType::Null);
  EXPECT_EQ(v.elements[2].integer, 5);
  ASSERT_EQ(v.elements[3].elements.size(), 2u);
  EXPECT_EQ(v.elements[3].elements[1].elements[0].str, "baz");
  EXPECT_EQ(v.elements[4].type, RespType::Status);
  v = parsed("*2\r\n-ERR a\r\n*-1\r\n");
  EXPECT_EQ(v.elements[0].type, RespType::Error);
  EXPECT_EQ(v.elements[1].type, RespType::NullArray);
}

TEST(RespParser, ProtocolErrors) {
  parseFails("");
  parseFails("?OK\r\n");
  parseFails("OK\r\n");
  parseFails("+OK\n");
  parseFails("+OK\rX\n");
  parseFails("+O\nK\r\n");
  parseFails("+OK\r");
  parseFails("+OK");
  parseFails("$abc\r\n");
  parseFails("$-2\r\n");
  parseFails("$+3\r\nfoo\r\n");
  parseFails("$ 3\r\nfoo\r\n");
  parseFails("$\r\n");
  parseFails("$3\r\nfooXY");
  parseFails("$3\r\nfoo");
  parseFails("$3\r\nfo");
  parseFails("*-2\r\n");
  parseFails("*2\r\n:1\r\n");
  parseFails("*x\r\n");
  parseFails("+OK\r\n+OK\r\n");  // trailing bytes
  parseFails(std::string("\0", 1));
}

TEST(RespParser, HugeDeclaredLengthsFailFast) {
  EXPECT_EQ(parseFails("$99999999999999999999999\r\n"), ErrorCode::InvalidArgument);
  // No int64 holds it: malformed rather than large.
  EXPECT_EQ(parseFails("$18446744073709551615\r\n"), ErrorCode::InvalidArgument);
  EXPECT_EQ(parseFails("$536870913\r\n"), ErrorCode::TooLarge);  // 512 MiB + 1
  EXPECT_EQ(parseFails("*18446744073709551615\r\n"), ErrorCode::InvalidArgument);
  EXPECT_EQ(parseFails("*16777217\r\n"), ErrorCode::TooLarge);
  // Within the limits but absent: an incomplete reply, and no giant reservation happens.
  EXPECT_EQ(parseFails("*16000000\r\n"), ErrorCode::InvalidArgument);
  EXPECT_EQ(parseFails("$536870000\r\n"), ErrorCode::InvalidArgument);
  EXPECT_EQ(parseFails("$536870912\r\n"), ErrorCode::TooLarge);  // header + CRLF pass 512 MiB

  RespReader reader;
  reader.feed("$536870913\r\n");
  RespReply r;
  EXPECT_EQ(reader.next(r), RespReader::Status::Error);
  EXPECT_NE(reader.error().find("bulk length"), std::string::npos);

  RespLimits lim;
  lim.max_bulk_bytes = 1024;
  RespReader small(lim);
  small.feed("$1025\r\n");
  EXPECT_EQ(small.next(r), RespReader::Status::Error);
  RespReader ok(lim);
  ok.feed("$1024\r\n");
  EXPECT_EQ(ok.next(r), RespReader::Status::NeedMore);
}

TEST(RespParser, DepthBomb) {
  std::string deep;
  for (int i = 0; i < 64; ++i) deep += "*1\r\n";
  deep += ":1\r\n";
  parsed(deep);  // exactly the default max depth
  EXPECT_EQ(parseFails("*1\r\n" + deep), ErrorCode::TooLarge);
  EXPECT_EQ(parseFails("*1\r\n*1\r\n*0\r\n", RespLimits{.max_depth = 2}), ErrorCode::TooLarge);
  parsed("*1\r\n*1\r\n*0\r\n", RespLimits{.max_depth = 3});

  std::string bomb;
  for (int i = 0; i < 100000; ++i) bomb += "*1\r\n";
  EXPECT_EQ(parseFails(bomb), ErrorCode::TooLarge);
  RespReader reader;
  reader.feed(bomb);
  RespReply r;
  EXPECT_EQ(reader.next(r), RespReader::Status::Error);
  EXPECT_NE(reader.error().find("nested"), std::string::npos);
  // Framing has no depth cap of its own above the configured one (it keeps a counter per open
  // array, no recursion); building the tree is capped at 512 whatever is asked.
  RespLimits huge;
  huge.max_depth = 1000000;
  EXPECT_EQ(parseFails(bomb + ":1\r\n", huge), ErrorCode::TooLarge);
}

TEST(RespParser, ElementLimitCountsAllLevels) {
  RespLimits lim;
  lim.max_values = 4;  // the array itself + 3
  parsed("*3\r\n:1\r\n:2\r\n:3\r\n", lim);
  EXPECT_EQ(parseFails("*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n", lim), ErrorCode::TooLarge);
  EXPECT_EQ(parseFails("*2\r\n*2\r\n:1\r\n:2\r\n:3\r\n", lim), ErrorCode::TooLarge);
}

TEST(RespParser, LineAndReplyByteLimits) {
  RespLimits lim;
  lim.max_line_bytes = 8;
  parsed("+12345678\r\n", lim);
  EXPECT_EQ(parseFails("+123456789\r\n", lim), ErrorCode::TooLarge);
  RespReader reader(lim);
  reader.feed("-ERR long long long");  // no CR yet, already over the limit
  RespReply r;
  EXPECT_EQ(reader.next(r), RespReader::Status::Error);

  RespLimits bytes;
  bytes.max_reply_bytes = 16;
  parsed("$6\r\nfoobar\r\n", bytes);  // 12 bytes
  EXPECT_EQ(parseFails("$10\r\n0123456789\r\n", bytes), ErrorCode::TooLarge);
  RespReader r2(bytes);
  r2.feed("*3\r\n$3\r\nfoo\r\n$3\r\n");
  EXPECT_EQ(r2.next(r), RespReader::Status::Error);
}

TEST(RespParser, Resp3TypeBytesRefused) {
  for (std::string_view raw :
       {",3.14\r\n", "#t\r\n", "_\r\n", "%1\r\n+a\r\n:1\r\n", "~0\r\n", ">2\r\n+a\r\n+b\r\n",
        "(123\r\n", "=8\r\ntxt:abcd\r\n", "!3\r\nERR\r\n", "|1\r\n+a\r\n+b\r\n+OK\r\n"}) {
    parseFails(raw);
  }
}

const char* kStream =
    "+OK\r\n-ERR x\r\n:123\r\n$3\r\nfoo\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n"
    "*5\r\n$3\r\nfoo\r\n$-1\r\n:5\r\n*2\r\n$3\r\nbar\r\n*2\r\n$3\r\nbaz\r\n:7\r\n+OK\r\n"
    "*3\r\n$9\r\nsubscribe\r\n$4\r\nchat\r\n:1\r\n$5\r\na\r\nb\r\r\n";

const std::vector<std::string> kStreamReplies = {
    "+OK\r\n",
    "-ERR x\r\n",
    ":123\r\n",
    "$3\r\nfoo\r\n",
    "$0\r\n\r\n",
    "$-1\r\n",
    "*-1\r\n",
    "*0\r\n",
    "*5\r\n$3\r\nfoo\r\n$-1\r\n:5\r\n*2\r\n$3\r\nbar\r\n*2\r\n$3\r\nbaz\r\n:7\r\n+OK\r\n",
    "*3\r\n$9\r\nsubscribe\r\n$4\r\nchat\r\n:1\r\n",
    "$5\r\na\r\nb\r\r\n"};

TEST(RespParser, StreamInOneFeed) { EXPECT_EQ(readAll(kStream, 1 << 20), kStreamReplies); }

TEST(RespParser, StreamByteByByte) { EXPECT_EQ(readAll(kStream, 1), kStreamReplies); }

TEST(RespParser, StreamSplitAtEveryBoundary) {
  const std::string stream = kStream;
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    RespReader reader;
    std::vector<std::string> raws;
    RespReply reply;
    for (std::string_view part :
         {std::string_view(stream).substr(0, cut), std::string_view(stream).substr(cut)}) {
      reader.feed(part);
      RespReader::Status s;
      while ((s = reader.next(reply)) == RespReader::Status::Reply) raws.emplace_back(reply.raw());
      ASSERT_EQ(s, RespReader::Status::NeedMore) << cut << ": " << reader.error();
    }
    EXPECT_EQ(raws, kStreamReplies) << "cut at " << cut;
  }
}

TEST(RespParser, StreamInOddChunks) {
  for (size_t chunk : {2, 3, 5, 7, 11, 13}) EXPECT_EQ(readAll(kStream, chunk), kStreamReplies);
}

TEST(RespParser, ErrorIsSticky) {
  RespReader reader;
  reader.feed("+OK\r\n?bad\r\n+OK\r\n");
  RespReply r;
  EXPECT_EQ(reader.next(r), RespReader::Status::Reply);
  EXPECT_EQ(r.raw(), "+OK\r\n");
  EXPECT_EQ(reader.next(r), RespReader::Status::Error);
  EXPECT_TRUE(reader.failed());
  EXPECT_TRUE(reader.error().starts_with("protocol error: "));
  reader.feed("+OK\r\n");
  EXPECT_EQ(reader.next(r), RespReader::Status::Error);
}

TEST(RespParser, ReplyOwnsBytesAcrossMovesAndFeeds) {
  RespReader reader;
  reader.feed("*2\r\n$5\r\nhello\r\n+OK\r\n");
  RespReply r;
  ASSERT_EQ(reader.next(r), RespReader::Status::Reply);
  RespReply moved = std::move(r);
  reader.feed(std::string(100000, '+') + "\r\n");  // forces the reader to reallocate
  EXPECT_EQ(moved.value().elements[0].str, "hello");
  EXPECT_GE(moved.value().elements[0].str.data(), moved.raw().data());
  EXPECT_LE(moved.value().elements[0].str.data() + 5, moved.raw().data() + moved.raw().size());
  RespReply next;
  ASSERT_EQ(reader.next(next), RespReader::Status::Reply);
  EXPECT_EQ(next.value().str.size(), 99999u);
}

TEST(RespParser, ManyRepliesCompactBuffer) {
  RespReader reader;
  RespReply r;
  size_t n = 0;
  for (int round = 0; round < 2000; ++round) {
    reader.feed("$10\r\n0123456789\r\n:1");
    reader.feed("\r\n");
    while (reader.next(r) == RespReader::Status::Reply) ++n;
    EXPECT_EQ(reader.buffered(), 0u);
  }
  EXPECT_EQ(n, 4000u);
}

TEST(RespParser, FiveMegabyteBulkInChunks) {
  std::string value(5 << 20, 'v');
  value[12345] = '\r';
  value[12346] = '\n';
  std::string raw;
  appendBulkReply(raw, value);
  RespReader reader;
  RespReply r;
  for (size_t at = 0; at < raw.size(); at += 65536) {
    reader.feed(std::string_view(raw).substr(at, 65536));
    const auto s = reader.next(r);
    ASSERT_EQ(s,
              at + 65536 >= raw.size() ? RespReader::Status::Reply : RespReader::Status::NeedMore);
  }
  EXPECT_EQ(r.value().str.size(), value.size());
  EXPECT_TRUE(r.value().str == value);
}

TEST(RespParser, SlowLongLineIsNotRescannedQuadratically) {
  // 256 KiB status line fed byte by byte: must finish quickly (linear scan with a hint).
  const std::string line = "+" + std::string(256 << 10, 'a') + "\r\n";
  RespReader reader;
  RespReply r;
  for (char c : line) {
    reader.feed(std::string_view(&c, 1));
    if (reader.next(r) != RespReader::Status::NeedMore) break;
  }
  EXPECT_EQ(r.value().str.size(), 256u << 10);
}

// Random trees written with appendReply parse back identically, whole and byte by byte.
RespValue randomValue(std::mt19937& rng, int depth, std::vector<std::string>& pool) {
  const int kind = static_cast<int>(rng() % (depth > 4 ? 6 : 8));
  switch (kind) {
    case 0:
      return RespValue::status(pool[rng() % pool.size()]);
    case 1:
      return RespValue::error(pool[rng() % pool.size()]);
    case 2:
      return RespValue::integerValue(static_cast<int64_t>(rng()) - (int64_t{1} << 31));
    case 3:
    case 4:
      return RespValue::bulk(pool[rng() % pool.size()]);
    case 5:
      return rng() % 2 ? RespValue::null() : RespValue::nullArray();
    default: {
      std::vector<RespValue> els;
      const size_t n = rng() % 5;
      for (size_t i = 0; i < n; ++i) els.push_back(randomValue(rng, depth + 1, pool));
      return RespValue::array(std::move(els));
    }
  }
}

TEST(RespParser, RandomTreesRoundTrip) {
  std::mt19937 rng(12345);
  std::vector<std::string> pool = {"", "OK", "foo", "a b c", "QUEUED", "x:y:z", "0123456789"};
  for (int i = 0; i < 300; ++i) {
    const RespValue v = randomValue(rng, 0, pool);
    std::string raw;
    appendReply(raw, v);
    auto back = parseReply(raw);
    ASSERT_TRUE(back.has_value()) << raw;
    EXPECT_EQ(v, *back) << raw;
    auto replies = readAll(raw, 1);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0], raw);
  }
}

// Feeds `wire` one byte at a time; returns the framed replies (or "INVALID").
std::vector<std::string> frameBytewise(const std::string& wire, const RespLimits& limits = {}) {
  RespParser framer(&limits);
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t end = 1; end <= wire.size(); ++end) {
    size_t len = 0;
    for (;;) {
      const auto st = framer.scan(std::string_view(wire).substr(start, end - start), len);
      if (st == RespParser::Status::Invalid) {
        out.emplace_back("INVALID");
        return out;
      }
      if (st == RespParser::Status::NeedMore) {
        break;
      }
      out.push_back(wire.substr(start, len));
      start += len;
      framer.reset();
    }
  }
  if (start != wire.size()) {
    out.emplace_back("INCOMPLETE");
  }
  return out;
}

TEST(RespParser, FramesEveryTypeByteByByte) {
  const std::vector<std::string> replies = {"+OK\r\n",
                                            "-ERR bad\r\n",
                                            ":-42\r\n",
                                            "$0\r\n\r\n",
                                            "$-1\r\n",
                                            "*-1\r\n",
                                            "*0\r\n",
                                            "$5\r\na\r\nbc\r\n",
                                            "*2\r\n$1\r\na\r\n*2\r\n:1\r\n*0\r\n",
                                            "*3\r\n$7\r\nmessage\r\n$4\r\nchat\r\n$2\r\nhi\r\n"};
  std::string wire;
  for (const auto& r : replies) {
    wire += r;
  }
  EXPECT_EQ(frameBytewise(wire), replies);
}

TEST(RespParser, RejectsMalformedInput) {
  for (const std::string bad : {"?x\r\n", "+OK\n", ":12a\r\n", "$-2\r\n", "$3\r\nabcd\r\n",
                                "*-5\r\n", ":\r\n", "$99999999999999999999\r\n"}) {
    const auto out = frameBytewise(bad);
    ASSERT_FALSE(out.empty()) << bad;
    EXPECT_EQ(out.back(), "INVALID") << bad;
  }
}

TEST(RespParser, EnforcesLimits) {
  RespLimits limits;
  limits.max_depth = 2;
  EXPECT_EQ(frameBytewise("*1\r\n*1\r\n:1\r\n", limits).back(), "*1\r\n*1\r\n:1\r\n");
  EXPECT_EQ(frameBytewise("*1\r\n*1\r\n*1\r\n:1\r\n", limits).back(), "INVALID");
  EXPECT_EQ(frameBytewise("*1\r\n*1\r\n*0\r\n", limits).back(), "INVALID");  // empty counts
  limits = {};
  limits.max_bulk_bytes = 4;
  EXPECT_EQ(frameBytewise("$5\r\nabcde\r\n", limits).back(), "INVALID");
  limits = {};
  limits.max_reply_bytes = 16;
  EXPECT_EQ(frameBytewise("*3\r\n$3\r\nabc\r\n$3\r\nabc\r\n$3\r\nabc\r\n", limits).back(),
            "INVALID");
  limits = {};
  limits.max_values = 3;
  EXPECT_EQ(frameBytewise("*2\r\n:1\r\n:2\r\n", limits).back(), "*2\r\n:1\r\n:2\r\n");
  EXPECT_EQ(frameBytewise("*3\r\n:1\r\n:2\r\n:3\r\n", limits).back(), "INVALID");
  limits = {};
  limits.max_line_bytes = 8;
  EXPECT_EQ(frameBytewise("-" + std::string(20, 'e') + "\r\n", limits).back(), "INVALID");
  // A bulk header announcing more than the reply limit fails before the bytes arrive.
  limits = {};
  limits.max_reply_bytes = 100;
  RespParser framer(&limits);
  size_t len = 0;
  EXPECT_EQ(framer.scan("$1000\r\n", len), RespParser::Status::Invalid);
}

// A reply the caller will not keep is framed while its accepted bytes are dropped as they
// arrive: memory stays at one read, the stream stays in sync, and the size and declared value
// count are known before the reply ends.
TEST(RespParser, DiscardingAcceptedBytesKeepsFraming) {
  const RespLimits limits;
  std::string big =
      "*3\r\n$100000\r\n" + std::string(100000, 'x') + "\r\n:7\r\n*2\r\n+a\r\n$-1\r\n";
  const std::string next = "+NEXT\r\n";
  const std::string wire = big + next;
  for (const size_t step : {size_t{1}, size_t{7}, size_t{4096}}) {
    RespParser framer(&limits);
    std::string buf;
    size_t fed = 0;
    size_t max_buf = 0;
    std::vector<std::string> done;
    uint64_t total = 0;
    while (fed < wire.size()) {
      const size_t n = std::min(step, wire.size() - fed);
      buf.append(wire, fed, n);
      fed += n;
      for (;;) {
        size_t len = 0;
        const auto st = framer.scan(buf, len);
        ASSERT_NE(st, RespParser::Status::Invalid) << framer.error();
        if (st == RespParser::Status::NeedMore) {
          if (done.empty()) {  // skipping the big reply: drop what was accepted
            const size_t a = framer.accepted();
            framer.discard(a);
            buf.erase(0, a);
          }
          break;
        }
        total = framer.dropped() + len;
        if (done.empty()) EXPECT_EQ(framer.values(), 6u);  // the 2 arrays and their 4 elements
        done.push_back(buf.substr(0, len));
        buf.erase(0, len);
        framer.reset();
        if (done.size() == 1) EXPECT_EQ(total, big.size());
      }
      max_buf = std::max(max_buf, buf.size());
    }
    ASSERT_EQ(done.size(), 2u) << step;
    EXPECT_EQ(done[1], next);
    EXPECT_LE(max_buf, step + 16) << step;
  }
  // The CRLF after a bulk payload is still checked when the payload arrives in pieces.
  EXPECT_EQ(frameBytewise("$3\r\nabcX\n").back(), "INVALID");
  EXPECT_EQ(frameBytewise("$3\r\nabc\rX").back(), "INVALID");
}

// The stricter rules the tree builder once added now hold while framing: a reply Redis would
// never write ends the stream, not just its request.
TEST(RespParser, FramingIsAsStrictAsParsing) {
  for (const std::string bad : {":007\r\n", ":-0\r\n", ":+1\r\n", "$03\r\nfoo\r\n", "*01\r\n:1\r\n",
                                "+O\rK\r\n", "-E\nR\r\n", "$-01\r\n"}) {
    EXPECT_EQ(frameBytewise(bad).back(), "INVALID") << bad;
  }
}

// Integers Redis does write, up to int64's edges, frame (the old framer stopped at 18 digits
// and dropped the connection on INCRBY's answer past 10^18).
TEST(RespParser, FramesNineteenDigitIntegers) {
  const std::string wire =
      ":9223372036854775807\r\n:-9223372036854775808\r\n:1000000000000000000\r\n";
  EXPECT_EQ(frameBytewise(wire),
            (std::vector<std::string>{":9223372036854775807\r\n", ":-9223372036854775808\r\n",
                                      ":1000000000000000000\r\n"}));
  EXPECT_EQ(frameBytewise(":9223372036854775808\r\n").back(), "INVALID");
}

// Framing records each value once; the tree is built from the record, wherever the bytes went.
TEST(RespParser, RecordedNodesBuildTheTreeFromMovedBytes) {
  const std::string wire = "*4\r\n$3\r\nfoo\r\n:-5\r\n*2\r\n+OK\r\n$-1\r\n-ERR x\r\n";
  const RespLimits limits;
  RespParser parser(&limits);
  size_t len = 0;
  std::string buf;
  RespParser::Status st = RespParser::Status::NeedMore;
  for (char c : wire) {  // one byte at a time: nothing is recorded twice
    buf += c;
    st = parser.scan(buf, len);
    ASSERT_NE(st, RespParser::Status::Invalid) << parser.error();
  }
  ASSERT_EQ(st, RespParser::Status::Complete);
  ASSERT_EQ(len, wire.size());
  const ReplyNodes nodes(parser.nodes().begin(), parser.nodes().end());
  ASSERT_EQ(nodes.size(), 7u);
  EXPECT_EQ(nodes[0].type(), RespType::Array);
  EXPECT_EQ(nodes[0].n, 4);
  EXPECT_EQ(nodes[1].type(), RespType::Bulk);
  EXPECT_EQ(nodes[1].offset, 8u);
  EXPECT_EQ(nodes[1].n, 3);
  EXPECT_EQ(nodes[2].type(), RespType::Integer);
  EXPECT_EQ(nodes[2].n, -5);
  EXPECT_EQ(nodes[4].type(), RespType::Status);
  EXPECT_EQ(nodes[5].type(), RespType::Null);
  EXPECT_EQ(nodes[6].type(), RespType::Error);
  const std::string moved = buf;  // the bytes now live elsewhere
  auto v = buildReply(moved, nodes, 64);
  ASSERT_TRUE(v.has_value()) << v.error().message;
  EXPECT_EQ(v->elements[0].str, "foo");
  EXPECT_EQ(v->elements[0].str.data(), moved.data() + 8);
  EXPECT_EQ(v->elements[3].str, "ERR x");
  EXPECT_EQ(v->elements[2].elements[0].str, "OK");
  EXPECT_EQ(*v, parsed(wire));
  parser.reset();
  EXPECT_TRUE(parser.nodes().empty());
  ASSERT_EQ(parser.scan("+NEXT\r\n", len), RespParser::Status::Complete);
  ASSERT_EQ(parser.nodes().size(), 1u);  // held inline: the first values cost no allocation
  EXPECT_EQ(parser.nodes()[0].type(), RespType::Status);
  EXPECT_EQ(parser.nodes()[0].offset, 1u);
  EXPECT_EQ(parser.nodes()[0].n, 4);
}

// Nodes that do not describe the bytes are refused, never read past them.
TEST(RespParser, BuildRefusesNodesThatDoNotMatch) {
  const auto node = [](RespType t, uint64_t offset, int64_t n) {
    return RespNode{offset, static_cast<uint64_t>(t), n};
  };
  const std::string raw = "$3\r\nfoo\r\n";
  EXPECT_TRUE(buildReply(raw, std::vector{node(RespType::Bulk, 4, 3)}, 64).has_value());
  for (const ReplyNodes& bad :
       {ReplyNodes{}, ReplyNodes{node(RespType::Bulk, 8, 3)},
        ReplyNodes{node(RespType::Bulk, 4, 30)}, ReplyNodes{node(RespType::Bulk, 4, -1)},
        ReplyNodes{node(RespType::Array, 0, 2), node(RespType::Integer, 0, 1)},
        ReplyNodes{node(RespType::Integer, 0, 1), node(RespType::Integer, 0, 1)},
        ReplyNodes{node(RespType::Array, 0, -3)},
        ReplyNodes{node(static_cast<RespType>(9), 0, 0)}}) {
    auto v = buildReply(raw, bad, 64);
    ASSERT_FALSE(v.has_value());
    EXPECT_EQ(v.error().code, ErrorCode::InvalidArgument);
  }
  std::vector<RespNode> deep(3, node(RespType::Array, 0, 1));
  deep.push_back(node(RespType::Integer, 0, 1));
  EXPECT_TRUE(buildReply("", deep, 3).has_value());
  EXPECT_EQ(buildReply("", deep, 2).error().code, ErrorCode::TooLarge);
}

// After a discard the reply is only framed: nothing of it is recorded or held.
TEST(RespParser, DiscardStopsRecording) {
  const RespLimits limits;
  RespParser parser(&limits);
  size_t len = 0;
  std::string buf = "*3\r\n:1\r\n";
  ASSERT_EQ(parser.scan(buf, len), RespParser::Status::NeedMore);
  parser.discard(parser.accepted());
  buf = ":2\r\n:3\r\n";
  ASSERT_EQ(parser.scan(buf, len), RespParser::Status::Complete);
  EXPECT_EQ(parser.dropped() + len, 16u);
  EXPECT_EQ(parser.values(), 4u);
  EXPECT_TRUE(parser.nodes().empty());
  parser.reset();
  ASSERT_EQ(parser.scan(":4\r\n", len), RespParser::Status::Complete);
  EXPECT_EQ(parser.nodes().size(), 1u);  // recording resumes with the next reply
}

TEST(RespParser, TypeNames) {
  EXPECT_EQ(respTypeName(RespType::Status), "status");
  EXPECT_EQ(respTypeName(RespType::NullArray), "null-array");
}

}  // namespace
}  // namespace kw::proxy::codec
