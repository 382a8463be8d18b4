// SecretWatch: pieces of keyward's upstream token in a reply, as they are, JSON-escaped or
// base64-encoded, whole bodies and streamed (attack round 18: an escaped, base64 or one-byte-short
// token reached the client).
#include "proxy/codec/secret_watch.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <random>
#include <string>

#include "proxy/codec/base64.h"

namespace kw::proxy::codec {
namespace {

const std::string kToken = "AXsPASQgNjk2Yzg1ZWYtYTNkYi00ZjM2LTlmZTUtZGQ1Yjc3ZTMwZjIz/kw+Tok==";

std::shared_ptr<const SecretPieces> pieces(std::string_view secret = kToken) {
  return std::make_shared<const SecretPieces>(secret);
}

std::string escapedAll(std::string_view s, bool upper) {
  std::string out;
  for (const char c : s) {
    char buf[8];
    std::snprintf(buf, sizeof buf, upper ? "\\u%04X" : "\\u%04x", static_cast<unsigned char>(c));
    out += buf;
  }
  return out;
}

TEST(SecretWatch, FindsTheTokenAndAnyPieceOfSixteenBytes) {
  const auto p = pieces();
  EXPECT_TRUE(SecretWatch::holds(p, "{\"result\":\"" + kToken + "\"}"));
  EXPECT_TRUE(SecretWatch::holds(p, "{\"result\":\"" + kToken.substr(0, kToken.size() - 1) + "\"}"))
      << "one byte short is the token";
  EXPECT_TRUE(SecretWatch::holds(p, kToken.substr(30, 16)));
  EXPECT_FALSE(SecretWatch::holds(p, kToken.substr(30, 15)));
  EXPECT_FALSE(SecretWatch::holds(p, "{\"result\":\"hello\"}"));
  EXPECT_FALSE(SecretWatch::holds(p, ""));
}

TEST(SecretWatch, FindsItInsideJsonEscapes) {
  const auto p = pieces();
  EXPECT_TRUE(SecretWatch::holds(p, "{\"result\":\"" + escapedAll(kToken, false) + "\"}"));
  EXPECT_TRUE(SecretWatch::holds(p, "[\"" + escapedAll(kToken, true) + "\"]"));
  // Some characters escaped, some not, and the slash as \/.
  std::string mixed = "\"";
  for (size_t i = 0; i < kToken.size(); ++i) {
    if (kToken[i] == '/') {
      mixed += "\\/";
    } else if (i % 3 == 0) {
      mixed += escapedAll(kToken.substr(i, 1), i % 2 == 0);
    } else {
      mixed += kToken[i];
    }
  }
  EXPECT_TRUE(SecretWatch::holds(p, mixed + "\""));
  // Escapes that are not escapes pass as they are, and break nothing after them.
  EXPECT_TRUE(SecretWatch::holds(p, "\\x\\u12\\uZZZZ" + kToken));
  EXPECT_FALSE(SecretWatch::holds(p, "\\u0041\\n\\t\\\"plain\\\\"));
}

TEST(SecretWatch, FindsItBase64EncodedInEveryAlignment) {
  const auto p = pieces();
  for (const std::string& prefix : {std::string(), std::string("a"), std::string("ab")}) {
    const std::string encoded = base64Encode(prefix + kToken + "tail");
    EXPECT_TRUE(SecretWatch::holds(p, "{\"result\":\"" + encoded + "\"}")) << prefix.size();
    std::string slashes;  // a JSON encoder may write '/' as "\/"
    for (const char c : encoded) slashes += c == '/' ? std::string("\\/") : std::string(1, c);
    EXPECT_TRUE(SecretWatch::holds(p, slashes)) << prefix.size();
  }
  EXPECT_FALSE(SecretWatch::holds(p, base64Encode("nothing secret here at all, just data")));
}

TEST(SecretWatch, AShortSecretIsLookedForWhole) {
  const auto p = pieces("s3cr3t");
  EXPECT_TRUE(SecretWatch::holds(p, "x s3cr3t y"));
  EXPECT_TRUE(SecretWatch::holds(p, escapedAll("s3cr3t", false)));
  EXPECT_FALSE(SecretWatch::holds(p, "s3cr3 t"));
  const auto none = pieces("");
  EXPECT_FALSE(SecretWatch::holds(none, kToken));
  SecretWatch w(none);
  EXPECT_TRUE(w.feed("abc"));
  EXPECT_EQ(w.releasable(), 3u);
}

// Streamed one byte at a time: nothing of a piece is ever released before it is found, and a
// reply without one is released to its last bytes.
TEST(SecretWatch, StreamedNothingOfAPieceGoesOutFirst) {
  const auto p = pieces();
  for (const std::string& inner :
       {kToken, escapedAll(kToken, false), base64Encode("ab" + kToken)}) {
    const std::string body = "{\"result\":\"" + std::string(100, 'x') + inner + "\"}";
    SecretWatch w(p);
    uint64_t released = 0;
    size_t i = 0;
    for (; i < body.size(); ++i) {
      if (!w.feed(body.substr(i, 1))) break;
      ASSERT_GE(w.releasable(), released) << "releasable went back";
      released = w.releasable();
    }
    if (i == body.size()) {
      EXPECT_FALSE(w.settle()) << "never found: " << inner.substr(0, 20);
    }
    EXPECT_FALSE(SecretWatch::holds(p, body.substr(0, released)))
        << "a piece went out before it was found";
    EXPECT_LE(released, 111u + 3u) << "released past the start of the piece";
  }
  SecretWatch clean(p);
  const std::string body = "{\"result\":\"" + std::string(1000, 'y') + "\\u0041\"}";
  ASSERT_TRUE(clean.feed(body));
  // Kept back: the raw bytes of the last 31 decoded ones (2W - B - 1 for base64's W = 20 and
  // its 8-byte blocks; the \u0041 escape is six of them).
  EXPECT_EQ(clean.releasable(), body.size() - (2 * SecretPieces::kBase64Piece - 8 - 1) - 5);
  EXPECT_TRUE(clean.settle());
  EXPECT_LE(clean.releasable(), body.size() - 1);
}

TEST(SecretWatch, RandomChunkingFindsWhatTheWholeBodyHolds) {
  const auto p = pieces();
  std::mt19937 rng(11);
  for (int round = 0; round < 200; ++round) {
    std::string body(300 + rng() % 300, 'q');
    for (char& c : body) c = static_cast<char>('a' + rng() % 26);
    if (round % 2 == 0) {
      const std::string piece = escapedAll(kToken.substr(rng() % 40, 17), round % 4 == 0);
      body.insert(rng() % body.size(), piece);
    }
    SecretWatch w(p);
    bool ok = true;
    for (size_t at = 0; at < body.size() && ok;) {
      const size_t n = 1 + rng() % 40;
      ok = w.feed(std::string_view(body).substr(at, n));
      at += n;
    }
    ok = ok && w.settle();  // a piece at the very end is confirmed there
    EXPECT_EQ(!ok, SecretWatch::holds(p, body)) << round;
    EXPECT_EQ(!ok, round % 2 == 0) << round;
  }
}

}  // namespace
}  // namespace kw::proxy::codec
