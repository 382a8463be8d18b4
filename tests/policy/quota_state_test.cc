// The quota state file format: round trip, and every malformed shape refused with its line.
#include "policy/quota_state.h"

#include <gtest/gtest.h>

#include <string>

namespace kw::policy {
namespace {

TEST(QuotaState, FormatThenParseGivesTheSameCounters) {
  QuotaState st;
  st.global = {20785, 120, 683, 9000};
  st.clients.push_back({"edge-cache", {20785, 300, 683, 4000}});
  st.clients.push_back({"b.v2_x", {20784, 5, 682, 7}});
  const std::string text = formatQuotaState(st);
  EXPECT_EQ(text,
            "keyward-quota-state 1\ng 20785 120 683 9000\nc 20785 300 683 4000 edge-cache\n"
            "c 20784 5 682 7 b.v2_x\nend 3\n");
  auto back = parseQuotaState(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->global.day, 20785);
  EXPECT_EQ(back->global.month_used, 9000u);
  ASSERT_EQ(back->clients.size(), 2u);
  EXPECT_EQ(back->clients[1].first, "b.v2_x");
  EXPECT_EQ(back->clients[1].second.day_used, 5u);
}

TEST(QuotaState, MalformedFilesAreRefusedWhole) {
  const char* bad[] = {
      "",
      "keyward-quota-state 1\n",                                              // no g, no end
      "keyward-quota-state 1\ng 1 2 3 4\n",                                   // truncated: no end
      "keyward-quota-state 2\ng 1 2 3 4\nend 1\n",                            // other version
      "keyward-quota-state 1\ng 1 2 3\nend 1\n",                              // short g
      "keyward-quota-state 1\ng 1 2 3 4 5\nend 1\n",                          // long g
      "keyward-quota-state 1\ng 01 2 3 4\nend 1\n",                           // leading zero
      "keyward-quota-state 1\ng -1 2 3 4\nend 1\n",                           // sign
      "keyward-quota-state 1\ng 1 99999999999999999999 3 4\nend 1\n",         // overflow
      "keyward-quota-state 1\ng 1  2 3 4\nend 1\n",                           // double space
      "keyward-quota-state 1\ng 1 2 3 4 \nend 1\n",                           // trailing space
      "keyward-quota-state 1\r\ng 1 2 3 4\r\nend 1\r\n",                      // CRLF
      "keyward-quota-state 1\ng 1 2 3 4\nend 2\n",                            // count mismatch
      "keyward-quota-state 1\ng 1 2 3 4\ng 1 2 3 4\nend 2\n",                 // two g
      "keyward-quota-state 1\ng 1 2 3 4\nc 1 2 3 4 a\nc 1 2 3 4 a\nend 3\n",  // duplicate
      "keyward-quota-state 1\ng 1 2 3 4\nc 1 2 3 4 a/b\nend 2\n",             // bad name
      "keyward-quota-state 1\ng 1 2 3 4\nc 1 2 3 4\nend 2\n",                 // no name
      "keyward-quota-state 1\ng 1 2 3 4\nend 1\nc 1 2 3 4 a\n",               // after end
      "keyward-quota-state 1\ng 1 2 3 4\nend 1",                              // no final newline
      "keyward-quota-state 1\ng 1 2 3 4\nx\nend 1\n",                         // unknown line
      "keyward-quota-state 1\ng 1 2 3 4\n\nend 1\n",                          // empty line
  };
  for (const char* text : bad) {
    auto st = parseQuotaState(text);
    EXPECT_FALSE(st) << text;
  }
  auto st = parseQuotaState("keyward-quota-state 1\ng 1 2 3\nend 1\n");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message.rfind("line 2:", 0), 0u) << st.error().message;
}

}  // namespace
}  // namespace kw::policy
