// Tests for reply -> Upstash JSON: envelopes, base64 rules, escaping, UTF-8 repair, pipelines.
#include "proxy/codec/reply_json.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "proxy/codec/base64.h"
#include "proxy/codec/json_escape.h"
#include "proxy/codec/resp_parser.h"

namespace kw::proxy::codec {
namespace {

using V = RespValue;

constexpr auto kPlain = ReplyEncoding::Plain;
constexpr auto kB64 = ReplyEncoding::Base64;

// Asserts the text is valid JSON; returns it.
std::string valid(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(json).get(root), simdjson::SUCCESS) << json.substr(0, 300);
  return json;
}

std::string single(const V& v, ReplyEncoding enc) { return valid(singleReplyJson(v, enc)); }

// The JSON string literal `s` encodes, decoded by simdjson.
std::string decodedString(const std::string& json_string) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json_string);
  std::string_view sv;
  EXPECT_EQ(parser.parse(padded).get_string().get(sv), simdjson::SUCCESS) << json_string;
  return std::string(sv);
}

std::string jsonStr(std::string_view s) {
  std::string out;
  appendJsonString(out, s);
  return out;
}

TEST(ReplyJson, SetAndGet) {
  EXPECT_EQ(single(V::status("OK"), kPlain), R"({"result":"OK"})");
  EXPECT_EQ(single(V::status("OK"), kB64), R"({"result":"OK"})");
  EXPECT_EQ(single(V::bulk("bar"), kPlain), R"({"result":"bar"})");
  EXPECT_EQ(single(V::bulk("bar"), kB64), R"({"result":"YmFy"})");
}

TEST(ReplyJson, NilIntegersEmpty) {
  EXPECT_EQ(single(V::null(), kPlain), R"({"result":null})");
  EXPECT_EQ(single(V::nullArray(), kB64), R"({"result":null})");
  EXPECT_EQ(single(V::integerValue(0), kB64), R"({"result":0})");
  EXPECT_EQ(single(V::bulk(""), kPlain), R"({"result":""})");
  EXPECT_EQ(single(V::bulk(""), kB64), R"({"result":""})");
  EXPECT_EQ(single(V::array({}), kB64), R"({"result":[]})");
}

TEST(ReplyJson, BigIntegersExactDigits) {
  EXPECT_EQ(single(V::integerValue(INT64_MAX), kB64), R"({"result":9223372036854775807})");
  EXPECT_EQ(single(V::integerValue(INT64_MIN), kPlain), R"({"result":-9223372036854775808})");
  EXPECT_EQ(single(V::integerValue(9007199254740993), kPlain), R"({"result":9007199254740993})");
}

TEST(ReplyJson, StatusRepliesOtherThanOkAreEncoded) {
  EXPECT_EQ(single(V::status("PONG"), kB64), R"({"result":"UE9ORw=="})");
  EXPECT_EQ(single(V::status("QUEUED"), kB64), R"({"result":"UVVFVUVE"})");
  EXPECT_EQ(single(V::status("string"), kB64), R"({"result":"c3RyaW5n"})");
  EXPECT_EQ(single(V::status("ok"), kB64), R"({"result":"b2s="})");  // exemption is exact
  EXPECT_EQ(single(V::status("PONG"), kPlain), R"({"result":"PONG"})");
}

TEST(ReplyJson, BulkOkAndFloatsAreEncoded) {
  EXPECT_EQ(single(V::bulk("OK"), kB64), R"({"result":"T0s="})");
  EXPECT_EQ(single(V::bulk("3.5"), kB64), R"({"result":"My41"})");
  EXPECT_EQ(single(V::bulk("3.5"), kPlain), R"({"result":"3.5"})");
}

V capturedNested() {
  return V::array({V::bulk("foo"), V::null(), V::integerValue(5),
                   V::array({V::bulk("bar"), V::array({V::bulk("baz"), V::integerValue(7)})}),
                   V::status("OK")});
}

TEST(ReplyJson, NestedArraysBase64IncludingNestedOk) {
  EXPECT_EQ(single(capturedNested(), kB64),
            R"({"result":["Zm9v",null,5,["YmFy",["YmF6",7]],"T0s="]})");
  EXPECT_EQ(single(capturedNested(), kPlain),
            R"({"result":["foo",null,5,["bar",["baz",7]],"OK"]})");
  EXPECT_EQ(single(V::array({V::array({V::status("OK")})}), kB64), R"({"result":[["T0s="]]})");
}

TEST(ReplyJson, ErrorsAreNeverEncoded) {
  const V e = V::error("ERR wrong number of arguments for 'get' command");
  EXPECT_EQ(single(e, kB64), R"({"error":"ERR wrong number of arguments for 'get' command"})");
  EXPECT_EQ(single(e, kPlain), R"({"error":"ERR wrong number of arguments for 'get' command"})");
  EXPECT_EQ(single(V::error("NOSCRIPT No matching script. Please use EVAL."), kB64),
            R"({"error":"NOSCRIPT No matching script. Please use EVAL."})");
}

TEST(ReplyJson, NestedErrorIsAString) {
  const V v = V::array({V::integerValue(1), V::error("ERR inner")});
  EXPECT_EQ(single(v, kPlain), R"({"result":[1,"ERR inner"]})");
  EXPECT_EQ(single(v, kB64), R"({"result":[1,"RVJSIGlubmVy"]})");
}

TEST(ReplyJson, HttpStatusForSingle) {
  EXPECT_EQ(httpStatusForSingle(V::status("OK")), 200);
  EXPECT_EQ(httpStatusForSingle(V::null()), 200);
  EXPECT_EQ(httpStatusForSingle(V::array({V::error("ERR nested")})), 200);
  EXPECT_EQ(httpStatusForSingle(V::error("ERR x")), 400);
  EXPECT_EQ(httpStatusForSingle(V::error("NOPERM no")), 400);
}

TEST(ReplyJson, ErrorsWithQuotesNewlinesControls) {
  const std::string msg =
      std::string("ERR \"quoted\" back\\slash\nnew\rret\ttab\b\f") + '\0' + "\x01\x1f\x7f end";
  const std::string body = valid(jsonError(msg));
  EXPECT_EQ(body, R"({"error":"ERR \"quoted\" back\\slash\nnew\rret\ttab\b\f\u0000\u0001\u001f)"
                  "\x7f"
                  R"( end"})");
  simdjson::dom::parser parser;
  std::string_view got;
  ASSERT_EQ(parser.parse(body)["error"].get_string().get(got), simdjson::SUCCESS);
  EXPECT_EQ(got, msg);
  EXPECT_EQ(single(V::error(msg), kB64), body);
}

TEST(ReplyJson, EveryControlByteRoundTrips) {
  std::string all;
  for (int c = 0; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  EXPECT_EQ(decodedString(jsonStr(all)), all);
}

TEST(JsonEscape, ValidUtf8PassesThrough) {
  const std::string s = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBF \xF4\x8F\xBF\xBF";
  EXPECT_TRUE(isValidUtf8(s));
  EXPECT_EQ(jsonStr(s), "\"" + s + "\"");
  EXPECT_EQ(decodedString(jsonStr(s)), s);
}

// Expected replacements follow Unicode's maximal-subpart practice (JavaScript TextDecoder).
TEST(JsonEscape, InvalidUtf8BecomesReplacementChar) {
  const std::string R = "\xEF\xBF\xBD";
  struct Case {
    std::string in;
    std::string out;
  };
  const std::vector<Case> cases = {
      {"\xff", R},
      {"a\x80z", "a" + R + "z"},
      {"\xC0\xAF", R + R},                  // overlong lead bytes are never valid
      {"\xE0\x80\x80", R + R + R},          // overlong 3-byte
      {"\xE2\x82", R},                      // truncated at end: one replacement
      {"\xE2\x82x", R + "x"},               // truncated before ASCII
      {"\xED\xA0\x80", R + R + R},          // UTF-16 surrogate
      {"\xF4\x90\x80\x80", R + R + R + R},  // above U+10FFFF
      {"\xF0\x9F\x98", R},                  // truncated emoji
      {"\xF0\x9F\x98\xF0\x9F\x98\x80", R + "\xF0\x9F\x98\x80"},
      {"\xF5\x80", R + R},
      {"\xC3", R},
      {"\xC3\xC3\xA9", R + "\xC3\xA9"},
  };
  for (const Case& c : cases) {
    EXPECT_FALSE(isValidUtf8(c.in));
    EXPECT_EQ(jsonStr(c.in), "\"" + c.out + "\"") << testing::PrintToString(c.in);
    EXPECT_TRUE(isValidUtf8(decodedString(jsonStr(c.in))));
  }
  EXPECT_EQ(single(V::bulk("a\xff"), kPlain), "{\"result\":\"a" + R + "\"}");
}

TEST(JsonEscape, Base64ModeKeepsInvalidUtf8BytesExact) {
  const std::string raw("\xff\xfe\x00\x80", 4);
  const std::string body = single(V::bulk(raw), kB64);
  EXPECT_EQ(body, "{\"result\":\"" + base64Encode(raw) + "\"}");
  EXPECT_EQ(base64Decode(base64Encode(raw)).value(), raw);
}

TEST(ReplyJson, JsonValueAlone) {
  std::string out;
  appendJsonValue(out, capturedNested(), kB64, true);
  EXPECT_EQ(out, R"(["Zm9v",null,5,["YmFy",["YmF6",7]],"T0s="])");
  out.clear();
  appendJsonValue(out, V::status("OK"), kB64, true);
  EXPECT_EQ(out, R"("OK")");
  out.clear();
  appendJsonValue(out, V::status("OK"), kB64, false);
  EXPECT_EQ(out, R"("T0s=")");
  out.clear();
  appendJsonValue(out, V::error("ERR x"), kB64, true);
  EXPECT_EQ(out, R"("ERR x")");
}

TEST(ReplyJson, PipelineDocumentedExample) {
  const std::vector<V> replies = {V::status("OK"), V::status("OK"),
                                  V::error("ERR value is not an int or out of range"),
                                  V::integerValue(2)};
  EXPECT_EQ(valid(pipelineJson(replies, kPlain)),
            R"([{"result":"OK"},{"result":"OK"},{"error":"ERR value is not an int or out of )"
            R"(range"},{"result":2}])");
  EXPECT_EQ(valid(pipelineJson(replies, kB64)), valid(pipelineJson(replies, kPlain)));
}

TEST(ReplyJson, PipelineEachElementIsTopLevel) {
  const std::vector<V> replies = {V::status("OK"), V::status("PONG"), capturedNested()};
  EXPECT_EQ(valid(pipelineJson(replies, kB64)),
            R"([{"result":"OK"},{"result":"UE9ORw=="},)"
            R"({"result":["Zm9v",null,5,["YmFy",["YmF6",7]],"T0s="]}])");
  EXPECT_EQ(pipelineJson({}, kB64), "[]");
}

TEST(ReplyJson, PipelineInlineErrorsSpliced) {
  const std::vector<V> replies = {V::bulk("a"), V::bulk("b")};
  const std::vector<InlineError> errors = {
      {0, "NOPERM this user has no permissions to run the 'flushall' command"},
      {2, "NOPERM this user has no permissions to access the 'x' key"},
      {4, "ERR \"quoted\"\n"}};
  std::string out;
  ASSERT_TRUE(appendPipelineJson(out, replies, errors, kB64).has_value());
  EXPECT_EQ(valid(out),
            R"([{"error":"NOPERM this user has no permissions to run the 'flushall' command"},)"
            R"({"result":"YQ=="},)"
            R"({"error":"NOPERM this user has no permissions to access the 'x' key"},)"
            R"({"result":"Yg=="},{"error":"ERR \"quoted\"\n"}])");
  out.clear();
  const std::vector<InlineError> only = {{0, "NOPERM a"}, {1, "NOPERM b"}};
  ASSERT_TRUE(appendPipelineJson(out, {}, only, kPlain).has_value());
  EXPECT_EQ(out, R"([{"error":"NOPERM a"},{"error":"NOPERM b"}])");
}

TEST(ReplyJson, PipelineInlineErrorsValidated) {
  const std::vector<V> replies = {V::bulk("a")};
  std::string out = "keep";
  const std::vector<InlineError> out_of_range = {{2, "x"}};
  EXPECT_FALSE(appendPipelineJson(out, replies, out_of_range, kPlain).has_value());
  const std::vector<InlineError> unsorted = {{1, "x"}, {0, "y"}};
  EXPECT_FALSE(appendPipelineJson(out, replies, unsorted, kPlain).has_value());
  const std::vector<InlineError> dup = {{0, "x"}, {0, "y"}};
  EXPECT_FALSE(appendPipelineJson(out, replies, dup, kPlain).has_value());
  EXPECT_EQ(out, "keep");
}

TEST(ReplyJson, PipelineWriterIncremental) {
  std::string out;
  PipelineJsonWriter w(out, kB64);
  w.addReply(V::bulk("x"));
  w.addError("NOPERM denied");
  w.addReply(V::error("ERR y"));
  w.finish();
  EXPECT_EQ(w.count(), 3u);
  EXPECT_EQ(valid(out), R"([{"result":"eA=="},{"error":"NOPERM denied"},{"error":"ERR y"}])");
}

TEST(ReplyJson, MultiExec) {
  std::string out;
  const V exec = V::array(
      {V::status("OK"), V::error("ERR not an integer"), V::integerValue(3), V::status("QUEUED")});
  EXPECT_EQ(appendMultiExecJson(out, exec, kB64), 200);
  EXPECT_EQ(valid(out), R"([{"result":"OK"},{"error":"ERR not an integer"},{"result":3},)"
                        R"({"result":"UVVFVUVE"}])");
  out.clear();
  EXPECT_EQ(appendMultiExecJson(out,
                                V::error("EXECABORT Transaction discarded because of "
                                         "previous errors."),
                                kPlain),
            400);
  EXPECT_EQ(out, R"({"error":"EXECABORT Transaction discarded because of previous errors."})");
  out.clear();
  EXPECT_EQ(appendMultiExecJson(out, V::nullArray(), kPlain), 400);
  EXPECT_EQ(valid(out), R"({"error":"EXECABORT Transaction discarded"})");
  out.clear();
  EXPECT_EQ(appendMultiExecJson(out, V::status("OK"), kPlain), 502);
  valid(out);
  out.clear();
  EXPECT_EQ(appendMultiExecJson(out, V::array({}), kPlain), 200);
  EXPECT_EQ(out, "[]");
}

TEST(ReplyJson, TransactionReportsFirstQueueTimeError) {
  std::string out;
  const std::vector<V> ok = {V::status("OK"), V::status("QUEUED"), V::status("QUEUED"),
                             V::array({V::status("OK"), V::integerValue(2)})};
  EXPECT_EQ(appendTransactionJson(out, ok, kB64), 200);
  EXPECT_EQ(out, R"([{"result":"OK"},{"result":2}])");
  out.clear();
  const std::vector<V> aborted = {
      V::status("OK"), V::status("QUEUED"),
      V::error("ERR wrong number of arguments for 'get' command"),
      V::error("ERR unknown command 'nope'"),
      V::error("EXECABORT Transaction discarded because of previous errors.")};
  EXPECT_EQ(appendTransactionJson(out, aborted, kPlain), 400);
  EXPECT_EQ(out, R"({"error":"ERR wrong number of arguments for 'get' command"})");
  out.clear();
  const std::vector<V> multi_failed = {V::error("ERR MULTI calls can not be nested"),
                                       V::status("QUEUED"), V::array({})};
  EXPECT_EQ(appendTransactionJson(out, multi_failed, kPlain), 400);
  EXPECT_EQ(out, R"({"error":"ERR MULTI calls can not be nested"})");
  out.clear();
  const std::vector<V> abort_without_cause = {
      V::status("OK"), V::error("EXECABORT Transaction discarded because of previous errors.")};
  EXPECT_EQ(appendTransactionJson(out, abort_without_cause, kPlain), 400);
  EXPECT_EQ(out, R"({"error":"EXECABORT Transaction discarded because of previous errors."})");
  out.clear();
  EXPECT_EQ(appendTransactionJson(out, std::vector<V>{V::status("OK")}, kPlain), 502);
  valid(out);
}

TEST(ReplyJson, JsonErrorEscapesEverything) {
  EXPECT_EQ(jsonError("NOPERM x"), R"({"error":"NOPERM x"})");
  EXPECT_EQ(valid(jsonError("a\"b\\c\x01\xff")), "{\"error\":\"a\\\"b\\\\c\\u0001\xEF\xBF\xBD\"}");
  EXPECT_EQ(jsonError(""), R"({"error":""})");
}

TEST(ReplyJson, Resp2Passthrough) {
  std::string out;
  appendResp2Passthrough(out, "$3\r\nbar\r\n");
  appendResp2Error(out, "NOPERM no\r\nway");
  appendResp2Passthrough(out, "+OK\r\n");
  EXPECT_EQ(out, "$3\r\nbar\r\n-NOPERM no  way\r\n+OK\r\n");
}

TEST(ReplyJson, FiveMegabyteValues) {
  std::string big(5 << 20, 'a');
  big[100] = '"';
  big[200] = '\n';
  big[300] = '\xff';
  const std::string plain = single(V::bulk(big), kPlain);
  simdjson::dom::parser parser;
  std::string_view got;
  ASSERT_EQ(parser.parse(plain)["result"].get_string().get(got), simdjson::SUCCESS);
  EXPECT_EQ(got.size(), big.size() + 2);  // one byte 0xff -> 3-byte U+FFFD
  const std::string b64 = single(V::bulk(big), kB64);
  ASSERT_EQ(parser.parse(b64)["result"].get_string().get(got), simdjson::SUCCESS);
  EXPECT_EQ(base64Decode(got).value(), big);
}

TEST(ReplyJson, ParsedRepliesEncodeToValidJson) {
  for (std::string_view raw :
       {"+OK\r\n", "-ERR \"x\"\r\n", ":-5\r\n", "$-1\r\n", "*-1\r\n",
        "*3\r\n$2\r\n\xff\xfe\r\n*0\r\n*1\r\n-ERR n\r\n", "$4\r\n\x01\x02\x03\x04\r\n"}) {
    auto v = parseReply(raw);
    ASSERT_TRUE(v.has_value()) << raw;
    single(*v, kPlain);
    single(*v, kB64);
  }
}

// jsonStringSize is exact, and jsonBodySizeBound is never below the body built, for every
// string shape (control bytes grow 6x, invalid UTF-8 becomes U+FFFD, base64 4/3).
TEST(ReplyJson, EncodedSizeBoundIsExactPerValueAndNeverLow) {
  std::vector<std::string> strs = {
      "",         "plain",    std::string(300, '\x01'), "\"\\\n\t\r\b\f",         "caf\xC3\xA9",
      "\xFF\xC3", "\xE2\x82", "\xF0\x9F\x98\x80 ok",    std::string(1000, '\x7F')};
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  strs.push_back(all);
  for (const auto& s : strs) {
    std::string out;
    appendJsonString(out, s);
    EXPECT_EQ(jsonStringSize(s), out.size());
  }
  std::vector<RespValue> elems;
  for (const auto& s : strs) elems.push_back(RespValue::bulk(s));
  elems.push_back(RespValue::status("OK"));
  elems.push_back(RespValue::error("ERR \x01"));
  elems.push_back(RespValue::integerValue(-1234567890123));
  elems.push_back(RespValue::null());
  const std::vector<RespValue> replies = {RespValue::array(elems), RespValue::status("OK"),
                                          RespValue::bulk(all), RespValue::error("ERR x"),
                                          RespValue::nullArray()};
  for (const auto enc : {ReplyEncoding::Plain, ReplyEncoding::Base64}) {
    const uint64_t bound = jsonBodySizeBound(replies, enc);
    EXPECT_GE(bound, pipelineJson(replies, enc).size());
    EXPECT_LE(bound, 2 * pipelineJson(replies, enc).size() + 66 + 32 * elems.size());
    for (const auto& r : replies) {
      EXPECT_GE(jsonBodySizeBound({&r, 1}, enc), singleReplyJson(r, enc).size());
    }
    std::string tx;
    const std::vector<RespValue> txr = {RespValue::status("OK"), RespValue::status("QUEUED"),
                                        RespValue::array(elems)};
    (void)appendTransactionJson(tx, txr, enc);
    EXPECT_GE(jsonBodySizeBound(txr, enc), tx.size());
    // Found by resp_reply_fuzzer: keyward's own texts ("ERR unexpected EXEC reply") can be
    // longer than the reply they replace, and an error inside EXEC's array is a plain
    // envelope even in base64 mode.
    const std::string ctl(50, '\x01');
    for (const RespValue& exec :
         {RespValue::status("OK"), RespValue::array({RespValue::error(ctl)})}) {
      std::string body;
      (void)appendMultiExecJson(body, exec, enc);
      EXPECT_GE(jsonBodySizeBound({&exec, 1}, enc), body.size());
    }
  }
}

}  // namespace
}  // namespace kw::proxy::codec
