// Tests for Upstash REST reply bodies -> RespValue: envelopes, base64 rules, fail-closed shapes,
// bounds, owned bytes, and the round trip through reply_json's renderer.
#include "proxy/codec/upstash_reply.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "proxy/codec/reply_json.h"

namespace kw::proxy::codec {
namespace {

using namespace std::literals;  // NOLINT(google-build-using-namespace)
using V = RespValue;
using Shape = UpstashBodyShape;

Result<UpstashReply> parse(std::string_view body, bool base64 = false, RespLimits limits = {}) {
  return parseUpstashReply(body, Shape::Single, 0, base64, limits);
}

// The one value of a Single body that must parse.
V one(std::string_view body, bool base64 = false) {
  static std::vector<UpstashReply> keep;  // the values' bytes outlive the call
  auto r = parse(body, base64);
  EXPECT_TRUE(r.has_value()) << body << ": " << (r ? "" : r.error().message);
  if (!r) return V::nullArray();
  EXPECT_EQ(r->values.size(), 1u);
  keep.push_back(std::move(*r));
  return keep.back().values.front();
}

// The error message of a body that must fail.
std::string fails(std::string_view body, bool base64 = false, Shape shape = Shape::Single,
                  size_t expected = 0, RespLimits limits = {}) {
  auto r = parseUpstashReply(body, shape, expected, base64, limits);
  EXPECT_FALSE(r.has_value()) << body;
  return r ? "" : r.error().message;
}

TEST(UpstashReply, PlainValues) {
  EXPECT_EQ(one(R"({"result":"bar"})"), V::bulk("bar"));
  EXPECT_EQ(one(R"({"result":""})"), V::bulk(""));
  EXPECT_EQ(one(R"({"result":42})"), V::integerValue(42));
  EXPECT_EQ(one(R"({"result":-0})"), V::integerValue(0));
  EXPECT_EQ(one(R"({"result":9223372036854775807})"), V::integerValue(INT64_MAX));
  EXPECT_EQ(one(R"({"result":-9223372036854775808})"), V::integerValue(INT64_MIN));
  EXPECT_EQ(one(R"({"result":null})"), V::null());
  EXPECT_EQ(one(R"({"result":[]})"), V::array({}));
  EXPECT_EQ(one(R"( { "result" : [ "a" , null , 7 , [ "b" , [ ] ] ] } )"),
            V::array({V::bulk("a"), V::null(), V::integerValue(7),
                      V::array({V::bulk("b"), V::array({})})}));
  EXPECT_EQ(one(R"({"result":"a\"b\\c\n\u00e9\ud83d\ude00\u0000"})"),
            V::bulk(std::string_view("a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80\0", 13)));
  // Plain JSON cannot tell a status from a stored "OK": it stays data.
  EXPECT_EQ(one(R"({"result":"OK"})"), V::bulk("OK"));
  EXPECT_EQ(one(R"({"\u0072esult":1})"), V::integerValue(1));  // keys compare unescaped
}

TEST(UpstashReply, ErrorEnvelopes) {
  EXPECT_EQ(one(R"({"error":"ERR wrong type"})"), V::error("ERR wrong type"));
  EXPECT_EQ(one(R"({"error":""})"), V::error(""));
  // Never base64, even when it would decode.
  EXPECT_EQ(one(R"({"error":"T0s="})", true), V::error("T0s="));
  EXPECT_EQ(one(R"({"error":"NOPERM no"})", true), V::error("NOPERM no"));
}

TEST(UpstashReply, Base64Values) {
  EXPECT_EQ(one(R"({"result":"OK"})", true), V::status("OK"));
  EXPECT_EQ(one(R"({"result":"O\u004b"})", true), V::status("OK"));
  EXPECT_EQ(one(R"({"result":"T0s="})", true), V::bulk("OK"));
  EXPECT_EQ(one(R"({"result":"YmFy"})", true), V::bulk("bar"));
  EXPECT_EQ(one(R"({"result":""})", true), V::bulk(""));
  EXPECT_EQ(one(R"({"result":"AP8="})", true), V::bulk(std::string_view("\0\xff", 2)));
  EXPECT_EQ(one(R"({"result":5})", true), V::integerValue(5));
  EXPECT_EQ(one(R"({"result":null})", true), V::null());
  EXPECT_EQ(one(R"({"result":["Zm9v",null,5,["YmFy",["YmF6",7]],"T0s="]})", true),
            V::array({V::bulk("foo"), V::null(), V::integerValue(5),
                      V::array({V::bulk("bar"), V::array({V::bulk("baz"), V::integerValue(7)})}),
                      V::bulk("OK")}));
  // Nested strings are always encoded: a bare OK there is not base64.
  EXPECT_NE(fails(R"({"result":["OK"]})", true).find("base64"), std::string::npos);
  for (const char* bad : {R"({"result":"YmFy="})", R"({"result":"Zm9"})", R"({"result":"Zh=="})",
                          R"({"result":"Zm9v\n"})", R"({"result":"ok"})", R"({"result":"===="})"}) {
    EXPECT_NE(fails(bad, true).find("base64"), std::string::npos) << bad;
  }
}

TEST(UpstashReply, FailsClosedOnShapes) {
  for (std::string_view body : {""sv,
                                " "sv,
                                "null"sv,
                                "1"sv,
                                R"("OK")"sv,
                                "[]"sv,
                                "{}"sv,
                                R"({"result":1,"error":"x"})"sv,
                                R"({"error":"x","result":1})"sv,
                                R"({"result":1,"result":2})"sv,
                                R"({"value":1})"sv,
                                R"({"result":1,"extra":null})"sv,
                                R"({"error":1})"sv,
                                R"({"error":null})"sv,
                                R"({"error":["x"]})"sv,
                                R"({"result":{"a":1}})"sv,
                                R"({"result":[{}]})"sv,
                                R"({"result":true})"sv,
                                R"({"result":[false]})"sv,
                                R"({"result":1.0})"sv,
                                R"({"result":1e2})"sv,
                                R"({"result":9223372036854775808})"sv,
                                R"({"result":-9223372036854775809})"sv,
                                R"({"result":01})"sv,
                                R"({"result":nul})"sv,
                                R"({"result":"\ud800"})"sv,
                                R"({"result":1} {"result":1})"sv,
                                R"({"result":1}x)"sv,
                                "{\"result\":1}\0"sv,
                                R"({"result":[1,2})"sv,
                                R"({"result":[1,]})"sv,
                                R"({"result":1)"sv,
                                "{\"result\":\"\xff\"}"sv,
                                R"([{"result":1}])"sv}) {
    fails(body);
    fails(body, true);
  }
}

TEST(UpstashReply, ArrayShape) {
  auto r = parseUpstashReply(R"([{"result":"OK"},{"error":"ERR x"},{"result":["YQ=="]}])",
                             Shape::Array, 3, true, {});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->values,
            (std::vector<V>{V::status("OK"), V::error("ERR x"), V::array({V::bulk("a")})}));
  // Each element is a top-level value: its OK is the exemption's.
  r = parseUpstashReply(R"([{"result":"OK"},{"result":"OK"}])", Shape::Array, 2, true, {});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->values, (std::vector<V>{V::status("OK"), V::status("OK")}));
  r = parseUpstashReply(" [ ] ", Shape::Array, 0, false, {});
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->values.empty());

  const char* two = R"([{"result":1},{"result":2}])";
  EXPECT_EQ(fails(two, false, Shape::Array, 3),
            "upstash reply: fewer envelopes than commands sent");
  EXPECT_EQ(fails(two, false, Shape::Array, 1), "upstash reply: more envelopes than commands sent");
  for (const char* body :
       {R"({"result":1})", R"([1])", R"([[{"result":1}]])", R"([null])", R"([{"result":1},])",
        R"([{"result":1}] [])", R"([{"result":1})", R"([{}])"}) {
    fails(body, false, Shape::Array, 1);
  }
}

TEST(UpstashReply, Bounds) {
  RespLimits lim;
  lim.max_reply_bytes = 12;
  EXPECT_TRUE(parse(R"({"result":1})", false, lim).has_value());
  auto r = parseUpstashReply(R"({"result":12})", Shape::Single, 0, false, lim);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::TooLarge);
  EXPECT_EQ(r.error().message, "upstash reply: body bytes over the limit of 12");

  // Values: arrays and elements, over every envelope of the body.
  lim = RespLimits{};
  lim.max_values = 4;
  EXPECT_TRUE(parse(R"({"result":[1,[2]]})", false, lim).has_value());
  EXPECT_EQ(fails(R"({"result":[1,[2,3]]})", false, Shape::Single, 0, lim),
            "upstash reply: values over the limit of 4");
  EXPECT_TRUE(parseUpstashReply(R"([{"result":[1]},{"error":"x"},{"result":null}])", Shape::Array,
                                3, false, lim)
                  .has_value());
  fails(R"([{"result":[1]},{"error":"x"},{"result":[null]}])", false, Shape::Array, 3, lim);

  // Depth: a top-level scalar is 0, each array one more; the Array shape's brackets do not count.
  lim = RespLimits{};
  lim.max_depth = 2;
  EXPECT_TRUE(parse(R"({"result":[[1],[]]})", false, lim).has_value());
  EXPECT_TRUE(parseUpstashReply(R"([{"result":[[]]}])", Shape::Array, 1, false, lim).has_value());
  EXPECT_EQ(fails(R"({"result":[[[]]]})", false, Shape::Single, 0, lim),
            "upstash reply: array nesting over the limit of 2");
  lim.max_depth = 0;
  EXPECT_TRUE(parse(R"({"result":"a"})", false, lim).has_value());
  fails(R"({"result":[]})", false, Shape::Single, 0, lim);
  // Never deeper than 512, whatever is asked.
  lim.max_depth = UINT32_MAX;
  std::string deep = R"({"result":)" + std::string(512, '[') + std::string(512, ']') + "}";
  EXPECT_TRUE(parse(deep, false, lim).has_value());
  deep = R"({"result":)" + std::string(513, '[') + std::string(513, ']') + "}";
  EXPECT_EQ(fails(deep, false, Shape::Single, 0, lim),
            "upstash reply: array nesting over the limit of 512");

  // Strings, once decoded.
  lim = RespLimits{};
  lim.max_bulk_bytes = 3;
  EXPECT_TRUE(parse(R"({"result":"YmFy"})", true, lim).has_value());
  EXPECT_TRUE(parse(R"({"result":"\u00e9a"})", false, lim).has_value());
  fails(R"({"result":"YmFyeg=="})", true, Shape::Single, 0, lim);
  fails(R"({"error":"ERR x"})", false, Shape::Single, 0, lim);
}

TEST(UpstashReply, MessagesNeverQuoteTheBody) {
  for (const char* body : {R"({"secret-key":1})", R"({"result":"secret-value"})",
                           R"({"result":[secret]})", R"({"error":"x"} secret)"}) {
    const std::string msg = fails(body, true);
    EXPECT_TRUE(msg.starts_with("upstash reply: ")) << msg;
    EXPECT_EQ(msg.find("secret"), std::string::npos) << msg;
  }
}

TEST(UpstashReply, OwnsItsBytesAcrossMovesAndLaterParses) {
  std::string body = R"([{"result":["Zm9v","YmFy"]},{"error":"ERR e"},{"result":"OK"}])";
  auto r = parseUpstashReply(body, Shape::Array, 3, true, {});
  ASSERT_TRUE(r.has_value());
  UpstashReply moved = std::move(*r);
  body.assign(body.size(), 'x');  // the input is gone
  // Another parse reuses the per-thread buffer and the parser's string buffer.
  ASSERT_TRUE(parse(R"({"result":["cXV4","cXV4"]})", true).has_value());
  std::vector<UpstashReply> many;
  many.push_back(std::move(moved));
  many.resize(100);  // reallocates the vector of replies
  EXPECT_EQ(many[0].values, (std::vector<V>{V::array({V::bulk("foo"), V::bulk("bar")}),
                                            V::error("ERR e"), V::status("OK")}));
}

TEST(UpstashReply, LargeBodyBeyondTheReusedBuffer) {
  const std::string big(3 << 20, 'a');  // base64 of 2.25 MiB
  const std::string body = R"({"result":[")" + big + R"(",1]})";
  auto r = parse(body, true);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->values[0].elements.size(), 2u);
  EXPECT_EQ(r->values[0].elements[0].str.size(), big.size() / 4 * 3);
  EXPECT_EQ(r->values[0].elements[1], V::integerValue(1));
}

// What parsing appendEnvelope's output gives back: nested errors were rendered as strings; a
// top-level status is Status only for base64 "OK"; NullArray renders as null.
V expectedBack(const V& v, bool base64, bool top_level) {
  switch (v.type) {
    case RespType::Status:
      return base64 && top_level && v.str == "OK" ? v : V::bulk(v.str);
    case RespType::Error:
      return top_level ? v : V::bulk(v.str);
    case RespType::NullArray:
      return V::null();
    case RespType::Array: {
      std::vector<V> e;
      for (const V& x : v.elements) e.push_back(expectedBack(x, base64, false));
      return V::array(std::move(e));
    }
    default:
      return v;
  }
}

TEST(UpstashReply, RoundTripsTheRenderer) {
  const std::vector<V> replies = {
      V::status("OK"),
      V::bulk("OK"),
      V::status("PONG"),
      V::error("ERR syntax error"),
      V::bulk(std::string_view("\0\x01\"\\\n\x7f \xc3\xa9", 10)),
      V::integerValue(INT64_MIN),
      V::null(),
      V::nullArray(),
      V::array({}),
      V::array({V::status("OK"), V::bulk("OK"), V::error("ERR in lua"), V::nullArray(),
                V::array({V::integerValue(-1), V::bulk("")})}),
  };
  for (bool base64 : {false, true}) {
    const ReplyEncoding enc = base64 ? ReplyEncoding::Base64 : ReplyEncoding::Plain;
    std::string body = "[";
    std::vector<V> want;
    for (const V& v : replies) {
      if (body.size() > 1) body += ",";
      appendEnvelope(body, v, enc);
      want.push_back(expectedBack(v, base64, true));
      auto single = parse(singleReplyJson(v, enc), base64);
      ASSERT_TRUE(single.has_value()) << single.error().message;
      EXPECT_EQ(single->values.front(), want.back()) << singleReplyJson(v, enc);
    }
    body += "]";
    EXPECT_EQ(body, pipelineJson(replies, enc));
    auto all = parseUpstashReply(body, Shape::Array, replies.size(), base64, {});
    ASSERT_TRUE(all.has_value()) << all.error().message;
    EXPECT_EQ(all->values, want) << body;
  }
}

}  // namespace
}  // namespace kw::proxy::codec
