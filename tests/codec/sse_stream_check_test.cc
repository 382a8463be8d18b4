// Tests for the check of a REST upstream's SSE stream: only this subscription's events pass,
// whole lines only, however the bytes are chunked.
#include "proxy/codec/sse_stream_check.h"

#include <gtest/gtest.h>

#include <string>

namespace kw::proxy::codec {
namespace {

struct Fed {
  bool ok = false;
  std::string out;
};

Fed feedAll(SseStreamCheck& c, std::string_view in, size_t step = 0) {
  Fed f;
  f.ok = true;
  if (step == 0) step = in.size() == 0 ? 1 : in.size();
  for (size_t pos = 0; pos < in.size() && f.ok; pos += step) {
    f.ok = c.feed(in.substr(pos, step), f.out);
  }
  return f;
}

TEST(SseStreamCheck, AChannelsOwnEventsPassWholeLinesOnlyHowEverChunked) {
  const std::string stream =
      "data: subscribe,chat,1\n\n"
      ": keep-alive\n\n"
      "data: message,chat,hello, world\n\n"
      "data: message,chat,\n\n"
      "data: unsubscribe,chat,0\n\n";
  for (size_t step : {0, 1, 3, 7}) {
    SseStreamCheck c(false, "chat", 1024);
    const Fed f = feedAll(c, stream, step);
    EXPECT_TRUE(f.ok) << step << ": " << (c.error() ? c.error() : "");
    EXPECT_EQ(f.out, stream) << step;
  }
  SseStreamCheck c(false, "chat", 1024);
  std::string out;
  ASSERT_TRUE(c.feed("data: message,chat,par", out));
  EXPECT_EQ(out, "") << "a partial line went out";
  ASSERT_TRUE(c.feed("tial\r\n", out));
  EXPECT_EQ(out, "data: message,chat,partial\r\n");
}

TEST(SseStreamCheck, AnotherChannelsEventEndsTheStreamAndNothingOfItGoesOut) {
  for (const char* bad : {"data: message,secret,the payroll\n", "data: subscribe,chat2,1\n",
                          "data: message,cha,x\n", "data: pmessage,chat,chat,x\n"}) {
    SseStreamCheck c(false, "chat", 1024);
    std::string out;
    EXPECT_TRUE(c.feed("data: message,chat,ok\n", out));
    EXPECT_FALSE(c.feed(bad, out)) << bad;
    EXPECT_EQ(out, "data: message,chat,ok\n") << bad;
    EXPECT_FALSE(c.feed("data: message,chat,later\n", out)) << "a failed check passed again";
    EXPECT_EQ(out, "data: message,chat,ok\n");
  }
  SseStreamCheck c(false, "chat", 1024);
  std::string out;
  EXPECT_FALSE(c.feed("data: message,secret,x\n", out));
  EXPECT_STREQ(c.error(), "upstream stream sent an event of another channel");
}

TEST(SseStreamCheck, LinesThatAreNotEventsOfThisSubscriptionFail) {
  for (const char* bad :
       {"event: error\n", "id: 1\n", "retry: 10\n", "data:message,chat,x\n", "data: hello\n",
        "data: message\n", "data: message,chat\n", "data: subscribe,chat,one\n",
        "data: subscribe,chat,\n", "data: pong,chat,x\n", "data: psubscribe,chat,1\n", "junk\n",
        "data: subscribe,chat,1,2\n", "data: MESSAGE,chat,x\n",
        "data: message,chat,x\rdata: message,secret,y\n", ": ok\r\r\n"}) {
    SseStreamCheck c(false, "chat", 1024);
    std::string out;
    EXPECT_FALSE(c.feed(bad, out)) << bad;
    EXPECT_EQ(out, "") << bad;
    EXPECT_NE(c.error(), nullptr);
  }
}

TEST(SseStreamCheck, APatternsEventsNameThePatternAndAChannel) {
  const std::string ok =
      "data: psubscribe,news.*,1\n\ndata: pmessage,news.*,news.eu,a,b\n\n"
      "data: punsubscribe,news.*,0\n\n";
  SseStreamCheck c(true, "news.*", 1024);
  const Fed f = feedAll(c, ok, 5);
  EXPECT_TRUE(f.ok);
  EXPECT_EQ(f.out, ok);
  for (const char* bad : {"data: pmessage,other.*,news.eu,x\n", "data: pmessage,news.*\n",
                          "data: pmessage,news.*,vic:secret,LEAK\n",
                          "data: pmessage,news.*,new,x\n", "data: pmessage,news.*,news.eu\n",
                          "data: message,news.*,x\n", "data: subscribe,news.*,1\n"}) {
    SseStreamCheck p(true, "news.*", 1024);
    std::string out;
    EXPECT_FALSE(p.feed(bad, out)) << bad;
  }
}

TEST(SseStreamCheck, ALineIsBoundedWhetherItArrivesWholeOrInPieces) {
  const std::string big = "data: message,chat," + std::string(100, 'x') + "\n";
  SseStreamCheck whole(false, "chat", 64);
  std::string out;
  EXPECT_FALSE(whole.feed(big, out));
  EXPECT_STREQ(whole.error(), "upstream stream sent a line over the reply bound");
  SseStreamCheck pieces(false, "chat", 64);
  bool ok = true;
  for (size_t i = 0; i + 1 < big.size() && ok; i += 10) ok = pieces.feed(big.substr(i, 10), out);
  EXPECT_FALSE(ok) << "a line without its end grew past the bound";
  EXPECT_EQ(out, "");
  SseStreamCheck fits(false, "chat", 64);
  EXPECT_TRUE(fits.feed("data: message,chat," + std::string(45, 'x') + "\n", out));
}

}  // namespace
}  // namespace kw::proxy::codec
