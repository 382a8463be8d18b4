// Tests for Upstash REST request decoding: routes, JSON bodies, path style, query, helpers.
#include "proxy/codec/rest_request.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/codec/percent_decode.h"

namespace kw::proxy::codec {
namespace {

using Args = std::vector<std::string>;

Args argvOf(const RestRequest& r, size_t i = 0) {
  Args out;
  for (std::string_view a : r.command(i)) out.emplace_back(a);
  return out;
}

RestRequest ok(HttpMethod m, std::string_view target, std::string_view body = {},
               const RestOptions& opt = {}) {
  Result<RestRequest> r = decodeRestRequest(m, target, body, opt);
  EXPECT_TRUE(r.has_value()) << target << " body=" << body.substr(0, 200) << " -> "
                             << (r ? "" : r.error().message);
  if (!r) return RestRequest();
  return std::move(r).value();
}

RestRequest post(std::string_view target, std::string_view body, const RestOptions& opt = {}) {
  return ok(HttpMethod::Post, target, body, opt);
}

// Decodes and expects an error; returns its HTTP status.
uint16_t fails(HttpMethod m, std::string_view target, std::string_view body = {},
               const RestOptions& opt = {}) {
  Result<RestRequest> r = decodeRestRequest(m, target, body, opt);
  EXPECT_FALSE(r.has_value()) << target << " body=" << body.substr(0, 200);
  if (r) return 0;
  EXPECT_TRUE(r.error().message.starts_with("ERR ")) << r.error().message;
  return restErrorStatus(r.error());
}

uint16_t failsPost(std::string_view target, std::string_view body, const RestOptions& opt = {}) {
  return fails(HttpMethod::Post, target, body, opt);
}

bool viewsInsideStorage(const RestRequest& r) {
  for (size_t i = 0; i < r.commandCount(); ++i) {
    for (std::string_view a : r.command(i)) {
      if (a.data() < r.storageBegin() || a.data() + a.size() > r.storageEnd()) return false;
    }
  }
  return true;
}

// ---- POST / (single command, JSON) ----

TEST(RestRequest, JsonCommand) {
  RestRequest r = post("/", R"(["set","k","{\"a\":1}","ex",100])");
  EXPECT_EQ(r.route(), RestRoute::Command);
  EXPECT_FALSE(r.pathStyle());
  ASSERT_EQ(r.commandCount(), 1u);
  EXPECT_EQ(argvOf(r), (Args{"set", "k", "{\"a\":1}", "ex", "100"}));
  EXPECT_EQ(r.queryTokenState(), QueryToken::Absent);
  EXPECT_TRUE(viewsInsideStorage(r));
}

TEST(RestRequest, NumbersKeptAsWritten) {
  RestRequest r = post(
      "/",
      R"(["zadd","k",100,1.5,1795356700293,-0,1e3,1E+3,-2.5e-7,123456789012345678901234567890])");
  EXPECT_EQ(argvOf(r), (Args{"zadd", "k", "100", "1.5", "1795356700293", "-0", "1e3", "1E+3",
                             "-2.5e-7", "123456789012345678901234567890"}));
}

TEST(RestRequest, NumbersWithWhitespaceAround) {
  RestRequest r = post("/", " [ \"incrby\" ,\n \"k\" , 42 \t,\r\n7 ] \n");
  EXPECT_EQ(argvOf(r), (Args{"incrby", "k", "42", "7"}));
}

TEST(RestRequest, InvalidNumbersRejected) {
  for (const char* body : {R"(["a",01])", R"(["a",1.])", R"(["a",.5])", R"(["a",+1])", R"(["a",-])",
                           R"(["a",1e])", R"(["a",1e+])", R"(["a",0x10])", R"(["a",1.2.3])",
                           R"(["a",NaN])", R"(["a",Infinity])", R"(["a",1x])", R"(["a",--1])"}) {
    EXPECT_EQ(failsPost("/", body), 400) << body;
  }
}

TEST(RestRequest, BooleansBecomeText) {
  EXPECT_EQ(argvOf(post("/", R"(["set","k",true,false])")), (Args{"set", "k", "true", "false"}));
  EXPECT_EQ(failsPost("/", R"(["set","k",tru])"), 400);
  EXPECT_EQ(failsPost("/", R"(["set","k",falsey])"), 400);
}

TEST(RestRequest, JsonNullRejectedStringNullAccepted) {
  EXPECT_EQ(failsPost("/", R"(["set","k",null])"), 400);
  EXPECT_EQ(failsPost("/", R"([null])"), 400);
  // @upstash/ratelimit sends the *string* "null".
  EXPECT_EQ(argvOf(post("/", R"(["evalsha","abc","1","k","null"])")),
            (Args{"evalsha", "abc", "1", "k", "null"}));
}

TEST(RestRequest, NonScalarArgumentsRejected) {
  EXPECT_EQ(failsPost("/", R"(["set","k",{"a":1}])"), 400);
  EXPECT_EQ(failsPost("/", R"(["set","k",["v"]])"), 400);
  EXPECT_EQ(failsPost("/", R"([["set","k","v"]])"), 400);
  EXPECT_EQ(failsPost("/", R"(["set","k",[]])"), 400);
}

TEST(RestRequest, WrongTopLevelShape) {
  EXPECT_EQ(failsPost("/", R"([])"), 400);
  EXPECT_EQ(failsPost("/", R"({"cmd":"get"})"), 400);
  EXPECT_EQ(failsPost("/", R"("get")"), 400);
  EXPECT_EQ(failsPost("/", R"(5)"), 400);
  EXPECT_EQ(failsPost("/", R"(null)"), 400);
  EXPECT_EQ(failsPost("/", ""), 400);
  EXPECT_EQ(failsPost("/", "   "), 400);
}

TEST(RestRequest, TruncatedAndMalformedJson) {
  for (const char* body : {R"(["set","k")", R"(["set","k",)", R"(["set)", R"([)", R"(["a" "b"])",
                           R"(["a",,"b"])", R"(["a",])", R"([,"a"])", R"(["a\x"])", R"(["a\u12"])",
                           R"(['a'])", R"([a])", "[\"a\tb\"]", "[\"a\nb\"]"}) {
    EXPECT_EQ(failsPost("/", body), 400) << body;
  }
}

TEST(RestRequest, TrailingDataRejected) {
  for (const char* body : {R"(["a"] x)", R"(["a"]["b"])", R"(["a"]])", R"(["a"],)", R"(["a"] "b")",
                           R"(["a"] 1)", R"(["a"]})"}) {
    EXPECT_EQ(failsPost("/", body), 400) << body;
  }
  EXPECT_EQ(argvOf(post("/", "[\"a\"]  \n\t ")), (Args{"a"}));
}

TEST(RestRequest, StringEscapesDecoded) {
  RestRequest r = post("/", R"(["set","k\n","\"q\"\\\/","caf\u00e9","\ud83d\ude00","\u0000x"])");
  Args a = argvOf(r);
  ASSERT_EQ(a.size(), 6u);
  EXPECT_EQ(a[1], "k\n");
  EXPECT_EQ(a[2], "\"q\"\\/");
  EXPECT_EQ(a[3], "caf\xc3\xa9");
  EXPECT_EQ(a[4], "\xf0\x9f\x98\x80");
  EXPECT_EQ(a[5], std::string("\0x", 2));
}

TEST(RestRequest, RawUtf8Accepted) {
  EXPECT_EQ(argvOf(post("/", "[\"set\",\"k\",\"caf\xc3\xa9 \xe2\x82\xac\"]")),
            (Args{"set", "k", "caf\xc3\xa9 \xe2\x82\xac"}));
}

TEST(RestRequest, InvalidUtf8Rejected) {
  for (std::string body :
       {std::string("[\"set\",\"k\",\"\xff\"]"), std::string("[\"set\",\"k\",\"\xc3\"]"),
        std::string("[\"set\",\"k\",\"\xed\xa0\x80\"]"),  // UTF-16 surrogate
        std::string("[\"set\",\"k\",\"\xc0\xaf\"]"),      // overlong
        std::string("[\"set\",\"k\",\"\xf4\x90\x80\x80\"]")}) {
    EXPECT_EQ(failsPost("/", body), 400);
  }
}

TEST(RestRequest, LoneSurrogateEscapeRejected) {
  EXPECT_EQ(failsPost("/", R"(["set","k","\ud800"])"), 400);
  EXPECT_EQ(failsPost("/", R"(["set","k","\ud800x"])"), 400);
}

TEST(RestRequest, DeepNestingRejectedQuickly) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  EXPECT_EQ(failsPost("/", deep), 400);
  EXPECT_EQ(failsPost("/pipeline", deep), 400);
  std::string open_only(200000, '[');
  EXPECT_EQ(failsPost("/", open_only), 400);
}

TEST(RestRequest, HundredThousandArguments) {
  std::string body = "[\"mset\"";
  for (int i = 0; i < 100000; ++i) body += ",\"k" + std::to_string(i) + "\"";
  body += "]";
  RestRequest r = post("/", body);
  ASSERT_EQ(r.commandCount(), 1u);
  EXPECT_EQ(r.command(0).size(), 100001u);
  EXPECT_EQ(r.command(0)[100000], "k99999");
  RestOptions small;
  small.max_args = 100000;
  EXPECT_EQ(failsPost("/", body, small), 413);
}

TEST(RestRequest, HundredThousandCommandPipeline) {
  std::string body = "[";
  for (int i = 0; i < 100000; ++i) {
    if (i) body += ",";
    body += "[\"get\",\"k" + std::to_string(i) + "\"]";
  }
  body += "]";
  ASSERT_GT(body.size(), 1u << 20) << "exercises the large-body parser path";
  EXPECT_EQ(failsPost("/pipeline", body), 413) << "over the default of 10,000 commands";
  RestOptions big;
  big.max_commands = 100000;
  RestRequest r = post("/pipeline", body, big);
  ASSERT_EQ(r.commandCount(), 100000u);
  EXPECT_EQ(argvOf(r, 99999), (Args{"get", "k99999"}));
  EXPECT_EQ(r.totalArgs(), 200000u);
  EXPECT_TRUE(viewsInsideStorage(r));
  std::string over = body.substr(0, body.size() - 1) + ",[\"ping\"]]";
  EXPECT_EQ(failsPost("/pipeline", over, big), 413);
  RestOptions few;
  few.max_commands = 100000;
  few.max_total_args = 1000;
  EXPECT_EQ(failsPost("/pipeline", body, few), 413);
}

// ---- /pipeline and /multi-exec ----

TEST(RestRequest, Pipeline) {
  RestRequest r = post("/pipeline", R"([["set","a",1],["incr","c"],["JSON.GET","j"]])");
  EXPECT_EQ(r.route(), RestRoute::Pipeline);
  ASSERT_EQ(r.commandCount(), 3u);
  EXPECT_EQ(argvOf(r, 0), (Args{"set", "a", "1"}));
  EXPECT_EQ(argvOf(r, 1), (Args{"incr", "c"}));
  EXPECT_EQ(argvOf(r, 2), (Args{"JSON.GET", "j"}));
  EXPECT_EQ(routeName(r.route()), "pipeline");
}

TEST(RestRequest, MultiExec) {
  RestRequest r = post("/multi-exec", R"([["sdiffstore","d","a","b"],["del","x"]])");
  EXPECT_EQ(r.route(), RestRoute::MultiExec);
  ASSERT_EQ(r.commandCount(), 2u);
  EXPECT_EQ(argvOf(r, 0), (Args{"sdiffstore", "d", "a", "b"}));
  EXPECT_EQ(routeName(r.route()), "multi-exec");
}

TEST(RestRequest, PipelineShapes) {
  for (const char* path : {"/pipeline", "/multi-exec"}) {
    EXPECT_EQ(failsPost(path, "[]"), 400) << path;
    EXPECT_EQ(failsPost(path, "[[]]"), 400) << path;
    EXPECT_EQ(failsPost(path, R"([["get","a"],[]])"), 400) << path;
    EXPECT_EQ(failsPost(path, R"(["get","a"])"), 400) << path;
    EXPECT_EQ(failsPost(path, R"([[["get","a"]]])"), 400) << path;
    EXPECT_EQ(failsPost(path, R"([["get",{"a":1}]])"), 400) << path;
    EXPECT_EQ(failsPost(path, R"({"a":[["get"]]})"), 400) << path;
    EXPECT_EQ(failsPost(path, R"([["get","a"]] [["x"]])"), 400) << path;
    EXPECT_EQ(failsPost(path, R"([["get","a"])"), 400) << path;
    EXPECT_EQ(failsPost(path, R"([["get","a"],null])"), 400) << path;
  }
}

TEST(RestRequest, SdkAutoPipelineOf1000) {
  std::string body = "[";
  for (int i = 0; i < 1000; ++i) body += std::string(i ? "," : "") + R"(["set","k",1])";
  body += "]";
  EXPECT_EQ(post("/pipeline", body).commandCount(), 1000u);
}

// ---- methods and routes ----

TEST(RestRequest, MethodRules) {
  EXPECT_EQ(fails(HttpMethod::Get, "/pipeline"), 405);
  EXPECT_EQ(fails(HttpMethod::Put, "/pipeline", "[[\"get\",\"a\"]]"), 405);
  EXPECT_EQ(fails(HttpMethod::Head, "/multi-exec"), 405);
  EXPECT_EQ(fails(HttpMethod::Get, "/"), 400);
  EXPECT_EQ(fails(HttpMethod::Head, "/"), 400);
  EXPECT_EQ(fails(HttpMethod::Put, "/", "[\"get\",\"a\"]"), 405);
  EXPECT_EQ(fails(HttpMethod::Options, "/get/a"), 405);
  EXPECT_EQ(fails(HttpMethod::Other, "/get/a"), 405);
  EXPECT_EQ(fails(HttpMethod::Put, "/subscribe/ch"), 405);
  EXPECT_EQ(fails(HttpMethod::Head, "/subscribe/ch"), 405);
}

TEST(RestRequest, PipelineWithExtraPathRejected) {
  EXPECT_EQ(failsPost("/pipeline/x", "[[\"get\",\"a\"]]"), 400);
  EXPECT_EQ(failsPost("/multi-exec/", "[[\"get\",\"a\"]]"), 400);
}

TEST(RestRequest, RouteNamesAreCaseSensitive) {
  RestRequest r = post("/PIPELINE", "body");
  EXPECT_EQ(r.route(), RestRoute::Command);
  EXPECT_EQ(argvOf(r), (Args{"PIPELINE", "body"}));
}

// ---- path style ----

TEST(RestRequest, PathStyleGet) {
  RestRequest r = ok(HttpMethod::Get, "/get/foo");
  EXPECT_EQ(r.route(), RestRoute::Command);
  EXPECT_TRUE(r.pathStyle());
  EXPECT_EQ(argvOf(r), (Args{"get", "foo"}));
  EXPECT_EQ(argvOf(ok(HttpMethod::Head, "/GET/foo")), (Args{"GET", "foo"}));
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/zadd/teams/100/team-x/90/team-y")),
            (Args{"zadd", "teams", "100", "team-x", "90", "team-y"}));
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/ping")), (Args{"ping"}));
}

TEST(RestRequest, PercentEncodedSlashStaysInArgument) {
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/get/a%2Fb")), (Args{"get", "a/b"}));
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/get/a%2fb")), (Args{"get", "a/b"}));
}

TEST(RestRequest, DoubleEncodingDecodedOnce) {
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/get/%252F")), (Args{"get", "%2F"}));
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/get/%2525")), (Args{"get", "%25"}));
}

TEST(RestRequest, PlusIsLiteralInPath) {
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/get/a+b")), (Args{"get", "a+b"}));
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/get/a%20b")), (Args{"get", "a b"}));
}

TEST(RestRequest, NulByteAllowedInArgument) {
  RestRequest r = ok(HttpMethod::Get, "/set/k/a%00b");
  EXPECT_EQ(argvOf(r), (Args{"set", "k", std::string("a\0b", 3)}));
}

TEST(RestRequest, NonUtf8BytesViaPercentEncoding) {
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/set/k/%FF%fe")), (Args{"set", "k", "\xff\xfe"}));
}

TEST(RestRequest, DotSegmentsAreLiteralArguments) {
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/get/../flushall")), (Args{"get", "..", "flushall"}));
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/get/./x")), (Args{"get", ".", "x"}));
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/../flushall")), (Args{"..", "flushall"}));
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/get/%2e%2e")), (Args{"get", ".."}));
}

TEST(RestRequest, EmptySegmentsRejected) {
  EXPECT_EQ(fails(HttpMethod::Get, "/get//x"), 400);
  EXPECT_EQ(fails(HttpMethod::Get, "/get/x/"), 400);
  EXPECT_EQ(fails(HttpMethod::Get, "//get/x"), 400);
  EXPECT_EQ(fails(HttpMethod::Get, "/get/x//"), 400);
}

TEST(RestRequest, InvalidPercentEscapes) {
  for (const char* t : {"/get/%zz", "/get/%2", "/get/%", "/get/a%", "/get/%g0", "/get/%0g", "/%/x",
                        "/get/x?a=%", "/get/x?%zz=1", "/get/x?_token=%2"}) {
    EXPECT_EQ(fails(HttpMethod::Get, t), 400) << t;
  }
}

TEST(RestRequest, BadTargetBytes) {
  EXPECT_EQ(fails(HttpMethod::Get, ""), 400);
  EXPECT_EQ(fails(HttpMethod::Get, "get/x"), 400);
  EXPECT_EQ(fails(HttpMethod::Get, "/get/a b"), 400);
  EXPECT_EQ(fails(HttpMethod::Get, "/get/caf\xc3\xa9"), 400);
  EXPECT_EQ(fails(HttpMethod::Get, std::string("/get/a\0b", 8)), 400);
  EXPECT_EQ(fails(HttpMethod::Get, "/get/a\tb"), 400);
}

TEST(RestRequest, RawBodyIsLastArgumentBeforeQuery) {
  RestRequest r = post("/set/foo?EX=100", "{\"json\": [1,2]}");
  EXPECT_EQ(argvOf(r), (Args{"set", "foo", "{\"json\": [1,2]}", "EX", "100"}));
  EXPECT_TRUE(r.pathStyle());
  EXPECT_EQ(argvOf(ok(HttpMethod::Put, "/set/foo", "v")), (Args{"set", "foo", "v"}));
  std::string binary("\0\xff\r\n", 4);
  EXPECT_EQ(argvOf(post("/set/foo", binary)), (Args{"set", "foo", binary}));
  EXPECT_EQ(argvOf(post("/get/foo", "")), (Args{"get", "foo"})) << "empty body adds nothing";
}

TEST(RestRequest, BodyWithGetRejected) {
  EXPECT_EQ(fails(HttpMethod::Get, "/get/foo", "x"), 400);
  EXPECT_EQ(fails(HttpMethod::Head, "/get/foo", "x"), 400);
}

TEST(RestRequest, QueryPairs) {
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/set/k/v?EX=100&NX")),
            (Args{"set", "k", "v", "EX", "100", "NX"}));
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/set/k/v?a+b=c+d&e%26f=g%3Dh")),
            (Args{"set", "k", "v", "a b", "c d", "e&f", "g=h"}));
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/set/k/v?&&EX=1&")), (Args{"set", "k", "v", "EX", "1"}));
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/set/k/v?x=")), (Args{"set", "k", "v", "x", ""}));
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/set/k/v?x=a=b")), (Args{"set", "k", "v", "x", "a=b"}));
  EXPECT_EQ(argvOf(ok(HttpMethod::Get, "/get/k?")), (Args{"get", "k"}));
  EXPECT_EQ(fails(HttpMethod::Get, "/set/k/v?=1"), 400);
}

TEST(RestRequest, QueryTokenAllowed) {
  RestOptions opt;
  opt.allow_query_token = true;
  RestRequest r = ok(HttpMethod::Get, "/get/k?_token=abc%2Bdef&x=1", {}, opt);
  EXPECT_EQ(r.queryTokenState(), QueryToken::Present);
  ASSERT_TRUE(r.queryToken().has_value());
  EXPECT_EQ(*r.queryToken(), "abc+def");
  EXPECT_EQ(argvOf(r), (Args{"get", "k", "x", "1"})) << "_token is never an argument";
  RestRequest j = post("/pipeline?_token=t", R"([["get","a"]])", opt);
  EXPECT_EQ(*j.queryToken(), "t");
  RestRequest e = ok(HttpMethod::Get, "/get/k?_token", {}, opt);
  EXPECT_EQ(e.queryTokenState(), QueryToken::Present);
  EXPECT_EQ(*e.queryToken(), "");
}

TEST(RestRequest, QueryTokenDisallowedIsFlaggedNotForwarded) {
  RestRequest r = ok(HttpMethod::Get, "/get/k?_token=secret");
  EXPECT_EQ(r.queryTokenState(), QueryToken::Disallowed);
  EXPECT_FALSE(r.queryToken().has_value());
  EXPECT_EQ(argvOf(r), (Args{"get", "k"}));
  // The encoded name %5Ftoken is the same parameter.
  EXPECT_EQ(ok(HttpMethod::Get, "/get/k?%5Ftoken=x").queryTokenState(), QueryToken::Disallowed);
}

TEST(RestRequest, DuplicateQueryTokenRejected) {
  RestOptions opt;
  opt.allow_query_token = true;
  EXPECT_EQ(fails(HttpMethod::Get, "/get/k?_token=a&_token=b", {}, opt), 400);
  EXPECT_EQ(fails(HttpMethod::Get, "/get/k?_token=a&_token=b"), 400);
}

TEST(RestRequest, QueryOnJsonRoutesOnlyToken) {
  EXPECT_EQ(failsPost("/?x=1", R"(["get","a"])"), 400);
  EXPECT_EQ(failsPost("/pipeline?ex=1", R"([["get","a"]])"), 400);
  EXPECT_EQ(post("/?_token=x", R"(["get","a"])").queryTokenState(), QueryToken::Disallowed);
}

// ---- subscribe ----

TEST(RestRequest, Subscribe) {
  RestRequest r = post("/subscribe/chat", "[]");
  EXPECT_EQ(r.route(), RestRoute::Subscribe);
  EXPECT_EQ(r.channel(), "chat");
  ASSERT_EQ(r.commandCount(), 1u);
  EXPECT_EQ(argvOf(r), (Args{"subscribe", "chat"}));
  EXPECT_EQ(ok(HttpMethod::Get, "/subscribe/chat").channel(), "chat");
  EXPECT_EQ(post("/subscribe/a%2Fb%20c", "").channel(), "a/b c");
  EXPECT_EQ(post("/subscribe/x", "ignored body {").channel(), "x");
}

TEST(RestRequest, PSubscribeRawPattern) {
  RestRequest r = post("/psubscribe/chat:*:messages", "[]");
  EXPECT_EQ(r.route(), RestRoute::PSubscribe);
  EXPECT_EQ(r.channel(), "chat:*:messages");
  EXPECT_EQ(argvOf(r), (Args{"psubscribe", "chat:*:messages"}));
  EXPECT_EQ(routeName(r.route()), "psubscribe");
}

TEST(RestRequest, SubscribeShapes) {
  EXPECT_EQ(failsPost("/subscribe", "[]"), 400);
  EXPECT_EQ(failsPost("/subscribe/", "[]"), 400);
  EXPECT_EQ(failsPost("/subscribe/a/b", "[]"), 400);
  EXPECT_EQ(failsPost("/psubscribe/a/", "[]"), 400);
  EXPECT_EQ(failsPost("/subscribe/%zz", "[]"), 400);
  EXPECT_EQ(failsPost("/subscribe/a?x=1", "[]"), 400);
  RestOptions opt;
  opt.allow_query_token = true;
  EXPECT_EQ(*post("/subscribe/a?_token=t", "[]", opt).queryToken(), "t");
}

// ---- storage ----

TEST(RestRequest, ViewsStableAcrossMoves) {
  std::vector<RestRequest> all;
  std::vector<Args> expected;
  for (int i = 0; i < 50; ++i) {
    std::string k = "k" + std::to_string(i);  // short: would live in a std::string SSO buffer
    all.push_back(post("/", "[\"get\",\"" + k + "\"]"));
    expected.push_back({"get", k});
  }
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(argvOf(all[i]), expected[i]);
    EXPECT_TRUE(viewsInsideStorage(all[i]));
  }
  RestRequest moved = std::move(all[3]);
  EXPECT_EQ(argvOf(moved), expected[3]);
  RestRequest sub = post("/subscribe/c", "");
  RestRequest sub2 = std::move(sub);
  EXPECT_EQ(sub2.channel(), "c");
  EXPECT_GE(sub2.channel().data(), sub2.storageBegin());
}

TEST(RestRequest, EmptyStringArguments) {
  RestRequest r = post("/", R"(["set","",""])");
  EXPECT_EQ(argvOf(r), (Args{"set", "", ""}));
  EXPECT_TRUE(viewsInsideStorage(r));
}

TEST(RestRequest, FromParser) {
  std::string req =
      "POST /pipeline HTTP/1.1\r\nauthorization: Bearer t\r\ncontent-length: 34\r\n\r\n"
      "[[\"set\",\"k\",\"{\\\"a\\\":1}\",\"ex\",100]]";
  HttpRequestParser p;
  size_t used = 0, off = 0;
  ASSERT_EQ(p.feed(req, &used), ParseStatus::HeadComplete);
  off = used;
  ASSERT_EQ(p.feed(req.data() + off, req.size() - off, &used), ParseStatus::Complete);
  Result<RestRequest> r = decodeRestRequest(p);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(argvOf(*r), (Args{"set", "k", "{\"a\":1}", "ex", "100"}));
  EXPECT_EQ(bearerToken(p.header("authorization")), "t");
}

TEST(RestRequest, ErrorStatusMapping) {
  EXPECT_EQ(restErrorStatus(makeError(ErrorCode::InvalidArgument, "ERR x")), 400);
  EXPECT_EQ(restErrorStatus(makeError(ErrorCode::TooLarge, "ERR x")), 413);
  EXPECT_EQ(restErrorStatus(makeError(ErrorCode::NotFound, "ERR x")), 405);
  EXPECT_EQ(restErrorStatus(makeError(ErrorCode::Internal, "ERR x")), 400);
}

TEST(RestRequest, ErrorMessagesDoNotEchoArguments) {
  Result<RestRequest> r = decodeRestRequest(HttpMethod::Post, "/", R"(["set","SECRET",null])");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message.find("SECRET"), std::string::npos);
  Result<RestRequest> q = decodeRestRequest(HttpMethod::Get, "/get/SECRET%zz", "");
  ASSERT_FALSE(q.has_value());
  EXPECT_EQ(q.error().message.find("SECRET"), std::string::npos);
}

// ---- header helpers ----

TEST(ResponseOptions, Parsing) {
  auto r = parseResponseOptions(std::nullopt, std::nullopt);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->base64);
  EXPECT_FALSE(r->resp2);
  EXPECT_TRUE(parseResponseOptions("base64", std::nullopt)->base64);
  EXPECT_TRUE(parseResponseOptions(" BASE64 ", std::nullopt)->base64);
  EXPECT_FALSE(parseResponseOptions("gzip", std::nullopt)->base64);
  EXPECT_FALSE(parseResponseOptions("", std::nullopt)->base64);
  EXPECT_TRUE(parseResponseOptions(std::nullopt, "resp2")->resp2);
  EXPECT_TRUE(parseResponseOptions(std::nullopt, "RESP2")->resp2);
  EXPECT_FALSE(parseResponseOptions("x", "json")->resp2);
  EXPECT_FALSE(parseResponseOptions(std::nullopt, "JSON")->resp2);
}

TEST(ResponseOptions, Errors) {
  auto bad = parseResponseOptions(std::nullopt, "xml");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(restErrorStatus(bad.error()), 400);
  EXPECT_TRUE(bad.error().message.starts_with("ERR "));
  EXPECT_FALSE(parseResponseOptions(std::nullopt, "").has_value());
  EXPECT_FALSE(parseResponseOptions(std::nullopt, "resp3").has_value());
  auto both = parseResponseOptions("base64", "resp2");
  ASSERT_FALSE(both.has_value());
  EXPECT_EQ(restErrorStatus(both.error()), 400);
}

TEST(BearerToken, Accepted) {
  EXPECT_EQ(bearerToken("Bearer abc"), "abc");
  EXPECT_EQ(bearerToken("bearer abc"), "abc");
  EXPECT_EQ(bearerToken("BEARER   abc.def-ghi_=  "), "abc.def-ghi_=");
  EXPECT_EQ(bearerToken("Bearer\tabc"), "abc");
  std::string max(kMaxBearerTokenBytes, 't');
  EXPECT_EQ(bearerToken("Bearer " + max), max);
}

TEST(BearerToken, Rejected) {
  EXPECT_FALSE(bearerToken(std::nullopt).has_value());
  EXPECT_FALSE(bearerToken("").has_value());
  EXPECT_FALSE(bearerToken("Bearer").has_value());
  EXPECT_FALSE(bearerToken("Bearer ").has_value());
  EXPECT_FALSE(bearerToken("Bearerabc").has_value());
  EXPECT_FALSE(bearerToken("Basic dXNlcjpwYXNz").has_value());
  EXPECT_FALSE(bearerToken("Bearer a b").has_value());
  EXPECT_FALSE(bearerToken("Bearer a\x01").has_value());
  EXPECT_FALSE(bearerToken("Bearer caf\xc3\xa9").has_value());
  EXPECT_FALSE(bearerToken("Bearer " + std::string(kMaxBearerTokenBytes + 1, 't')).has_value());
}

// ---- percent decoding ----

std::optional<std::string> decode(std::string_view in, PlusMode plus) {
  std::string out(in.size(), '\0');
  std::optional<size_t> n = percentDecode(in, out.data(), plus);
  if (!n) return std::nullopt;
  out.resize(*n);
  return out;
}

TEST(PercentDecode, Rules) {
  EXPECT_EQ(decode("", PlusMode::Literal), "");
  EXPECT_EQ(decode("abc", PlusMode::Literal), "abc");
  EXPECT_EQ(decode("a%20b%2F%2f", PlusMode::Literal), "a b//");
  EXPECT_EQ(decode("a+b", PlusMode::Literal), "a+b");
  EXPECT_EQ(decode("a+b", PlusMode::Space), "a b");
  EXPECT_EQ(decode("%2B", PlusMode::Space), "+");
  EXPECT_EQ(decode("%00", PlusMode::Literal), std::string("\0", 1));
  EXPECT_EQ(decode("%ff%FF", PlusMode::Literal), "\xff\xff");
  EXPECT_FALSE(decode("%", PlusMode::Literal).has_value());
  EXPECT_FALSE(decode("%a", PlusMode::Literal).has_value());
  EXPECT_FALSE(decode("x%a", PlusMode::Literal).has_value());
  EXPECT_FALSE(decode("%xa", PlusMode::Literal).has_value());
  EXPECT_FALSE(decode("%-1", PlusMode::Literal).has_value());
}

}  // namespace
}  // namespace kw::proxy::codec
