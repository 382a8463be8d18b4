// RespFramer: incremental RESP2 framing (any split), limits, and discarding skipped bytes.
#include "proxy/codec/resp_framer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kw::proxy::codec {
namespace {

// Feeds `wire` one byte at a time; returns the framed replies (or "INVALID").
std::vector<std::string> frameBytewise(const std::string& wire, const RespLimits& limits = {}) {
  RespFramer framer(&limits);
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t end = 1; end <= wire.size(); ++end) {
    size_t len = 0;
    for (;;) {
      const auto st = framer.scan(std::string_view(wire).substr(start, end - start), len);
      if (st == RespFramer::Status::Invalid) {
        out.emplace_back("INVALID");
        return out;
      }
      if (st == RespFramer::Status::NeedMore) {
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

TEST(RespFramer, FramesEveryTypeByteByByte) {
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

TEST(RespFramer, RejectsMalformedInput) {
  for (const std::string bad : {"?x\r\n", "+OK\n", ":12a\r\n", "$-2\r\n", "$3\r\nabcd\r\n",
                                "*-5\r\n", ":\r\n", "$99999999999999999999\r\n"}) {
    const auto out = frameBytewise(bad);
    ASSERT_FALSE(out.empty()) << bad;
    EXPECT_EQ(out.back(), "INVALID") << bad;
  }
}

TEST(RespFramer, EnforcesLimits) {
  RespLimits limits;
  limits.max_depth = 2;
  EXPECT_EQ(frameBytewise("*1\r\n*1\r\n:1\r\n", limits).back(), "*1\r\n*1\r\n:1\r\n");
  EXPECT_EQ(frameBytewise("*1\r\n*1\r\n*1\r\n:1\r\n", limits).back(), "INVALID");
  limits = {};
  limits.max_bulk_bytes = 4;
  EXPECT_EQ(frameBytewise("$5\r\nabcde\r\n", limits).back(), "INVALID");
  limits = {};
  limits.max_reply_bytes = 16;
  EXPECT_EQ(frameBytewise("*3\r\n$3\r\nabc\r\n$3\r\nabc\r\n$3\r\nabc\r\n", limits).back(),
            "INVALID");
  limits = {};
  limits.max_elements = 2;
  EXPECT_EQ(frameBytewise("*3\r\n:1\r\n:2\r\n:3\r\n", limits).back(), "INVALID");
  limits = {};
  limits.max_line_bytes = 8;
  EXPECT_EQ(frameBytewise("-" + std::string(20, 'e') + "\r\n", limits).back(), "INVALID");
  // A bulk header announcing more than the reply limit fails before the bytes arrive.
  limits = {};
  limits.max_reply_bytes = 100;
  RespFramer framer(&limits);
  size_t len = 0;
  EXPECT_EQ(framer.scan("$1000\r\n", len), RespFramer::Status::Invalid);
}

// A reply the caller will not keep is framed while its accepted bytes are dropped as they
// arrive: memory stays at one read, the stream stays in sync, and the size and declared value
// count are known before the reply ends.
TEST(RespFramer, DiscardingAcceptedBytesKeepsFraming) {
  const RespLimits limits;
  std::string big =
      "*3\r\n$100000\r\n" + std::string(100000, 'x') + "\r\n:7\r\n*2\r\n+a\r\n$-1\r\n";
  const std::string next = "+NEXT\r\n";
  const std::string wire = big + next;
  for (const size_t step : {size_t{1}, size_t{7}, size_t{4096}}) {
    RespFramer framer(&limits);
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
        ASSERT_NE(st, RespFramer::Status::Invalid) << framer.error();
        if (st == RespFramer::Status::NeedMore) {
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

}  // namespace
}  // namespace kw::proxy::codec
