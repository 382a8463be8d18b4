// Strict base64url: round trips at every length, one encoding per byte string (non-canonical
// trailing bits refused), every byte outside the alphabet refused wherever it stands.
#include "policy/base64url.h"

#include <gtest/gtest.h>

#include <string>

namespace kw::policy {
namespace {

TEST(Base64Url, RoundTripsAtEveryLength) {
  std::string in;
  for (size_t n = 0; n < 300; ++n) {
    const std::string enc = base64UrlEncode(in);
    EXPECT_EQ(enc.size(), (n * 4 + 2) / 3) << n;
    std::string out = "junk";
    ASSERT_TRUE(base64UrlDecode(enc, out)) << n;
    EXPECT_EQ(out, in) << n;
    in.push_back(static_cast<char>(n * 131 + 7));
  }
  EXPECT_EQ(base64UrlEncode("\xfb\xff\xbf"), "-_-_");
  EXPECT_EQ(base64UrlEncode("hello"), "aGVsbG8");
}

TEST(Base64Url, RefusesWhatIsNotTheOneEncoding) {
  std::string out;
  EXPECT_FALSE(base64UrlDecode("a", out));
  EXPECT_FALSE(base64UrlDecode("aGVsb", out));     // length 1 mod 4
  EXPECT_FALSE(base64UrlDecode("aGVsbG8=", out));  // padding
  EXPECT_FALSE(base64UrlDecode("aGVsbG9", out));   // trailing bits set (8 -> 9)
  EXPECT_FALSE(base64UrlDecode("aR", out));        // 2 chars: low 4 bits of R set
  EXPECT_TRUE(base64UrlDecode("aQ", out));         // Q: low 4 bits clear
  EXPECT_FALSE(base64UrlDecode("aGB", out));       // 3 chars: low 2 bits of B set
  EXPECT_TRUE(base64UrlDecode("aGA", out));
  EXPECT_FALSE(base64UrlDecode("aG+s", out));  // the standard alphabet's + and /
  EXPECT_FALSE(base64UrlDecode("aG/s", out));
  const std::string good = base64UrlEncode("some bytes to encode!");
  for (size_t i = 0; i < good.size(); ++i) {
    for (char bad : {'=', ' ', '\0', '.', '\xff', '+'}) {
      std::string s = good;
      s[i] = bad;
      EXPECT_FALSE(base64UrlDecode(s, out)) << i << " " << int(bad);
    }
  }
}

}  // namespace
}  // namespace kw::policy
