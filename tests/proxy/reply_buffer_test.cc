// ReplyBuffer against a std::string model: contents, growth past the mapped threshold, moves.
#include "proxy/io/reply_buffer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

namespace kw::proxy {
namespace {

std::string pattern(size_t n, size_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed) & 0xff);
  return s;
}

TEST(ReplyBuffer, GrowsPastTheMappedThresholdKeepingItsBytes) {
  ReplyBuffer b;
  std::string model;
  // 16 KiB reads up to 24 MiB: heap first, then a mapping grown by mremap.
  for (size_t i = 0; model.size() < (24u << 20); ++i) {
    const std::string piece = pattern(16384, i);
    ASSERT_TRUE(b.reserveTail(piece.size()));
    std::memcpy(b.tail(), piece.data(), piece.size());
    b.commit(piece.size());
    model += piece;
  }
  ASSERT_EQ(b.size(), model.size());
  EXPECT_GE(b.capacity(), b.size());
  EXPECT_TRUE(b.view() == model);
}

TEST(ReplyBuffer, MovesKeepTheDataWhereItIs) {
  ReplyBuffer a;
  ASSERT_TRUE(a.append(pattern(3u << 20, 7)));
  const char* where = a.data();
  ReplyBuffer b = std::move(a);
  EXPECT_EQ(b.data(), where);  // views into it survive the move
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.data(), nullptr);
  ReplyBuffer c;
  ASSERT_TRUE(c.append("x"));
  c = std::move(b);
  EXPECT_EQ(c.data(), where);
  EXPECT_TRUE(c.view() == pattern(3u << 20, 7));
}

TEST(ReplyBuffer, EraseFrontOfALargeBufferKeepsOnlyASmallTail) {
  ReplyBuffer b;
  const std::string big = pattern(8u << 20, 3);
  const std::string tail = "$3\r\nabc\r\n";
  ASSERT_TRUE(b.append(big));
  ASSERT_TRUE(b.append(tail));
  b.eraseFront(big.size());
  EXPECT_TRUE(b.view() == tail);
  EXPECT_LT(b.capacity(), ReplyBuffer::kMappedBytes);  // the mapping went back
  ASSERT_TRUE(b.append("more"));
  EXPECT_TRUE(b.view() == tail + "more");
}

TEST(ReplyBuffer, TruncateClearAndShrink) {
  ReplyBuffer b;
  ASSERT_TRUE(b.append(pattern(2u << 20, 1)));
  b.truncate(10);
  EXPECT_TRUE(b.view() == pattern(10, 1));
  b.truncate(100);  // never grows
  EXPECT_EQ(b.size(), 10u);
  b.clear();
  b.shrinkIfIdle();
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_TRUE(b.append(""));
  EXPECT_TRUE(b.empty());
}

// Random appends and front erases, heap and mapped, against the model.
TEST(ReplyBuffer, RandomOperationsMatchAString) {
  std::mt19937_64 rng(42);
  ReplyBuffer b;
  std::string model;
  for (int step = 0; step < 400; ++step) {
    const uint64_t op = rng() % 10;
    if (op < 6) {
      const size_t n = (rng() % 4 == 0) ? rng() % (3u << 20) : rng() % 5000;
      const std::string piece = pattern(n, step);
      ASSERT_TRUE(b.append(piece));
      model += piece;
    } else if (op < 9) {
      const size_t n = model.empty() ? 0 : rng() % (model.size() + 1);
      b.eraseFront(n);
      model.erase(0, n);
    } else {
      const size_t n = model.empty() ? 0 : rng() % (model.size() + 1);
      b.truncate(n);
      model.resize(n);
    }
    ASSERT_EQ(b.size(), model.size()) << "step " << step;
    ASSERT_TRUE(b.view() == model) << "step " << step;
  }
}

}  // namespace
}  // namespace kw::proxy
