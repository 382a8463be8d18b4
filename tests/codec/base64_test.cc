// Tests for the standard padded base64 codec: RFC 4648 vectors, binary round trips, strictness.
#include "proxy/codec/base64.h"

#include <gtest/gtest.h>

#include <string>

namespace kw::proxy::codec {
namespace {

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, UpstashExamples) {
  EXPECT_EQ(base64Encode("bar"), "YmFy");
  EXPECT_EQ(base64Encode("OK"), "T0s=");
  EXPECT_EQ(base64Encode("3.5"), "My41");
  EXPECT_EQ(base64Encode("PONG"), "UE9ORw==");
}

TEST(Base64, StandardAlphabetPlusSlash) {
  EXPECT_EQ(base64Encode(std::string("\xfb\xff", 2)), "+/8=");
  EXPECT_EQ(base64Encode(std::string("\xff\xff\xff", 3)), "////");
  EXPECT_EQ(base64Encode(std::string("\xfb\xef\xbe", 3)), "++++");
  EXPECT_EQ(base64Encode(std::string("\0\0\0", 3)), "AAAA");
}

TEST(Base64, EncodedSize) {
  for (size_t n = 0; n < 64; ++n) {
    EXPECT_EQ(base64EncodedSize(n), base64Encode(std::string(n, 'x')).size()) << n;
  }
  EXPECT_EQ(base64EncodedSize(3u << 20), 4u << 20);
}

TEST(Base64, AppendKeepsPrefix) {
  std::string out = "[\"";
  appendBase64(out, "foo");
  EXPECT_EQ(out, "[\"Zm9v");
}

TEST(Base64, AllByteValuesRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= all.size(); len += 7) {
    const std::string in = all.substr(0, len);
    auto back = base64Decode(base64Encode(in));
    ASSERT_TRUE(back.has_value()) << len;
    EXPECT_EQ(*back, in);
  }
}

TEST(Base64, LargeRoundTrip) {
  std::string big(5 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) ^ (i >> 7));
  const std::string enc = base64Encode(big);
  EXPECT_EQ(enc.size(), base64EncodedSize(big.size()));
  auto back = base64Decode(enc);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(*back == big);
}

TEST(Base64, DecodeRejectsMalformed) {
  EXPECT_FALSE(base64Decode("Zg=").has_value());     // length
  EXPECT_FALSE(base64Decode("Zm9").has_value());     // length
  EXPECT_FALSE(base64Decode("Zm9v\n").has_value());  // whitespace
  EXPECT_FALSE(base64Decode("Zm-v").has_value());    // url-safe alphabet
  EXPECT_FALSE(base64Decode("Zm_v").has_value());
  EXPECT_FALSE(base64Decode("Z===").has_value());  // three pads
  EXPECT_FALSE(base64Decode("====").has_value());
  EXPECT_FALSE(base64Decode("Zg==Zg==").has_value());  // pad in the middle
  EXPECT_FALSE(base64Decode("Zh==").has_value());      // non-zero unused bits
  EXPECT_FALSE(base64Decode("Zm9=").has_value());
  EXPECT_EQ(base64Decode("Zm8=").value(), "fo");
  EXPECT_EQ(base64Decode("").value(), "");
}

}  // namespace
}  // namespace kw::proxy::codec
