// encodeRestUpstreamRequest: the exact bytes keyward sends to an Upstash REST endpoint.
#include "proxy/codec/rest_upstream_request.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec/http_request_parser.h"

namespace kw::proxy::codec {
namespace {

const RestTarget kUpstash{"eu1.upstash.io", 443, true, "", "tok"};

std::string encode(const RestTarget& to, RestRoute route,
                   const std::vector<std::vector<std::string_view>>& cmds,
                   std::string_view channel = {}, const HeaderList& headers = {}) {
  std::vector<Argv> argvs(cmds.begin(), cmds.end());
  auto r = encodeRestUpstreamRequest(to, route, argvs, channel, headers);
  EXPECT_TRUE(r.has_value());
  return r ? *r : std::string();
}

TEST(RestUpstreamRequestTest, CommandIsOnePostOfAJsonArray) {
  EXPECT_EQ(encode(kUpstash, RestRoute::Command, {{"GET", "a"}}),
            "POST / HTTP/1.1\r\nHost: eu1.upstash.io\r\nAuthorization: Bearer tok\r\n"
            "Content-Type: application/json\r\nContent-Length: 11\r\n"
            "Connection: keep-alive\r\n\r\n[\"GET\",\"a\"]");
}

TEST(RestUpstreamRequestTest, PipelineAndTransactionPathsUnderTheBasePath) {
  const RestTarget to{"h", 443, true, "/v2", "t"};
  const std::string p = encode(to, RestRoute::Pipeline, {{"SET", "a", "1"}, {"GET", "a"}});
  EXPECT_EQ(p.rfind("POST /v2/pipeline HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(p.find("\r\n\r\n[[\"SET\",\"a\",\"1\"],[\"GET\",\"a\"]]"), std::string::npos);
  const std::string m = encode(to, RestRoute::MultiExec, {{"INCR", "n"}});
  EXPECT_EQ(m.rfind("POST /v2/multi-exec HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(m.find("\r\n\r\n[[\"INCR\",\"n\"]]"), std::string::npos);
}

TEST(RestUpstreamRequestTest, ArgumentsAreJsonEscaped) {
  const std::string r =
      encode(kUpstash, RestRoute::Command, {{"SET", "q\"\\\n\x01", "caf\xc3\xa9"}});
  EXPECT_NE(r.find(R"(["SET","q\"\\\n\u0001","café"])"), std::string::npos);
}

TEST(RestUpstreamRequestTest, NonUtf8ArgumentIsRefused) {
  const std::vector<std::string_view> argv{"SET", "k", "\x80\xff"};
  const Argv one(argv);
  auto r = encodeRestUpstreamRequest(kUpstash, RestRoute::Command, {&one, 1}, {}, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("not valid UTF-8"), std::string::npos);
}

TEST(RestUpstreamRequestTest, BodyOverTheBoundIsRefusedBeforeItIsBuilt) {
  RestTarget small = kUpstash;
  small.max_body_bytes = 40;
  const std::string control(10, '\x01');  // 60 bytes once escaped
  const std::vector<std::string_view> big{"SET", "k", control};
  const Argv big_argv(big);
  auto refused = encodeRestUpstreamRequest(small, RestRoute::Command, {&big_argv, 1}, {}, {});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::TooLarge);
  const std::vector<std::string_view> fits{"SET", "k", "aaaaaaaaaa"};  // 22 bytes
  const Argv fits_argv(fits);
  EXPECT_TRUE(encodeRestUpstreamRequest(small, RestRoute::Command, {&fits_argv, 1}, {}, {}));
}

TEST(RestUpstreamRequestTest, SubscribeChannelIsOnePercentEncodedSegment) {
  const std::string r =
      encode(kUpstash, RestRoute::Subscribe, {{"SUBSCRIBE", "x"}}, "a/b c%?#é:@+");
  EXPECT_EQ(r.rfind("POST /subscribe/a%2Fb%20c%25%3F%23%C3%A9:@+ HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(r.find("Accept: text/event-stream\r\n"), std::string::npos);
  EXPECT_NE(r.find("Content-Length: 0\r\n"), std::string::npos);
  const std::string p = encode(kUpstash, RestRoute::PSubscribe, {{"PSUBSCRIBE", "x"}}, "n*");
  EXPECT_EQ(p.rfind("POST /psubscribe/n* HTTP/1.1\r\n", 0), 0u);
}

TEST(RestUpstreamRequestTest, HostNamesThePortOnlyWhenNotTheDefault) {
  EXPECT_EQ(hostHeaderValue("h", 443, true), "h");
  EXPECT_EQ(hostHeaderValue("h", 80, false), "h");
  EXPECT_EQ(hostHeaderValue("h", 80, true), "h:80");
  EXPECT_EQ(hostHeaderValue("h", 443, false), "h:443");
  EXPECT_EQ(hostHeaderValue("::1", 8443, true), "[::1]:8443");
  EXPECT_EQ(hostHeaderValue("fe80::2", 443, true), "[fe80::2]");
}

TEST(RestUpstreamRequestTest, PassthroughHeadersComeBeforeTheBlankLine) {
  const std::string r = encode(kUpstash, RestRoute::Command, {{"GET", "a"}}, {},
                               {{"upstash-encoding", "base64"}, {"upstash-sync-token", "9"}});
  const size_t blank = r.find("\r\n\r\n");
  EXPECT_LT(r.find("upstash-encoding: base64\r\n"), blank);
  EXPECT_LT(r.find("upstash-sync-token: 9\r\n"), blank);
}

TEST(RestUpstreamRequestTest, KeywardsParserReadsItBack) {
  const std::string r = encode(kUpstash, RestRoute::Pipeline, {{"SET", "k", "v v"}, {"GET", "k"}});
  HttpRequestParser parser;
  size_t head = 0, body = 0;
  ASSERT_EQ(parser.feed(r, &head), ParseStatus::HeadComplete);
  ASSERT_EQ(parser.feed(std::string_view(r).substr(head), &body), ParseStatus::Complete);
  EXPECT_EQ(head + body, r.size());
  auto back = decodeRestRequest(parser);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  ASSERT_EQ(back->commandCount(), 2u);
  EXPECT_EQ(back->command(0)[2], "v v");
  EXPECT_EQ(back->command(1)[0], "GET");
}

}  // namespace
}  // namespace kw::proxy::codec
