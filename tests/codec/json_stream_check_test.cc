// Tests for the streamed single-reply JSON check: UTF-8 inside strings as RFC 3629 has it.
#include "proxy/codec/json_stream_check.h"

#include <gtest/gtest.h>

#include <string>

namespace kw::proxy::codec {
namespace {

bool whole(std::string_view body) {
  JsonStreamCheck c;
  return c.feed(body) && c.complete();
}

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

}  // namespace
}  // namespace kw::proxy::codec
