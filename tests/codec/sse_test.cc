// Tests for SSE framing of pub/sub pushes: event grammar, raw payloads, newline handling.
#include "proxy/codec/sse.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy/codec/resp_parser.h"

namespace kw::proxy::codec {
namespace {

using V = RespValue;

std::string event(const V& push, SseNewlines mode = SseNewlines::Escape) {
  std::string out;
  const Status s = appendSseEvent(out, push, mode);
  EXPECT_TRUE(s.has_value());
  return out;
}

V arr3(std::string_view kind, std::string_view a, int64_t n) {
  return V::array({V::bulk(kind), V::bulk(a), V::integerValue(n)});
}

V msg(std::string_view ch, std::string_view payload) {
  return V::array({V::bulk("message"), V::bulk(ch), V::bulk(payload)});
}

TEST(Sse, SubscribeAndMessages) {
  EXPECT_EQ(event(arr3("subscribe", "chat", 1)), "data: subscribe,chat,1\n\n");
  EXPECT_EQ(event(msg("chat", "hello")), "data: message,chat,hello\n\n");
  EXPECT_EQ(event(msg("chat", "how are you today?")), "data: message,chat,how are you today?\n\n");
}

TEST(Sse, PatternEvents) {
  EXPECT_EQ(event(arr3("psubscribe", "user:*", 1)), "data: psubscribe,user:*,1\n\n");
  EXPECT_EQ(event(V::array({V::bulk("pmessage"), V::bulk("user:*"), V::bulk("user:42"),
                            V::bulk("{\"a\":1,\"b\":[1,2]}")})),
            "data: pmessage,user:*,user:42,{\"a\":1,\"b\":[1,2]}\n\n");
}

TEST(Sse, UnsubscribeVariantsIncludingNil) {
  EXPECT_EQ(event(arr3("unsubscribe", "chat", 0)), "data: unsubscribe,chat,0\n\n");
  EXPECT_EQ(event(arr3("punsubscribe", "a*", 2)), "data: punsubscribe,a*,2\n\n");
  EXPECT_EQ(event(V::array({V::bulk("unsubscribe"), V::null(), V::integerValue(0)})),
            "data: unsubscribe,,0\n\n");
}

TEST(Sse, PayloadCommasAndBinaryAreRaw) {
  EXPECT_EQ(event(msg("c", "a,b,,c")), "data: message,c,a,b,,c\n\n");
  const std::string bin("\x00\xff\x01 ok", 6);
  EXPECT_EQ(event(msg("c", bin)), "data: message,c," + bin + "\n\n");
  EXPECT_EQ(event(msg("c", "")), "data: message,c,\n\n");
  // Never base64: "OK"-like and JSON payloads go out verbatim.
  EXPECT_EQ(event(msg("c", "really?")), "data: message,c,really?\n\n");
}

TEST(Sse, NewlinesEscapedByDefaultSoEventsCannotBeForged) {
  const std::string evil = "x\ndata: message,admin,forged\r\ny";
  const std::string out = event(msg("c", evil));
  EXPECT_EQ(out, "data: message,c,x\\ndata: message,admin,forged\\r\\ny\n\n");
  // Exactly one "data: " line and one terminating blank line.
  EXPECT_EQ(out.find('\n'), out.size() - 2);
  EXPECT_EQ(event(msg("a\nb", "p")), "data: message,a\\nb,p\n\n");
}

TEST(Sse, MultiLineModeSplitsDataLines) {
  EXPECT_EQ(event(msg("c", "l1\nl2\r\nl3\rl4"), SseNewlines::MultiLine),
            "data: message,c,l1\ndata: l2\ndata: l3\ndata: l4\n\n");
  EXPECT_EQ(event(msg("c", "end\n"), SseNewlines::MultiLine), "data: message,c,end\ndata: \n\n");
}

TEST(Sse, PongWithAndWithoutPayload) {
  EXPECT_EQ(event(V::array({V::bulk("pong"), V::bulk("")})), "data: pong,\n\n");
  EXPECT_EQ(event(V::array({V::bulk("pong"), V::bulk("hb")})), "data: pong,hb\n\n");
  EXPECT_EQ(event(V::array({V::bulk("pong")})), "data: pong\n\n");
}

TEST(Sse, StatusStringsAndUpperCaseKindsAccepted) {
  EXPECT_EQ(event(V::array({V::status("MESSAGE"), V::status("c"), V::bulk("p")})),
            "data: message,c,p\n\n");
}

TEST(Sse, NonPushRepliesRejectedWithoutOutput) {
  for (const V& bad :
       {V::error("NOPERM this user has no permissions to access one of the "
                 "channels used as arguments"),
        V::status("OK"), V::null(), V::array({}), V::array({V::bulk("message"), V::bulk("c")}),
        V::array({V::bulk("message"), V::bulk("c"), V::integerValue(1)}),
        V::array({V::bulk("subscribe"), V::bulk("c"), V::bulk("1")}),
        V::array({V::bulk("subscribe"), V::null(), V::integerValue(1)}),
        V::array({V::bulk("smessage"), V::bulk("c"), V::bulk("p")}),
        V::array({V::integerValue(1), V::bulk("c"), V::bulk("p")}),
        V::array({V::bulk("pmessage"), V::bulk("p"), V::bulk("c")})}) {
    std::string out = "keep";
    EXPECT_FALSE(appendSseEvent(out, bad).has_value()) << respTypeName(bad.type);
    EXPECT_EQ(out, "keep");
  }
}

TEST(Sse, ClassifyPush) {
  auto ev =
      classifyPush(V::array({V::bulk("pmessage"), V::bulk("p*"), V::bulk("pc"), V::bulk("data")}));
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->kind, PushKind::PMessage);
  EXPECT_EQ(ev->pattern, "p*");
  EXPECT_EQ(ev->channel, "pc");
  EXPECT_EQ(ev->payload, "data");
  ev = classifyPush(arr3("subscribe", "ch", 3));
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->kind, PushKind::Subscribe);
  EXPECT_EQ(ev->count, 3);
}

TEST(Sse, ParsedFromWire) {
  auto v = parseReply("*3\r\n$7\r\nmessage\r\n$4\r\nchat\r\n$5\r\nhello\r\n");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(event(*v), "data: message,chat,hello\n\n");
}

TEST(Sse, DataAndComment) {
  std::string out;
  appendSseData(out, "\"OK\"");
  appendSseComment(out, "keep-alive\nx");
  appendSseData(out, "a\nb", SseNewlines::MultiLine);
  EXPECT_EQ(out, "data: \"OK\"\n\n: keep-alive x\n\ndata: a\ndata: b\n\n");
}

}  // namespace
}  // namespace kw::proxy::codec
