// Tests for the streamed resp2 reply check: exactly N whole replies, nothing after, however the
// bytes are chunked, holding at most an open line.
#include "proxy/codec/resp_stream_check.h"

#include <gtest/gtest.h>

#include <string>

namespace kw::proxy::codec {
namespace {

struct Verdict {
  bool ok = false;
  bool complete = false;
};

Verdict check(size_t count, std::string_view in, size_t step) {
  RespStreamCheck c(count);
  Verdict v{true, false};
  for (size_t pos = 0; pos < in.size() && v.ok; pos += step) v.ok = c.feed(in.substr(pos, step));
  v.complete = v.ok && c.complete();
  return v;
}

TEST(RespStreamCheck, ExactlyTheRepliesAskedForAreWholeHowEverChunked) {
  const std::string big(300000, 'a');
  const std::string bulk = "$" + std::to_string(big.size()) + "\r\n" + big + "\r\n";
  const std::string three = bulk + "*2\r\n:1\r\n$-1\r\n" + "-ERR no\r\n";
  for (size_t step : {size_t{1}, size_t{7}, size_t{4096}, three.size()}) {
    EXPECT_TRUE(check(1, bulk, step).complete) << step;
    EXPECT_TRUE(check(3, three, step).complete) << step;
    EXPECT_TRUE(check(1, "*-1\r\n", step).complete) << step;
  }
}

TEST(RespStreamCheck, TooFewTooManyOrMalformedIsNeverComplete) {
  const std::string big(300000, 'a');
  const std::string bulk = "$" + std::to_string(big.size()) + "\r\n" + big + "\r\n";
  for (size_t step : {size_t{1}, size_t{5}, size_t{100000}}) {
    // One reply too many, or bytes after the last: refused as they arrive.
    EXPECT_FALSE(check(1, bulk + ":1\r\n", step).ok) << step;
    EXPECT_FALSE(check(1, bulk + "garbage", step).ok) << step;
    EXPECT_FALSE(check(3, bulk + "+OK\r\n+OK\r\n+OK\r\n", step).ok) << step;
    // Cut short: fine so far, never complete.
    const Verdict cut = check(1, bulk.substr(0, bulk.size() - 3), step);
    EXPECT_TRUE(cut.ok && !cut.complete) << step;
    const Verdict short_by_one = check(3, bulk + "+OK\r\n", step);
    EXPECT_TRUE(short_by_one.ok && !short_by_one.complete) << step;
    // A bulk declared longer than what ends it, a bad CRLF, a bad type byte.
    EXPECT_FALSE(check(1, "$3\r\nabcd\r\n", step).ok) << step;
    EXPECT_FALSE(check(1, "+OK\n", step).ok) << step;
    EXPECT_FALSE(check(1, "{\"result\":1}", step).ok) << step;
    EXPECT_FALSE(check(1, ":01\r\n", step).ok) << step;
  }
  RespStreamCheck c(1);
  EXPECT_FALSE(c.feed("x"));
  EXPECT_FALSE(c.feed("+OK\r\n")) << "a failed check passed again";
  EXPECT_FALSE(c.complete());
}

TEST(RespStreamCheck, AnEmptyBodyIsNotAReply) {
  RespStreamCheck c(1);
  EXPECT_TRUE(c.feed(""));
  EXPECT_FALSE(c.complete());
}

}  // namespace
}  // namespace kw::proxy::codec
