// The once-fetched digests give the FIPS 180 answers, through keyward's own helpers too.
#include "policy/digests.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "policy/credentials.h"

namespace kw::policy {
namespace {

std::string hexDigest(const EVP_MD* md, std::string_view text) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), out, &len, md, nullptr) != 1) return "error";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex.push_back(kHex[out[i] >> 4]);
    hex.push_back(kHex[out[i] & 15]);
  }
  return hex;
}

TEST(Digests, KnownAnswers) {
  ASSERT_NE(sha256Digest(), nullptr);
  ASSERT_NE(sha1Digest(), nullptr);
  EXPECT_EQ(sha256Digest(), sha256Digest()) << "fetched once";
  EXPECT_EQ(hexDigest(sha256Digest(), "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hexDigest(sha256Digest(), ""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hexDigest(sha1Digest(), "abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace kw::policy
