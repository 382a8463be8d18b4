// replaceFileAtomically / readFileNoFollow and their users (quota state file, revocation list):
// a symlink planted at the target or at a temp name is never written through.
#include "proxy/io/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "conf/loader.h"
#include "proxy/admin/token_admin.h"
#include "proxy/quota/quota_state_file.h"

namespace kw::proxy {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kw-atomic-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    victim_ = dir_ + "/victim";
    std::ofstream(victim_) << "precious";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // No file other than `keep` (and the victim) is left in the directory: no stray temp files.
  size_t entries() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) n += e.path() != victim_;
    return n;
  }
  std::string dir_, victim_;
};

TEST_F(AtomicFileTest, ReplacesAndLeavesNoTempFile) {
  const std::string p = dir_ + "/f";
  ASSERT_TRUE(replaceFileAtomically(p, "one"));
  ASSERT_TRUE(replaceFileAtomically(p, "two"));
  EXPECT_EQ(slurp(p), "two");
  EXPECT_EQ(entries(), 1u);
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AtomicFileTest, SymlinkAtTargetIsReplacedNotFollowed) {
  const std::string p = dir_ + "/f";
  ASSERT_EQ(::symlink(victim_.c_str(), p.c_str()), 0);
  ASSERT_TRUE(replaceFileAtomically(p, "mine"));
  EXPECT_EQ(slurp(victim_), "precious");
  EXPECT_FALSE(std::filesystem::is_symlink(p));
  EXPECT_EQ(slurp(p), "mine");
}

TEST_F(AtomicFileTest, SymlinksAtOldFixedTempNamesAreNeverWrittenThrough) {
  const std::string p = dir_ + "/f";
  // The names earlier versions used (".tmp", ".tmp.<pid>"): planted links stay untouched.
  for (const std::string& t : {p + ".tmp", p + ".tmp." + std::to_string(::getpid())}) {
    ASSERT_EQ(::symlink(victim_.c_str(), t.c_str()), 0);
  }
  ASSERT_TRUE(replaceFileAtomically(p, "mine"));
  EXPECT_EQ(slurp(victim_), "precious");
  EXPECT_EQ(slurp(p), "mine");
}

TEST_F(AtomicFileTest, ReadRefusesASymlink) {
  const std::string p = dir_ + "/f";
  ASSERT_EQ(::symlink(victim_.c_str(), p.c_str()), 0);
  EXPECT_FALSE(readFileNoFollow(p, 1024));
  auto missing = readFileNoFollow(dir_ + "/none", 1024);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  std::ofstream(dir_ + "/empty") << "";
  auto empty = readFileNoFollow(dir_ + "/empty", 1024);
  ASSERT_TRUE(empty && empty->has_value());
  EXPECT_TRUE((*empty)->empty());
  std::ofstream(dir_ + "/big") << std::string(2000, 'x');
  auto big = readFileNoFollow(dir_ + "/big", 1024);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::TooLarge);
}

TEST_F(AtomicFileTest, QuotaStateFileNeverWritesThroughALink) {
  const std::string p = dir_ + "/quota.state";
  ASSERT_EQ(::symlink(victim_.c_str(), p.c_str()), 0);
  EXPECT_FALSE(loadQuotaStateFile(p)) << "a symlinked state file is refused at start";
  policy::QuotaState st;
  ASSERT_TRUE(saveQuotaStateFile(p, st));
  EXPECT_EQ(slurp(victim_), "precious");
  EXPECT_FALSE(std::filesystem::is_symlink(p));
  auto loaded = loadQuotaStateFile(p);
  ASSERT_TRUE(loaded) << loaded.error().message;
}

TEST_F(AtomicFileTest, RevokeRefusesASymlinkedListAndLeavesItsTargetAlone) {
  std::ofstream(dir_ + "/kw.yaml") << "listen:\n  address: 127.0.0.1:0\nupstream:\n  url: "
                                      "redis://127.0.0.1:6379\nsigning:\n  revoked_file: r.txt\n"
                                      "clients:\n  - name: t\n    commands: [\"+get\"]\n";
  auto cfg = conf::loadConfigFile(dir_ + "/kw.yaml");
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto snap = conf::buildSnapshot(std::move(*cfg));
  ASSERT_TRUE(snap) << snap.error().message;
  ASSERT_EQ(::symlink(victim_.c_str(), (dir_ + "/r.txt").c_str()), 0);
  EXPECT_EQ(revokeTokenRequest(**snap, R"({"jti":"j1"})").status, 500);
  EXPECT_EQ(slurp(victim_), "precious");
  ASSERT_EQ(::unlink((dir_ + "/r.txt").c_str()), 0);
  ASSERT_EQ(::symlink(victim_.c_str(), (dir_ + "/r.txt.tmp").c_str()), 0);
  EXPECT_EQ(revokeTokenRequest(**snap, R"({"jti":"j1"})").status, 200);
  EXPECT_EQ(revokeTokenRequest(**snap, R"({"jti":"j2"})").status, 200);
  EXPECT_EQ(slurp(victim_), "precious");
  EXPECT_EQ(slurp(dir_ + "/r.txt"), "j1\nj2\n");
  // Round trip: both read back exactly as revoked.
  auto list = conf::loadRevokedFile(dir_ + "/r.txt");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 2u);
  EXPECT_TRUE(list->count("j1") && list->count("j2"));
}

}  // namespace
}  // namespace kw::proxy
