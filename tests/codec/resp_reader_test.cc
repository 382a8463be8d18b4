// parseReply (types, limits, protocol errors), and a stream read through the framer and
// parseReply in any split (tests/support/resp_stream.h).
#include "proxy/codec/resp_reader.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "proxy/codec/resp_writer.h"
#include "tests/support/resp_stream.h"

namespace kw::proxy::codec {
namespace {

RespValue parsed(std::string_view raw, const RespReaderLimits& lim = {}) {
  auto r = parseReply(raw, lim);
  EXPECT_TRUE(r.has_value()) << testing::PrintToString(std::string(raw.substr(0, 100))) << ": "
                             << (r ? "" : r.error().message);
  return r ? std::move(r).value() : RespValue{};
}

ErrorCode parseFails(std::string_view raw, const RespReaderLimits& lim = {}) {
  auto r = parseReply(raw, lim);
  EXPECT_FALSE(r.has_value()) << testing::PrintToString(std::string(raw.substr(0, 100)));
  if (r) return ErrorCode::Internal;
  EXPECT_TRUE(r.error().message.starts_with("protocol error: ")) << r.error().message;
  return r.error().code;
}

// Structural equality (views compared by content).
bool same(const RespValue& a, const RespValue& b) {
  if (a.type != b.type || a.integer != b.integer || a.str != b.str ||
      a.elements.size() != b.elements.size()) {
    return false;
  }
  for (size_t i = 0; i < a.elements.size(); ++i) {
    if (!same(a.elements[i], b.elements[i])) return false;
  }
  return true;
}

// Feeds `stream` in pieces of the given sizes and collects every reply's raw bytes.
std::vector<std::string> readAll(std::string_view stream, size_t chunk,
                                 const RespReaderLimits& lim = {}) {
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
      EXPECT_TRUE(again && same(*again, reply.value()));
    }
  }
  EXPECT_EQ(reader.buffered(), 0u);
  return raws;
}

TEST(RespReader, ScalarTypes) {
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

TEST(RespReader, IntegerExtremes) {
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

TEST(RespReader, BulkStrings) {
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

TEST(RespReader, ViewsPointIntoInput) {
  const std::string raw = "*2\r\n$3\r\nfoo\r\n+OK\r\n";
  RespValue v = parsed(raw);
  ASSERT_EQ(v.elements.size(), 2u);
  EXPECT_EQ(v.elements[0].str.data(), raw.data() + 8);
  EXPECT_EQ(v.elements[1].str.data(), raw.data() + 14);
}

TEST(RespReader, Arrays) {
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

TEST(RespReader, ProtocolErrors) {
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

TEST(RespReader, HugeDeclaredLengthsFailFast) {
  EXPECT_EQ(parseFails("$99999999999999999999999\r\n"), ErrorCode::InvalidArgument);
  EXPECT_EQ(parseFails("$18446744073709551615\r\n"), ErrorCode::TooLarge);
  EXPECT_EQ(parseFails("$536870913\r\n"), ErrorCode::TooLarge);  // 512 MiB + 1
  EXPECT_EQ(parseFails("*18446744073709551615\r\n"), ErrorCode::TooLarge);
  EXPECT_EQ(parseFails("*16777217\r\n"), ErrorCode::TooLarge);
  // Within the limits but absent: an incomplete reply, and no giant reservation happens.
  EXPECT_EQ(parseFails("*16000000\r\n"), ErrorCode::InvalidArgument);
  EXPECT_EQ(parseFails("$536870912\r\n"), ErrorCode::InvalidArgument);

  RespReader reader;
  reader.feed("$536870913\r\n");
  RespReply r;
  EXPECT_EQ(reader.next(r), RespReader::Status::Error);
  EXPECT_NE(reader.error().find("bulk length"), std::string::npos);

  RespReaderLimits lim;
  lim.max_bulk_bytes = 1024;
  RespReader small(lim);
  small.feed("$1025\r\n");
  EXPECT_EQ(small.next(r), RespReader::Status::Error);
  RespReader ok(lim);
  ok.feed("$1024\r\n");
  EXPECT_EQ(ok.next(r), RespReader::Status::NeedMore);
}

TEST(RespReader, DepthBomb) {
  std::string deep;
  for (int i = 0; i < 64; ++i) deep += "*1\r\n";
  deep += ":1\r\n";
  parsed(deep);  // exactly the default max depth
  EXPECT_EQ(parseFails("*1\r\n" + deep), ErrorCode::TooLarge);
  EXPECT_EQ(parseFails("*1\r\n*1\r\n*0\r\n", RespReaderLimits{.max_depth = 2}),
            ErrorCode::TooLarge);
  parsed("*1\r\n*1\r\n*0\r\n", RespReaderLimits{.max_depth = 3});

  std::string bomb;
  for (int i = 0; i < 100000; ++i) bomb += "*1\r\n";
  EXPECT_EQ(parseFails(bomb), ErrorCode::TooLarge);
  RespReader reader;
  reader.feed(bomb);
  RespReply r;
  EXPECT_EQ(reader.next(r), RespReader::Status::Error);
  EXPECT_NE(reader.error().find("nested"), std::string::npos);
  // A configured depth above the hard cap (512) is clamped: no stack exhaustion.
  RespReaderLimits huge;
  huge.max_depth = 1000000;
  EXPECT_EQ(parseFails(bomb, huge), ErrorCode::TooLarge);
}

TEST(RespReader, ElementLimitCountsAllLevels) {
  RespReaderLimits lim;
  lim.max_elements = 4;  // the array itself + 3
  parsed("*3\r\n:1\r\n:2\r\n:3\r\n", lim);
  EXPECT_EQ(parseFails("*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n", lim), ErrorCode::TooLarge);
  EXPECT_EQ(parseFails("*2\r\n*2\r\n:1\r\n:2\r\n:3\r\n", lim), ErrorCode::TooLarge);
}

TEST(RespReader, LineAndReplyByteLimits) {
  RespReaderLimits lim;
  lim.max_line_bytes = 8;
  parsed("+12345678\r\n", lim);
  EXPECT_EQ(parseFails("+123456789\r\n", lim), ErrorCode::TooLarge);
  RespReader reader(lim);
  reader.feed("-ERR long long long");  // no CR yet, already over the limit
  RespReply r;
  EXPECT_EQ(reader.next(r), RespReader::Status::Error);

  RespReaderLimits bytes;
  bytes.max_reply_bytes = 16;
  parsed("$6\r\nfoobar\r\n", bytes);  // 12 bytes
  EXPECT_EQ(parseFails("$10\r\n0123456789\r\n", bytes), ErrorCode::TooLarge);
  RespReader r2(bytes);
  r2.feed("*3\r\n$3\r\nfoo\r\n$3\r\n");
  EXPECT_EQ(r2.next(r), RespReader::Status::Error);
}

TEST(RespReader, Resp3RejectedByDefault) {
  for (std::string_view raw :
       {",3.14\r\n", "#t\r\n", "_\r\n", "%1\r\n+a\r\n:1\r\n", "~0\r\n", ">2\r\n+a\r\n+b\r\n",
        "(123\r\n", "=8\r\ntxt:abcd\r\n", "!3\r\nERR\r\n", "|1\r\n+a\r\n+b\r\n+OK\r\n"}) {
    parseFails(raw);
  }
}

TEST(RespReader, Resp3MappedToResp2WhenAccepted) {
  RespReaderLimits lim;
  lim.accept_resp3 = true;
  RespValue v = parsed(",3.14\r\n", lim);
  EXPECT_EQ(v.type, RespType::Bulk);
  EXPECT_EQ(v.str, "3.14");
  EXPECT_EQ(parsed("#t\r\n", lim).integer, 1);
  EXPECT_EQ(parsed("#f\r\n", lim).type, RespType::Integer);
  EXPECT_EQ(parsed("_\r\n", lim).type, RespType::Null);
  v = parsed("%1\r\n+a\r\n:1\r\n", lim);
  ASSERT_EQ(v.elements.size(), 2u);
  EXPECT_EQ(v.elements[0].str, "a");
  EXPECT_EQ(parsed("~1\r\n:1\r\n", lim).elements.size(), 1u);
  EXPECT_EQ(parsed(">2\r\n+a\r\n+b\r\n", lim).type, RespType::Array);
  EXPECT_EQ(parsed("(-123456789012345678901234567890\r\n", lim).str,
            "-123456789012345678901234567890");
  EXPECT_EQ(parsed("=8\r\ntxt:abcd\r\n", lim).str, "abcd");
  v = parsed("!8\r\nERR a\r\nb\r\n", lim);
  EXPECT_EQ(v.type, RespType::Error);
  EXPECT_EQ(v.str, "ERR a\r\nb");
  parseFails("|1\r\n+a\r\n+b\r\n+OK\r\n", lim);
  parseFails("#x\r\n", lim);
  parseFails("_x\r\n", lim);
  parseFails("(1.5\r\n", lim);
  parseFails("=3\r\ntxt\r\n", lim);
  parseFails("%-1\r\n", lim);
  parseFails("=-1\r\n", lim);
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

TEST(RespReader, StreamInOneFeed) { EXPECT_EQ(readAll(kStream, 1 << 20), kStreamReplies); }

TEST(RespReader, StreamByteByByte) { EXPECT_EQ(readAll(kStream, 1), kStreamReplies); }

TEST(RespReader, StreamSplitAtEveryBoundary) {
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

TEST(RespReader, StreamInOddChunks) {
  for (size_t chunk : {2, 3, 5, 7, 11, 13}) EXPECT_EQ(readAll(kStream, chunk), kStreamReplies);
}

TEST(RespReader, ErrorIsSticky) {
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

TEST(RespReader, ReplyOwnsBytesAcrossMovesAndFeeds) {
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

TEST(RespReader, ManyRepliesCompactBuffer) {
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

TEST(RespReader, FiveMegabyteBulkInChunks) {
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

TEST(RespReader, SlowLongLineIsNotRescannedQuadratically) {
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

TEST(RespReader, RandomTreesRoundTrip) {
  std::mt19937 rng(12345);
  std::vector<std::string> pool = {"", "OK", "foo", "a b c", "QUEUED", "x:y:z", "0123456789"};
  for (int i = 0; i < 300; ++i) {
    const RespValue v = randomValue(rng, 0, pool);
    std::string raw;
    appendReply(raw, v);
    auto back = parseReply(raw);
    ASSERT_TRUE(back.has_value()) << raw;
    EXPECT_TRUE(same(v, *back)) << raw;
    auto replies = readAll(raw, 1);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0], raw);
  }
}

TEST(RespReader, TypeNames) {
  EXPECT_EQ(respTypeName(RespType::Status), "status");
  EXPECT_EQ(respTypeName(RespType::NullArray), "null-array");
}

}  // namespace
}  // namespace kw::proxy::codec
