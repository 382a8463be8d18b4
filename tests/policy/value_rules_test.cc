// What the policy says to seal and open for each covered command (the allow/deny classes are
// rows in testdata/17_value_encryption.txt).
#include "policy/value_rules.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/client_policy.h"

namespace kw::policy {
namespace {

class ValueRules : public ::testing::Test {
 protected:
  void SetUp() override {
    ClientSpec spec;
    spec.name = "t";
    spec.commands = {"+@all"};
    spec.keys = {"*"};
    spec.encrypted_keys = {"sess:*"};
    policy_ = *ClientPolicy::compile(spec);
  }
  Evaluation eval(std::vector<std::string> words) {
    words_ = std::move(words);
    argv_.assign(words_.begin(), words_.end());
    return policy_->evaluate(argv_, Identity{}, scratch_);
  }
  std::shared_ptr<const ClientPolicy> policy_;
  EvalScratch scratch_;
  std::vector<std::string> words_;
  std::vector<std::string_view> argv_;
};

void expectSlots(const std::vector<ValueSlot>& got, std::vector<std::vector<int>> want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(static_cast<int>(got[i].arg), want[i][0]) << i;
    EXPECT_EQ(static_cast<int>(got[i].key_arg), want[i][1]) << i;
    EXPECT_EQ(got[i].field_arg, want[i][2]) << i;
  }
}

TEST_F(ValueRules, StringWritesSealTheValueArgument) {
  auto e = eval({"SET", "sess:1", "v", "EX", "10"});
  ASSERT_TRUE(e.decision.allowed());
  expectSlots(e.values.seal, {{2, 1, -1}});
  EXPECT_EQ(e.values.reply, ReplyValues::None);
  e = eval({"SET", "sess:1", "v", "get"});
  expectSlots(e.values.seal, {{2, 1, -1}});
  EXPECT_EQ(e.values.reply, ReplyValues::Whole);
  e = eval({"SETEX", "sess:1", "10", "v"});
  expectSlots(e.values.seal, {{3, 1, -1}});
  e = eval({"GETSET", "sess:1", "v"});
  expectSlots(e.values.seal, {{2, 1, -1}});
  EXPECT_EQ(e.values.reply, ReplyValues::Whole);
  EXPECT_EQ(e.values.whole.key_arg, 1u);
  EXPECT_EQ(e.values.whole.field_arg, -1);
}

TEST_F(ValueRules, MultiKeyCommandsTouchOnlyEncryptedKeys) {
  auto e = eval({"MSET", "sess:1", "a", "plain", "b", "sess:2", "c"});
  ASSERT_TRUE(e.decision.allowed());
  expectSlots(e.values.seal, {{2, 1, -1}, {6, 5, -1}});
  e = eval({"MGET", "plain", "sess:1", "x", "sess:2"});
  EXPECT_EQ(e.values.reply, ReplyValues::Elements);
  expectSlots(e.values.open, {{1, 2, -1}, {3, 4, -1}});
  e = eval({"MGET", "plain", "other"});
  EXPECT_TRUE(e.values.empty());
}

TEST_F(ValueRules, HashValuesAreBoundToTheirField) {
  auto e = eval({"HSET", "sess:h", "f", "v", "g", "w"});
  expectSlots(e.values.seal, {{3, 1, 2}, {5, 1, 4}});
  e = eval({"HSETNX", "sess:h", "f", "v"});
  expectSlots(e.values.seal, {{3, 1, 2}});
  e = eval({"HGET", "sess:h", "f"});
  EXPECT_EQ(e.values.reply, ReplyValues::Whole);
  EXPECT_EQ(e.values.whole.field_arg, 2);
  e = eval({"HMGET", "sess:h", "f", "g"});
  expectSlots(e.values.open, {{0, 1, 2}, {1, 1, 3}});
  e = eval({"HGETALL", "sess:h"});
  EXPECT_EQ(e.values.reply, ReplyValues::FieldValuePairs);
  EXPECT_TRUE(e.rewritten.empty());
  e = eval({"HVALS", "sess:h"});
  EXPECT_EQ(e.values.reply, ReplyValues::PairValuesOnly);
  ASSERT_EQ(e.rewritten.size(), 2u);
  EXPECT_EQ(e.rewritten[0], "HGETALL");
  EXPECT_EQ(e.rewritten[1], "sess:h");
  e = eval({"HRANDFIELD", "sess:h", "3"});
  EXPECT_TRUE(e.values.empty());
  e = eval({"HRANDFIELD", "sess:h", "3", "WITHVALUES"});
  EXPECT_EQ(e.values.reply, ReplyValues::FieldValuePairs);
}

TEST_F(ValueRules, AgnosticAndUnrelatedCommandsCarryNoWork) {
  for (const std::vector<std::string>& w :
       std::vector<std::vector<std::string>>{{"DEL", "sess:1"},
                                             {"HKEYS", "sess:h"},
                                             {"GET", "plain"},
                                             {"INCR", "n"},
                                             {"HVALS", "plain:h"}}) {
    auto e = eval(w);
    EXPECT_TRUE(e.decision.allowed()) << w[0];
    EXPECT_TRUE(e.values.empty()) << w[0];
    EXPECT_TRUE(e.rewritten.empty()) << w[0];
  }
}

TEST_F(ValueRules, DenialNamesValueEncryption) {
  auto e = eval({"INCR", "sess:1"});
  ASSERT_FALSE(e.decision.allowed());
  EXPECT_EQ(e.decision.reason, Reason::ValueEncrypted);
  EXPECT_EQ(e.decision.arg_index, 1);
  EXPECT_TRUE(e.values.empty());
  const std::string msg = denialMessage(e.decision, "INCR");
  EXPECT_NE(msg.find("NOPERM"), std::string::npos) << msg;
  EXPECT_NE(msg.find("value is encrypted"), std::string::npos) << msg;
  EXPECT_EQ(denialStatus(Reason::ValueEncrypted), 403);
}

}  // namespace
}  // namespace kw::policy
