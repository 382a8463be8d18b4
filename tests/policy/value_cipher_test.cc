// The value envelope: AES-256-GCM round trips, binding to key and field, and every way an
// envelope can fail to open.
#include "policy/value_cipher.h"

#include <gtest/gtest.h>

#include <string>

#include "policy/base64url.h"

namespace kw::policy {
namespace {

ValueKey key(std::string_view id, char fill) {
  return *ValueKey::make(id, std::string(kValueKeyBytes, fill));
}

ValueNonce nonce(uint8_t b) {
  ValueNonce n{};
  n.fill(b);
  return n;
}

TEST(ValueCipher, SealsAndOpensWithTheKeyNameBound) {
  const ValueKeyring ring({key("v1", 'a')});
  const std::string ad = valueAssociatedData("sess:1");
  auto env = ring.seal("hello", ad, nonce(7));
  ASSERT_TRUE(env.has_value());
  EXPECT_TRUE(env->starts_with("kw1.v1.")) << *env;
  EXPECT_EQ(env->find("hello"), std::string::npos);
  std::string plain;
  EXPECT_EQ(ring.open(*env, ad, plain), OpenResult::Ok);
  EXPECT_EQ(plain, "hello");
  // Moved to another key, or to a hash field of the same name: the tag fails.
  EXPECT_EQ(ring.open(*env, valueAssociatedData("sess:2"), plain), OpenResult::Tampered);
  EXPECT_EQ(plain, "");
  EXPECT_EQ(ring.open(*env, valueAssociatedData("sess:1", ""), plain), OpenResult::Tampered);
}

TEST(ValueCipher, EmptyAndBinaryValuesRoundTrip) {
  const ValueKeyring ring({key("k", 'b')});
  const std::string ad = valueAssociatedData("h", "f");
  for (const std::string& v :
       {std::string(), std::string("\0\xff\r\n", 4), std::string(70000, 'x')}) {
    auto env = ring.seal(v, ad, nonce(1));
    ASSERT_TRUE(env);
    std::string plain = "junk";
    ASSERT_EQ(ring.open(*env, ad, plain), OpenResult::Ok);
    EXPECT_EQ(plain, v);
  }
}

TEST(ValueCipher, FieldBindingIsUnambiguous) {
  // Length prefixes: ("ab", "c") and ("a", "bc") differ, and a string key never equals a field.
  EXPECT_NE(valueAssociatedData("ab", "c"), valueAssociatedData("a", "bc"));
  EXPECT_NE(valueAssociatedData("a"), valueAssociatedData("a", ""));
  // The documented bytes (docs/value-encryption.md): "kw1", NUL, the kind, 8-byte big-endian
  // lengths. (Review finding: the kind byte was cut off by a C-string literal.)
  EXPECT_EQ(valueAssociatedData("k"), std::string("kw1\0s\0\0\0\0\0\0\0\x01k", 14));
  EXPECT_EQ(valueAssociatedData("k", "f"), std::string("kw1\0h\0\0\0\0\0\0\0\x01k\0\0\0\0\0\0\0\x01"
                                                       "f",
                                                       23));
  const ValueKeyring ring({key("k", 'c')});
  auto env = ring.seal("v", valueAssociatedData("ab", "c"), nonce(2));
  std::string plain;
  EXPECT_EQ(ring.open(*env, valueAssociatedData("a", "bc"), plain), OpenResult::Tampered);
}

TEST(ValueCipher, EveryFlippedByteFailsToOpen) {
  const ValueKeyring ring({key("k", 'd')});
  const std::string ad = valueAssociatedData("sess:x");
  const std::string env = *ring.seal("secret value", ad, nonce(3));
  EnvelopeParts parts;
  ASSERT_EQ(parseEnvelope(env, parts), EnvelopeParse::Ok);
  for (size_t i = 0; i < parts.sealed.size(); ++i) {
    std::string sealed = parts.sealed;
    sealed[i] = static_cast<char>(sealed[i] ^ 0x01);
    const std::string bad = "kw1.k." + base64UrlEncode(sealed);
    std::string plain;
    EXPECT_EQ(ring.open(bad, ad, plain), OpenResult::Tampered) << i;
    EXPECT_TRUE(plain.empty());
  }
}

TEST(ValueCipher, RotationOpensOldValuesAndSealsWithTheFirstKey) {
  const ValueKeyring old_ring({key("v1", 'e')});
  const ValueKeyring ring({key("v2", 'f'), key("v1", 'e')});
  const std::string ad = valueAssociatedData("k");
  const std::string old_env = *old_ring.seal("old", ad, nonce(4));
  std::string plain;
  EXPECT_EQ(ring.open(old_env, ad, plain), OpenResult::Ok);
  EXPECT_EQ(plain, "old");
  EXPECT_TRUE(ring.seal("new", ad, nonce(5))->starts_with("kw1.v2."));
  // A key id nobody holds, and the same id with another secret.
  EXPECT_EQ(ValueKeyring({key("v3", 'e')}).open(old_env, ad, plain), OpenResult::UnknownKey);
  EXPECT_EQ(ValueKeyring({key("v1", 'z')}).open(old_env, ad, plain), OpenResult::Tampered);
}

TEST(ValueCipher, MalformedEnvelopesAndPlaintext) {
  const ValueKeyring ring({key("k", 'g')});
  std::string plain;
  EXPECT_EQ(ring.open("hello", "", plain), OpenResult::NotEnvelope);
  EXPECT_EQ(ring.open("", "", plain), OpenResult::NotEnvelope);
  EXPECT_EQ(ring.open("kw1.", "", plain), OpenResult::Malformed);
  EXPECT_EQ(ring.open("kw1.k", "", plain), OpenResult::Malformed);
  EXPECT_EQ(ring.open("kw1.k.", "", plain), OpenResult::Malformed);
  EXPECT_EQ(ring.open("kw1.k.AAAA", "", plain), OpenResult::Malformed);  // shorter than nonce+tag
  EXPECT_EQ(ring.open("kw1.k.!!!!", "", plain), OpenResult::Malformed);
  EXPECT_EQ(ring.open("kw1.k.k." + std::string(40, 'A'), "", plain), OpenResult::Malformed);
  EXPECT_EQ(ring.open("kw1." + std::string(33, 'a') + "." + std::string(40, 'A'), "", plain),
            OpenResult::Malformed);
  const std::string env = *ring.seal("v", "", nonce(6));
  for (size_t cut = 1; cut < env.size(); ++cut) {
    EXPECT_NE(ring.open(env.substr(0, env.size() - cut), "", plain), OpenResult::Ok) << cut;
    EXPECT_TRUE(plain.empty());
  }
  // A whole byte dropped from the sealed bytes: still an envelope, and it does not open.
  EnvelopeParts parts;
  ASSERT_EQ(parseEnvelope(env, parts), EnvelopeParse::Ok);
  parts.sealed.pop_back();
  EXPECT_EQ(ring.open("kw1.k." + base64UrlEncode(parts.sealed), "", plain), OpenResult::Tampered);
}

TEST(ValueCipher, KeysAndIds) {
  EXPECT_FALSE(ValueKey::make("k", std::string(31, 'a')));
  EXPECT_FALSE(ValueKey::make("k", std::string(33, 'a')));
  EXPECT_FALSE(ValueKey::make("a.b", std::string(32, 'a')));
  EXPECT_FALSE(ValueKey::make("", std::string(32, 'a')));
  EXPECT_TRUE(isValidValueKeyId("v2_2024-01"));
  EXPECT_FALSE(isValidValueKeyId(std::string(33, 'a')));
  EXPECT_FALSE(ValueKeyring().seal("v", "", nonce(0)));
  // A fresh nonce gives a fresh envelope for the same value.
  const ValueKeyring ring({key("k", 'h')});
  EXPECT_NE(*ring.seal("v", "", nonce(1)), *ring.seal("v", "", nonce(2)));
}

}  // namespace
}  // namespace kw::policy
