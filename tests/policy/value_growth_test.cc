// Offsets that grow a value (SETRANGE, SETBIT, BITFIELD SET/INCRBY) are bounded like a value sent
// whole (attack round 15: two requests of under 60 bytes took Redis from 15 MB to 1.26 GB).
#include "policy/value_growth.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/client_policy.h"

namespace kw::policy {
namespace {

class ValueGrowth : public ::testing::Test {
 protected:
  void SetUp() override {
    ClientSpec spec;
    spec.name = "t";
    spec.commands = {"+@all"};
    spec.keys = {"a:*"};
    spec.max_grown_value_bytes = 1000;
    spec.consumer_groups = {"*"};
    policy_ = *ClientPolicy::compile(spec);
  }
  Decision decide(std::vector<std::string> words) {
    words_ = std::move(words);
    argv_.assign(words_.begin(), words_.end());
    return policy_->evaluate(argv_, Identity{}, scratch_).decision;
  }
  std::shared_ptr<const ClientPolicy> policy_;
  EvalScratch scratch_;
  std::vector<std::string> words_;
  std::vector<std::string_view> argv_;
};

TEST_F(ValueGrowth, SetrangeUpToTheBoundPasses) {
  EXPECT_TRUE(decide({"SETRANGE", "a:k", "996", "abcd"}).allowed());
  const Decision over = decide({"SETRANGE", "a:k", "997", "abcd"});
  EXPECT_EQ(over.reason, Reason::ValueTooLarge);
  EXPECT_EQ(over.arg_index, 2);
  EXPECT_EQ(denialStatus(over.reason), 403);
  EXPECT_EQ(denialMessage(over, "setrange"),
            "NOPERM 'setrange' would grow a value past listen.max_body_bytes (argument 2)");
  EXPECT_EQ(decide({"SETRANGE", "a:k", "536870911", "x"}).reason, Reason::ValueTooLarge);
  // An empty value writes nothing, whatever the offset.
  EXPECT_TRUE(decide({"SETRANGE", "a:k", "536870911", ""}).allowed());
  // The key is checked first.
  EXPECT_EQ(decide({"SETRANGE", "b:k", "536870911", "x"}).reason, Reason::KeyDenied);
}

TEST_F(ValueGrowth, SetbitCountsBits) {
  EXPECT_TRUE(decide({"SETBIT", "a:k", "7999", "1"}).allowed());  // byte 999
  EXPECT_EQ(decide({"SETBIT", "a:k", "8000", "1"}).reason, Reason::ValueTooLarge);
  EXPECT_EQ(decide({"SETBIT", "a:k", "4294967295", "1"}).reason, Reason::ValueTooLarge);
  EXPECT_TRUE(decide({"GETBIT", "a:k", "4294967295"}).allowed()) << "reads grow nothing";
}

TEST_F(ValueGrowth, BitfieldWritesAreBoundedReadsAreNot) {
  EXPECT_TRUE(decide({"BITFIELD", "a:k", "SET", "u8", "7992", "1"}).allowed());
  EXPECT_EQ(decide({"BITFIELD", "a:k", "SET", "u8", "7993", "1"}).reason, Reason::ValueTooLarge);
  // "#N": the N-th field of this width.
  EXPECT_TRUE(decide({"BITFIELD", "a:k", "INCRBY", "i64", "#124", "1"}).allowed());
  const Decision scaled = decide({"BITFIELD", "a:k", "incrby", "i64", "#125", "1"});
  EXPECT_EQ(scaled.reason, Reason::ValueTooLarge);
  EXPECT_EQ(scaled.arg_index, 4);
  // A "#N" that overflows 64 bits when scaled does not wrap round to a small offset.
  EXPECT_EQ(decide({"BITFIELD", "a:k", "SET", "u64", "#288230376151711744", "1"}).reason,
            Reason::ValueTooLarge);
  EXPECT_TRUE(decide({"BITFIELD", "a:k", "GET", "u8", "4294967295"}).allowed());
  EXPECT_EQ(decide({"BITFIELD", "a:k", "GET", "u8", "0", "OVERFLOW", "SAT", "SET", "u8",
                    "#999999999", "1"})
                .reason,
            Reason::ValueTooLarge);
  EXPECT_TRUE(decide({"BITFIELD_RO", "a:k", "GET", "u8", "4294967295"}).allowed());
}

// What this code cannot read as Redis reads it is not passed on: a different reading could grow
// more than it seems.
TEST_F(ValueGrowth, OffsetsOtherThanPlainDecimalAreRefused) {
  for (const char* off :
       {"+5", " 5", "5 ", "05", "-1", "0x10", "1e3", "", "99999999999999999999"}) {
    const Decision d = decide({"SETRANGE", "a:k", off, "x"});
    EXPECT_EQ(d.reason, Reason::SyntaxError) << '"' << off << '"';
    EXPECT_EQ(d.arg_index, 2);
    EXPECT_EQ(decide({"SETBIT", "a:k", off, "1"}).reason, Reason::SyntaxError) << off;
  }
  EXPECT_TRUE(decide({"SETRANGE", "a:k", "0", "x"}).allowed());
  EXPECT_EQ(decide({"BITFIELD", "a:k", "SET", "x8", "0", "1"}).reason, Reason::SyntaxError);
  EXPECT_EQ(decide({"BITFIELD", "a:k", "SET", "u0", "0", "1"}).reason, Reason::SyntaxError);
  EXPECT_EQ(decide({"BITFIELD", "a:k", "SET", "u65", "0", "1"}).reason, Reason::SyntaxError);
  EXPECT_EQ(decide({"BITFIELD", "a:k", "SET", "u8", "#-1", "1"}).reason, Reason::SyntaxError);
  EXPECT_EQ(decide({"BITFIELD", "a:k", "SET", "u8", "0"}).reason, Reason::SyntaxError);
  EXPECT_EQ(decide({"BITFIELD", "a:k", "FROB", "u8", "0"}).reason, Reason::SyntaxError);
  EXPECT_TRUE(decide({"BITFIELD", "a:k"}).allowed());
}

// Attack round 16: a negative count returns that many elements whatever the key holds.
TEST_F(ValueGrowth, NegativeRandomCountsAreBoundedByMaxReplyElements) {
  ClientSpec spec;
  spec.name = "t";
  spec.commands = {"+@all"};
  spec.keys = {"a:*"};
  spec.max_reply_elements = 10;
  policy_ = *ClientPolicy::compile(spec);
  // The reply is an array of the elements: 1 + count values against max_reply_elements.
  EXPECT_TRUE(decide({"SRANDMEMBER", "a:s", "-9"}).allowed());
  const Decision over = decide({"SRANDMEMBER", "a:s", "-10"});
  EXPECT_EQ(over.reason, Reason::ReplyTooLarge);
  EXPECT_EQ(over.arg_index, 2);
  EXPECT_EQ(denialStatus(over.reason), 403);
  EXPECT_EQ(denialMessage(over, "srandmember"),
            "NOPERM 'srandmember' asks for more elements than upstream.max_reply_elements "
            "(argument 2)");
  EXPECT_EQ(decide({"SRANDMEMBER", "a:s", "-10000000"}).reason, Reason::ReplyTooLarge);
  // Distinct elements, at most what the key holds: a positive count is not bounded here.
  EXPECT_TRUE(decide({"SRANDMEMBER", "a:s", "10000000"}).allowed());
  EXPECT_TRUE(decide({"SRANDMEMBER", "a:s"}).allowed());
  // Pairs count twice.
  EXPECT_TRUE(decide({"HRANDFIELD", "a:h", "-4", "WITHVALUES"}).allowed());
  EXPECT_EQ(decide({"HRANDFIELD", "a:h", "-5", "WITHVALUES"}).reason, Reason::ReplyTooLarge);
  EXPECT_EQ(decide({"ZRANDMEMBER", "a:z", "-5", "WITHSCORES"}).reason, Reason::ReplyTooLarge);
  EXPECT_TRUE(decide({"ZRANDMEMBER", "a:z", "-9"}).allowed());
  for (const char* bad : {"-0", "+5", "-05", "1e3", " -5", "--5"}) {
    EXPECT_EQ(decide({"SRANDMEMBER", "a:s", bad}).reason, Reason::SyntaxError) << bad;
  }
}

// Attack round 29a: HRANDFIELD -1000 WITHVALUES of one 90 KB value, 5 in each of 4
// transactions, held Redis 1.06 s and took it 1.72 GB up: a negative count repeats one element.
TEST_F(ValueGrowth, NegativeRandomCountsRepeatAtMostSixteenTimes) {
  EXPECT_TRUE(decide({"SRANDMEMBER", "a:s", "-16"}).allowed());
  EXPECT_TRUE(decide({"HRANDFIELD", "a:h", "-16", "WITHVALUES"}).allowed());
  const Decision over = decide({"HRANDFIELD", "a:h", "-17", "WITHVALUES"});
  EXPECT_EQ(over.reason, Reason::RepeatedPicks);
  EXPECT_EQ(over.arg_index, 2);
  EXPECT_EQ(denialStatus(over.reason), 403);
  EXPECT_EQ(reasonName(over.reason), "repeated_picks");
  EXPECT_EQ(denialMessage(over, "hrandfield"),
            "NOPERM 'hrandfield' with a negative count may return one element that many times; "
            "keyward allows at most 16 (argument 2)");
  EXPECT_EQ(decide({"ZRANDMEMBER", "a:z", "-1000"}).reason, Reason::RepeatedPicks);
  // Distinct elements: a positive count is data-sized, not refused.
  EXPECT_TRUE(decide({"SRANDMEMBER", "a:s", "1000"}).allowed());
}

// Attack round 29a: XCLAIM naming one 100 KB entry 10,000 times (60 KB) took Redis 955 MB up:
// each naming claims and copies the entry again.
TEST_F(ValueGrowth, XclaimNamesEachEntryOnce) {
  EXPECT_TRUE(decide({"XCLAIM", "a:s", "g", "c", "0", "1-1", "1-2", "2-1"}).allowed());
  EXPECT_TRUE(decide({"XCLAIM", "a:s", "g", "c", "0", "1-1", "IDLE", "1-1", "JUSTID"}).allowed());
  const Decision twice = decide({"XCLAIM", "a:s", "g", "c", "0", "1-1", "2-0", "1-1"});
  EXPECT_EQ(twice.reason, Reason::RepeatedEntry);
  EXPECT_EQ(twice.arg_index, 7);
  EXPECT_EQ(denialMessage(twice, "xclaim"),
            "NOPERM 'xclaim' names a stream entry it returns more than once (argument 7)");
  // "2" is 2-0 to Redis.
  EXPECT_EQ(decide({"XCLAIM", "a:s", "g", "c", "0", "2", "2-0"}).reason, Reason::RepeatedEntry);
  EXPECT_EQ(decide({"xclaim", "a:s", "g", "c", "0", "18446744073709551615-18446744073709551615",
                    "18446744073709551615-18446744073709551615"})
                .reason,
            Reason::RepeatedEntry);
  // Redis reads these as 1-1 too: not canonical, refused rather than compared.
  for (const char* alias : {"01-1", "1-01", "+1-1", " 1-1", "1-+1", "1-", "-1", "1-1-1",
                            "18446744073709551616-0", "abc"}) {
    const Decision d = decide({"XCLAIM", "a:s", "g", "c", "0", "1-1", alias});
    EXPECT_EQ(d.reason, Reason::SyntaxError) << alias;
    EXPECT_EQ(d.arg_index, 6) << alias;
  }
}

}  // namespace
}  // namespace kw::policy
