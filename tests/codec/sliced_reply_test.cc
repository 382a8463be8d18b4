// SlicedReplyEncoder: every body, in slices of every size, is byte-for-byte the one-shot body.
#include "proxy/codec/sliced_reply.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "proxy/codec/json_escape.h"

namespace kw::proxy::codec {
namespace {

using V = RespValue;

// Sizes `e` in steps of `budget`, then drains it in slices of `budget` bytes, checking each
// slice's bound; size() must then be the bytes drained.
std::string drain(SlicedReplyEncoder& e, size_t budget) {
  std::string out;
  size_t steps = 0;
  while (!e.measure(budget)) ++steps;
  EXPECT_LE(steps, e.size() / budget + 1);
  for (size_t guard = 0; guard < (size_t{1} << 26); ++guard) {
    const size_t before = out.size();
    const bool done = e.next(out, budget);
    EXPECT_LE(out.size() - before, budget + SlicedReplyEncoder::kMaxOvershoot);
    if (done) {
      EXPECT_EQ(out.size(), e.size());
      return out;
    }
    EXPECT_GE(out.size() - before, budget);
  }
  ADD_FAILURE() << "never done";
  return out;
}

// Bytes that stress the encoders: control bytes, quotes, UTF-8 (valid, truncated, overlong).
std::string randomBytes(std::mt19937& rng, size_t n) {
  static const std::vector<std::string> kPieces = {"a",
                                                   "\x01",
                                                   "\"",
                                                   "\\",
                                                   "\n",
                                                   "\x7f",
                                                   "\xC3\xA9",
                                                   "\xE2\x82\xAC",
                                                   "\xF0\x9F\x98\x80",
                                                   "\xE2\x82",
                                                   "\xF0\x9F",
                                                   "\xC0\xAF",
                                                   "\xED\xA0\x80",
                                                   "\xFF",
                                                   "\x80",
                                                   "OK",
                                                   "\xF4\x90\x80\x80"};
  std::string s;
  while (s.size() < n) s += kPieces[rng() % kPieces.size()];
  return s;
}

struct Store {
  std::vector<std::string> strings;  // reserved: values view into them
};

V randomValue(std::mt19937& rng, Store& st, int depth) {
  const int kind = static_cast<int>(rng() % (depth < 3 ? 8 : 6));
  const auto str = [&]() -> std::string_view {
    const size_t n = rng() % 4 == 0 ? rng() % 5000 : rng() % 40;
    st.strings.push_back(rng() % 9 == 0 ? std::string("OK") : randomBytes(rng, n));
    return st.strings.back();
  };
  switch (kind) {
    case 0:
      return V::null();
    case 1:
      return V::integerValue(static_cast<int64_t>((uint64_t{rng()} << 32) | rng()));
    case 2:
      return V::status(str());
    case 3:
      return V::error(str());
    case 4:
    case 5:
      return V::bulk(str());
    case 6:
      return V::nullArray();
    default: {
      std::vector<V> els;
      const size_t n = rng() % 6;
      for (size_t i = 0; i < n; ++i) els.push_back(randomValue(rng, st, depth + 1));
      return V::array(std::move(els));
    }
  }
}

constexpr size_t kBudgets[] = {1, 2, 3, 5, 7, 64, 1000, 4096, 1 << 20};

TEST(SlicedReply, SingleMatchesOneShotForEveryBudget) {
  std::mt19937 rng(1);
  Store st;
  st.strings.reserve(100000);
  for (int i = 0; i < 300; ++i) {
    const V v = randomValue(rng, st, 0);
    for (ReplyEncoding enc : {ReplyEncoding::Plain, ReplyEncoding::Base64}) {
      const std::string want = singleReplyJson(v, enc);
      for (size_t budget : kBudgets) {
        auto e = SlicedReplyEncoder::single(v, enc);
        ASSERT_EQ(drain(*e, budget), want) << "budget " << budget;
        ASSERT_EQ(e->size(), want.size());
      }
    }
  }
}

TEST(SlicedReply, PipelineAndTransactionMatchOneShot) {
  std::mt19937 rng(2);
  Store st;
  st.strings.reserve(100000);
  for (int i = 0; i < 200; ++i) {
    std::vector<V> replies;
    const size_t n = rng() % 6;
    for (size_t k = 0; k < n; ++k) replies.push_back(randomValue(rng, st, 0));
    std::vector<InlineError> errors;
    for (size_t pos = 0; pos < n + 3; ++pos) {
      if (rng() % 3 == 0) errors.push_back({pos, "NOPERM \"denied\"\x01"});
    }
    while (!errors.empty() && errors.back().index >= n + errors.size()) errors.pop_back();
    for (ReplyEncoding enc : {ReplyEncoding::Plain, ReplyEncoding::Base64}) {
      std::string want;
      ASSERT_TRUE(appendPipelineJson(want, replies, errors, enc));
      // A transaction: MULTI's reply, queued replies, EXEC's (an Array of them, or an error).
      std::vector<V> tx = {rng() % 8 ? V::status("OK") : V::error("ERR multi")};
      for (size_t k = 0; k < n; ++k) tx.push_back(V::status("QUEUED"));
      tx.push_back(rng() % 4 ? V::array(replies) : V::error("EXECABORT Transaction discarded"));
      std::string want_tx;
      const int want_status = appendTransactionJson(want_tx, tx, enc);
      for (size_t budget : kBudgets) {
        auto p = SlicedReplyEncoder::pipeline(replies, errors, enc);
        ASSERT_TRUE(p);
        ASSERT_EQ(drain(**p, budget), want) << "budget " << budget;
        int status = 0;
        auto t = SlicedReplyEncoder::transaction(tx, enc, status);
        ASSERT_EQ(status, want_status);
        ASSERT_EQ(drain(*t, budget), want_tx) << "budget " << budget;
      }
    }
  }
}

TEST(SlicedReply, WritesNothingBeforeItIsSized) {
  const V v = V::bulk("abc");
  auto e = SlicedReplyEncoder::single(v, ReplyEncoding::Plain);
  std::string out;
  EXPECT_FALSE(e->next(out, 100));
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(e->measure(100));
  EXPECT_EQ(e->size(), 16u);
  EXPECT_TRUE(e->next(out, 100));
  EXPECT_EQ(out, R"({"result":"abc"})");
}

TEST(SlicedReply, RefusesUnorderedInlineErrorsLikeOneShot) {
  const std::vector<V> replies = {V::bulk("a")};
  const std::vector<InlineError> errors = {{1, "x"}, {1, "y"}};
  std::string out;
  EXPECT_FALSE(appendPipelineJson(out, replies, errors, ReplyEncoding::Plain));
  EXPECT_FALSE(SlicedReplyEncoder::pipeline(replies, errors, ReplyEncoding::Plain));
}

TEST(SlicedReply, LongStringsSplitAnywhereWithinEscapes) {
  // 6x growth (\u0001), multi-byte UTF-8 and ill-formed subparts across slice edges, base64
  // on 3-byte boundaries: 8 MiB-class strings scaled down.
  std::mt19937 rng(3);
  const std::string ctl(300001, '\x01');
  const std::string mixed = randomBytes(rng, 200003);
  for (const std::string* s : {&ctl, &mixed}) {
    const std::vector<V> replies = {V::array({V::bulk(*s), V::bulk(*s), V::integerValue(7)})};
    for (ReplyEncoding enc : {ReplyEncoding::Plain, ReplyEncoding::Base64}) {
      const std::string want = pipelineJson(replies, enc);
      for (size_t budget :
           {size_t{1}, size_t{4}, size_t{6}, size_t{7}, size_t{1} << 12, size_t{256} << 10}) {
        auto e = SlicedReplyEncoder::pipeline(replies, {}, enc);
        ASSERT_TRUE(e);
        ASSERT_EQ(drain(**e, budget), want) << "budget " << budget;
      }
    }
  }
}

TEST(SlicedReply, Resp2PassthroughWithInlineErrors) {
  const std::vector<std::string_view> raws = {"$3\r\nabc\r\n", ":1\r\n", "*0\r\n"};
  const std::vector<size_t> denied = {0, 2};
  const std::vector<std::string> messages = {"NOPERM a", "NOPERM b\r\nc"};
  std::string want;
  appendResp2Error(want, messages[0]);
  appendResp2Passthrough(want, raws[0]);
  appendResp2Error(want, messages[1]);
  appendResp2Passthrough(want, raws[1]);
  appendResp2Passthrough(want, raws[2]);
  for (size_t budget : kBudgets) {
    auto e = SlicedReplyEncoder::resp2(raws, denied, messages);
    ASSERT_EQ(e->size(), want.size());  // known at once: the raw bytes
    ASSERT_EQ(drain(*e, budget), want);
  }
}

TEST(SlicedReply, JsonStringPartsConcatenateToTheWhole) {
  std::mt19937 rng(4);
  for (int i = 0; i < 500; ++i) {
    const std::string s = randomBytes(rng, rng() % 300);
    std::string whole;
    appendJsonString(whole, s);
    std::string parts = "\"";
    for (size_t pos = 0; pos < s.size();) {
      const size_t next = appendJsonStringPart(parts, s, pos, 1 + rng() % 7);
      ASSERT_GT(next, pos);
      pos = next;
    }
    parts += '"';
    ASSERT_EQ(parts, whole);
    uint64_t size = 2;
    for (size_t pos = 0; pos < s.size();) {
      const size_t next = jsonStringSizePart(s, pos, 1 + rng() % 9, size);
      ASSERT_GT(next, pos);
      pos = next;
    }
    ASSERT_EQ(size, whole.size());
    ASSERT_EQ(jsonStringSize(s), whole.size());
  }
}

}  // namespace
}  // namespace kw::proxy::codec
