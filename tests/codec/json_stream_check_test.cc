// Tests for the streamed REST reply check: Upstash envelopes (one, or an array of them) and
// UTF-8 inside strings as RFC 3629 has it.
#include "proxy/codec/json_stream_check.h"

#include <gtest/gtest.h>

#include <string>

namespace kw::proxy::codec {
namespace {

bool whole(std::string_view body, JsonShape shape = JsonShape::Envelope) {
  JsonStreamCheck c(shape);
  return c.feed(body) && c.complete();
}

bool wholeArray(std::string_view body) { return whole(body, JsonShape::EnvelopeArray); }

TEST(JsonStreamCheck, Utf8IsCheckedAsRfc3629HasIt) {
  // Valid: 2, 3 and 4 bytes, the edges of each range.
  for (const char* ok : {"\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
                         "\xf0\x90\x80\x80", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_TRUE(whole(std::string("{\"result\":\"") + ok + "\"}")) << ok;
  }
  // Overlong forms, surrogates, past U+10FFFF, stray continuation bytes, bad leads.
  for (const char* bad : {"\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80",
                          "\xed\xbf\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf",
                          "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\x80", "\xe2\x82"}) {
    EXPECT_FALSE(whole(std::string("{\"result\":\"") + bad + "\"}")) << bad;
  }
}

TEST(JsonStreamCheck, AWholeObjectAndNothingAfterIt) {
  EXPECT_TRUE(whole(" {\"result\":[1,{\"a\":\"\\u00e9\"}]} \n"));
  EXPECT_FALSE(whole("{\"result\":1}{\"result\":2}"));
  EXPECT_FALSE(whole("{\"result\":\"x}"));
  EXPECT_FALSE(whole("[1]"));
  EXPECT_FALSE(whole("{\"result\":\"\\x\"}"));
}

// The shape checkUpstashBody asks of a held reply, so a reply's size does not change what
// passes (attack round 23: streamed pipeline slots were only counted).
TEST(JsonStreamCheck, AnEnvelopeHoldsExactlyOneResultOrAStringError) {
  for (const char* ok : {R"({"result":1})", R"({ "result" : null })", R"({"result":"x"})",
                         R"({"result":[1,{"result":2,"x":[]}]})", R"({"error":"ERR x"})",
                         R"({"result":{}})", "{\"result\":true\n}"}) {
    EXPECT_TRUE(whole(ok)) << ok;
  }
  for (const char* bad :
       {"{}", R"({"foo":1})", R"({"result":1,"error":"x"})", R"({"result":1,})", R"({"error":5})",
        R"({"error":["x"]})", R"({"result":1 2})", R"({"result"})", R"({"result":})",
        R"({"res\u0075lt":1})", R"({"results":1})", R"({"resul":1})", R"({"result"::1})",
        R"({"result":1:2})", R"({:1})", R"({"result":1]})"}) {
    EXPECT_FALSE(whole(bad)) << bad;
  }
}

// Attack round 25: commas and colons inside a value were not read, so `["x",]` and
// `{"a" "x"}` passed past 256 KiB where a held reply was refused.
TEST(JsonStreamCheck, SeparatorsInsideValuesAreChecked) {
  for (const char* ok :
       {R"({"result":[]})", R"({"result":{}})", R"({"result":[1,"a",[2,{"b":null}],true]})",
        R"({"result":{"a":1,"b":[ 1 , 2 ],"c":{"d":"e"}}})", "{\"result\":[ 1 ,\n 2 ]}",
        R"({"result":[-1.5e3,0]})"}) {
    EXPECT_TRUE(whole(ok)) << ok;
  }
  for (const char* bad :
       {R"({"result":["x",]})", R"({"result":[,"x"]})", R"({"result":["x",,1]})",
        R"({"result":["x" 1]})", R"({"result":{"a" "x"}})", R"({"result":{"a":"x",}})",
        R"({"result":{"a"}})", R"({"result":{"a":}})", R"({"result":{:1}})", R"({"result":{1:2}})",
        R"({"result":[1:2]})", R"({"result":{"a"::1}})", R"({"result":["a"]]})",
        R"({"result":{"a":1]})", R"({"result":[1 2]})", R"({"result":[{}{}]})",
        R"({"result":["a""b"]})"}) {
    EXPECT_FALSE(whole(bad)) << bad;
  }
  EXPECT_FALSE(wholeArray(R"([{"result":[1,]}])"));
}

TEST(JsonStreamCheck, AnArrayHoldsEnvelopesOnly) {
  for (const char* ok : {"[]", "[ ]", R"([{"result":1}])", R"([{"result":1},{"error":"e"}])",
                         " [ {\"result\":[\"a\"]} ,\n{\"result\":null} ] "}) {
    EXPECT_TRUE(wholeArray(ok)) << ok;
  }
  for (const char* bad :
       {"[1]", R"(["x"])", "[null]", R"([[{"result":1}]])", R"([{"result":1},])",
        R"([,{"result":1}])", R"([{"result":1}{"result":2}])", R"([{"result":1},,{"result":2}])",
        R"([{"result":1,"x":1}])", R"([{"result":1,"error":"e"}])", R"([{}])", R"({"result":1})",
        R"([{"result":1}]])"}) {
    EXPECT_FALSE(wholeArray(bad)) << bad;
  }
  EXPECT_FALSE(whole("[]")) << "a single reply is one envelope";
}

}  // namespace
}  // namespace kw::proxy::codec
