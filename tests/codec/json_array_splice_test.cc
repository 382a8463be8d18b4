// JsonArraySplicer: denied slots land at their request positions, for any chunking.
#include "proxy/codec/json_array_splice.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kw::proxy::codec {
namespace {

const std::string kDenied = R"({"error":"NOPERM x"})";

// Splices in pieces of `step` bytes (0 = whole); nullopt when the splicer refuses.
std::optional<std::string> splice(std::string_view in, size_t upstream_count,
                                  std::vector<size_t> at, size_t step = 0) {
  std::vector<SplicedElement> inserts;
  for (size_t a : at) inserts.push_back({a, kDenied});
  JsonArraySplicer s(upstream_count, std::move(inserts));
  std::string out;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t n = step == 0 ? in.size() - pos : std::min(step, in.size() - pos);
    if (!s.feed(in.substr(pos, n), out)) return std::nullopt;
    pos += n;
  }
  if (!s.finish()) return std::nullopt;
  return out;
}

TEST(JsonArraySplice, InsertsAtEveryPosition) {
  const std::string up = R"([{"result":"a"},{"result":["x,]","y"]},{"error":"ERR z"}])";
  const std::string a = R"({"result":"a"})", b = R"({"result":["x,]","y"]})",
                    c = R"({"error":"ERR z"})";
  struct Case {
    std::vector<size_t> at;
    std::string want;
  } cases[] = {
      {{}, "[" + a + "," + b + "," + c + "]"},
      {{0}, "[" + kDenied + "," + a + "," + b + "," + c + "]"},
      {{1}, "[" + a + "," + kDenied + "," + b + "," + c + "]"},
      {{3}, "[" + a + "," + b + "," + c + "," + kDenied + "]"},
      // 7 slots: denied at 0, 2, 4, 5; upstream replies fill 1, 3, 6.
      {{0, 2, 4, 5},
       "[" + kDenied + "," + a + "," + kDenied + "," + b + "," + kDenied + "," + kDenied + "," + c +
           "]"},
  };
  for (const Case& k : cases) {
    for (size_t step : {0, 1, 2, 5}) {
      auto got = splice(up, 3, k.at, step);
      ASSERT_TRUE(got.has_value()) << step;
      EXPECT_EQ(*got, k.want) << "step " << step;
    }
  }
}

TEST(JsonArraySplice, EmptyUpstreamArrayAndWhitespace) {
  EXPECT_EQ(splice("[]", 0, {0, 1}), "[" + kDenied + "," + kDenied + "]");
  EXPECT_EQ(splice(" [ 1 , 2 ] \n", 2, {1}), " [ 1 , " + kDenied + ",2 ] \n");
  EXPECT_EQ(splice("[ ]", 0, {}), "[ ]");
}

TEST(JsonArraySplice, StringsWithBracketsQuotesAndEscapes) {
  const std::string up = R"(["\"]\\",{"a":"},["}])";
  EXPECT_EQ(splice(up, 2, {1}, 1), R"(["\"]\\",)" + kDenied + R"(,{"a":"},["}])");
}

TEST(JsonArraySplice, RefusesWhatIsNotTheExpectedArray) {
  EXPECT_EQ(splice("{\"result\":1}", 1, {0}), std::nullopt);  // not an array
  EXPECT_EQ(splice("[1,2]", 1, {}), std::nullopt);            // too long
  EXPECT_EQ(splice("[1]", 2, {}), std::nullopt);              // too short
  EXPECT_EQ(splice("[1,]", 1, {}), std::nullopt);             // trailing comma
  EXPECT_EQ(splice("[,1]", 1, {}), std::nullopt);
  EXPECT_EQ(splice("[1] x", 1, {}), std::nullopt);  // bytes after the array
  EXPECT_EQ(splice("[1", 1, {}), std::nullopt);     // truncated
  EXPECT_EQ(splice("[1}", 1, {}), std::nullopt);    // '}' closing the top-level array
  EXPECT_EQ(splice("", 0, {}), std::nullopt);
}

TEST(JsonArraySplice, DepthIsBounded) {
  std::string deep = "[" + std::string(600, '[') + std::string(600, ']') + "]";
  EXPECT_EQ(splice(deep, 1, {}), std::nullopt);
}

}  // namespace
}  // namespace kw::proxy::codec
