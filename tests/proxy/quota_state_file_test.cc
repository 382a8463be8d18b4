// quota.state_file I/O: missing = first start, damaged = error, atomic save, background writer.
#include "proxy/quota/quota_state_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace kw::proxy {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/kw-quota-state-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

policy::QuotaState sample(uint64_t used) {
  policy::QuotaState st;
  st.global = {20785, used, 683, used};
  st.clients.push_back({"app", {20785, used, 683, used}});
  return st;
}

TEST(QuotaStateFile, MissingIsAFirstStartDamagedIsAnError) {
  TempDir d;
  const std::string f = d.path + "/quota.state";
  auto none = loadQuotaStateFile(f);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  std::ofstream(f) << "keyward-quota-state 1\ng 1 2\n";
  auto bad = loadQuotaStateFile(f);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("line 2"), std::string::npos) << bad.error().message;
}

TEST(QuotaStateFile, SaveReplacesTheFileWhole) {
  TempDir d;
  const std::string f = d.path + "/quota.state";
  ASSERT_TRUE(saveQuotaStateFile(f, sample(5)));
  ASSERT_TRUE(saveQuotaStateFile(f, sample(9)));
  auto got = loadQuotaStateFile(f);
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->clients.at(0).second.day_used, 9u);
  EXPECT_FALSE(std::filesystem::exists(f + ".tmp"));
}

TEST(QuotaStateFile, WriterWritesTheNewestStateAndSaveNowWins) {
  TempDir d;
  const std::string f = d.path + "/quota.state";
  {
    QuotaStateWriter w(f);
    w.submit(sample(1));
    w.submit(sample(2));
  }  // the destructor writes what is pending
  auto got = loadQuotaStateFile(f);
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->global.day_used, 2u);
  QuotaStateWriter w(f);
  w.submit(sample(3));
  ASSERT_TRUE(w.saveNow(sample(4)));
  EXPECT_EQ(w.takeError(), "");
  got = loadQuotaStateFile(f);
  ASSERT_TRUE(got && got->has_value());
  EXPECT_EQ((*got)->global.day_used, 4u) << "an older state never replaces a newer one";
  QuotaStateWriter broken(d.path + "/no/such/dir/quota.state");
  EXPECT_FALSE(broken.saveNow(sample(1)));
}

}  // namespace
}  // namespace kw::proxy
