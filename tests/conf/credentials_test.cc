// Tests for policy/credentials (SHA-256 references, key format, constant-time compare) and
// conf/api_key_gen (new random keys).
#include "policy/credentials.h"

#include <gtest/gtest.h>

#include <set>

#include "conf/api_key_gen.h"

namespace kw {
namespace {

TEST(CredentialsTest, Sha256HexKnownVector) {
  EXPECT_EQ(policy::sha256Hex("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  EXPECT_EQ(policy::sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(CredentialsTest, ParseSha256Ref) {
  const std::string hex = policy::sha256Hex("test");
  auto d = policy::parseSha256Ref("sha256:" + hex);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(policy::toHex(*d), hex);
  EXPECT_EQ(*d, policy::sha256("test"));
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& bad :
       std::vector<std::string>{"", "sha256:", "sha256:" + hex.substr(1), "sha256:" + hex + "0",
                                "SHA256:" + hex, "sha1:" + hex, hex, "sha256:" + upper,
                                "sha256:" + hex.substr(0, 63) + "g", "sha256: " + hex.substr(1)}) {
    EXPECT_FALSE(policy::parseSha256Ref(bad).has_value()) << bad;
  }
}

TEST(CredentialsTest, ConstantTimeEquals) {
  EXPECT_TRUE(policy::constantTimeEquals("abc", "abc"));
  EXPECT_TRUE(policy::constantTimeEquals("", ""));
  EXPECT_FALSE(policy::constantTimeEquals("abc", "abd"));
  EXPECT_FALSE(policy::constantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(policy::constantTimeEquals("", "a"));
}

TEST(CredentialsTest, ApiKeyFormat) {
  EXPECT_TRUE(policy::isWellFormedApiKey("kw_6UBwgQ55Fx0hhPu4Grx1Bbl17cjQNPJbPQeK1QRCzAA"));
  EXPECT_TRUE(policy::isWellFormedApiKey("kw_GAr88cCVFXhQmOmsj5ZIOgLK7v6c-vjrA3ucEYVKnBQ"));
  for (const char* bad : {"", "kw_", "kw_6UBwgQ55Fx0hhPu4Grx1Bbl17cjQNPJbPQeK1QRCzA",
                          "kw_6UBwgQ55Fx0hhPu4Grx1Bbl17cjQNPJbPQeK1QRCzAAA",
                          "kx_6UBwgQ55Fx0hhPu4Grx1Bbl17cjQNPJbPQeK1QRCzAA",
                          "kw_6UBwgQ55Fx0hhPu4Grx1Bbl17cjQNPJbPQeK1QRCz+A",
                          "kw_6UBwgQ55Fx0hhPu4Grx1Bbl17cjQNPJbPQeK1QRCzA=",
                          "kw_6UBwgQ55Fx0hhPu4Grx1Bbl17cjQNPJbPQeK1QRCzAB"}) {
    EXPECT_FALSE(policy::isWellFormedApiKey(bad)) << bad;
  }
}

TEST(ApiKeyGenTest, NewKeysAreWellFormedUniqueAndMatchTheirReference) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto k = conf::newApiKey();
    ASSERT_TRUE(k.has_value());
    EXPECT_TRUE(policy::isWellFormedApiKey(k->key)) << k->key;
    EXPECT_EQ(k->reference, "sha256:" + policy::sha256Hex(k->key));
    EXPECT_TRUE(policy::parseSha256Ref(k->reference).has_value());
    EXPECT_TRUE(seen.insert(k->key).second);
  }
}

}  // namespace
}  // namespace kw
