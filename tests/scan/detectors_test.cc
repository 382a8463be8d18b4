// matchAt and its helpers: each kind found with its exact span, and the near misses that must
// not be (a token inside a longer run, a reference instead of a value, a placeholder).
#include "scan/detectors.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/scan/scan_test_support.h"

namespace kw::scan {
namespace {

using testing::jwt;
using testing::keywardKey;
using testing::upstashToken;
using testing::upstashTokenV1;

// The first match scanning `text` position by position, as "kind@begin+length[NAME]".
std::string first(std::string_view text) {
  for (size_t at = 0; at < text.size(); ++at) {
    if (auto m = matchAt(text, at)) {
      std::string out = std::string(kindName(m->kind)) + "@" + std::to_string(m->begin) + "+" +
                        std::to_string(m->end - m->begin);
      if (m->hasName())
        out += "[" + std::string(text.substr(m->name_begin, m->name_end - m->name_begin)) + "]";
      return out;
    }
  }
  return "none";
}

TEST(DetectorsTest, KeywardKeyIsExactly43Base64UrlCharactersAfterKw) {
  const std::string k = keywardKey();
  EXPECT_EQ(first("key: " + k + "\n"), "keyward-key@5+46");
  EXPECT_EQ(first(k), "keyward-key@0+46");
  EXPECT_EQ(first(k + "A"), "none");          // 44 characters: some other string
  EXPECT_EQ(first("x" + k), "none");          // inside an identifier
  EXPECT_EQ(first(k.substr(0, 45)), "none");  // 42 characters
  // 43 characters that are not a 32-byte encoding (last character carries non-zero bits).
  EXPECT_EQ(first("kw_" + std::string(42, 'A') + "B"), "none");
}

TEST(DetectorsTest, JwtNeedsThreeSegmentsWithAJsonHeaderNamingAlg) {
  const std::string t = jwt();
  EXPECT_EQ(first("Bearer " + t), "jwt@7+" + std::to_string(t.size()));
  EXPECT_EQ(first("\"" + t + "\""), "jwt@1+" + std::to_string(t.size()));
  EXPECT_EQ(first(t + ".eyJhIjoxfQ"), "none");  // a fourth segment: JWE
  EXPECT_EQ(first("a" + t), "none");
  const std::string unsigned_jwt = t.substr(0, t.rfind('.') + 1);
  EXPECT_EQ(first(unsigned_jwt), "none");  // alg none: no signature, no credential
  const std::string no_alg = policy::base64UrlEncode(R"({"typ":"JWT"})") + "." +
                             policy::base64UrlEncode(R"({"a":1})") + "." + std::string(43, 'x');
  EXPECT_EQ(first(no_alg), "none");
}

TEST(DetectorsTest, RedisUrlNeedsANonPlaceholderPassword) {
  EXPECT_EQ(first("REDIS=rediss://default:Zx81kPq0@eu1-x.upstash.io:6379/0"), "redis-url@6+47");
  EXPECT_EQ(first("url = \"redis://:Zx81kPq0@10.0.0.2\""), "redis-url@7+26");
  EXPECT_EQ(first("REDIS://u:Zx81kPq0@h"), "redis-url@0+20");
  EXPECT_EQ(first("redis://localhost:6379"), "none");
  EXPECT_EQ(first("redis://user@localhost:6379"), "none");
  EXPECT_EQ(first("redis://user:password@localhost"), "none");
  EXPECT_EQ(first("redis://default:<password>@host"), "none");
  EXPECT_EQ(first("`redis://default:${pw}@${host}`"), "none");
  EXPECT_EQ(first("redis://default:@host"), "none");
}

TEST(DetectorsTest, UpstashTokenIsRecognisedByWhatItDecodesTo) {
  const std::string t = upstashToken();
  const std::string v1 = upstashTokenV1();
  EXPECT_EQ(first("token:\"" + t + "\""), "upstash-token@7+" + std::to_string(t.size()));
  EXPECT_EQ(first(v1 + ";"), "upstash-token@0+" + std::to_string(v1.size()));
  EXPECT_EQ(first("/" + t), "none");  // inside a longer base64 run
  EXPECT_EQ(first(t + "Q"), "none");  // longer than the token: not base64 of the same bytes
  // The same length of base64 that decodes to binary.
  std::string raw = {'\x01', '\x55', '\x3c', '\x00', '\x02', '\x23'};
  raw += std::string(37, '\xfe');
  EXPECT_EQ(first(policy::base64UrlEncode(raw)), "none");
}

TEST(DetectorsTest, SensitiveVariablesInEveryAssignmentSyntax) {
  const std::string v = "q8Zr2KpX7vN4mT9wLs3";
  EXPECT_EQ(first("KV_REST_API_TOKEN=" + v + "\n"), "upstash-variable@18+19[KV_REST_API_TOKEN]");
  EXPECT_EQ(first("UPSTASH_REDIS_REST_TOKEN = \"" + v + "\""),
            "upstash-variable@28+19[UPSTASH_REDIS_REST_TOKEN]");
  EXPECT_EQ(first("{\"KV_REST_API_TOKEN\": \"" + v + "\"}"),
            "upstash-variable@23+19[KV_REST_API_TOKEN]");
  EXPECT_EQ(first("  KV_REST_API_TOKEN: " + v), "upstash-variable@21+19[KV_REST_API_TOKEN]");
  EXPECT_EQ(first("{VITE_UPSTASH_TOKEN:'" + v + "'}"), "public-variable@21+19[VITE_UPSTASH_TOKEN]");
  // A JSON string inside a JSON string (a source map's sourcesContent).
  EXPECT_EQ(first("\"REACT_APP_KV_TOKEN=\\\"" + v + "\\\"\\n\""),
            "public-variable@22+19[REACT_APP_KV_TOKEN]");
  // A shaped value is reported as its shape, with the variable named.
  const std::string t = upstashToken();
  EXPECT_EQ(
      first("NEXT_PUBLIC_UPSTASH_REDIS_REST_TOKEN=" + t),
      "upstash-token@37+" + std::to_string(t.size()) + "[NEXT_PUBLIC_UPSTASH_REDIS_REST_TOKEN]");
}

// Found by the attack run: human passwords under credential names, JSON-escaped slashes, IPv6.
TEST(DetectorsTest, CredentialNamesNeedNoEntropyAndUrlsTheirEscapedForms) {
  EXPECT_EQ(first("NEXT_PUBLIC_REDIS_PASSWORD=hunter2hunter2hunter2\n"),
            "public-variable@27+21[NEXT_PUBLIC_REDIS_PASSWORD]");
  EXPECT_EQ(first("VITE_REDIS_PASSWORD=\"P@ssw0rd!2024\""),
            "public-variable@21+13[VITE_REDIS_PASSWORD]");
  EXPECT_EQ(first("UPSTASH_REDIS_REST_TOKEN=correcthorsebatterystaple"),
            "upstash-variable@25+25[UPSTASH_REDIS_REST_TOKEN]");
  EXPECT_EQ(first("NEXT_PUBLIC_REDIS_PASSWORD=changeme"), "none");
  EXPECT_EQ(first("NEXT_PUBLIC_KV_TOKEN_TTL=15m"), "none");
  EXPECT_EQ(first("UPSTASH_REDIS_REST_TOKEN: UPSTASH_TOKEN_FROM_VAULT"), "none");  // a name
  EXPECT_EQ(first(" NEXT_PUBLIC_UPSTASH_TOKEN= NEXT_PUBLIC_UPSTASH_TOKEN="), "none");
  EXPECT_EQ(first("\"redis:\\/\\/default:p4ssw0rdLong@host:6379\""), "redis-url@1+40");
  EXPECT_EQ(first("redis://default:p4ssw0rdLong@[::1]:6379"), "redis-url@0+39");
}

TEST(DetectorsTest, UnquotedValuesAreBoundedQuotedOnesNot) {
  const std::string digits = "q8Zr2KpX7vN4mT9wLs3";
  std::string bare_long;
  while (bare_long.size() <= 128) bare_long += digits;
  EXPECT_EQ(first("KV_REST_API_TOKEN=" + bare_long), "none");
  EXPECT_EQ(first("KV_REST_API_TOKEN=\"" + bare_long + "\""),
            "upstash-variable@19+" + std::to_string(bare_long.size()) + "[KV_REST_API_TOKEN]");
  // A JWT too long to be a bare value is still found, by its shape.
  const std::string token = jwt() + std::string(200, 'x');
  EXPECT_EQ(first("KV_REST_API_TOKEN=" + token).substr(0, 7), "jwt@18+");
}

TEST(DetectorsTest, ReferencesComparisonsAndHarmlessPublicValuesAreNotFindings) {
  EXPECT_EQ(first("token: process.env.UPSTASH_REDIS_REST_TOKEN,"), "none");
  EXPECT_EQ(first("UPSTASH_REDIS_REST_TOKEN:e.env.UPSTASH_TOKEN"), "none");
  EXPECT_EQ(first("if (KV_REST_API_TOKEN == \"q8Zr2KpX7vN4mT9wLs3\")"), "none");
  EXPECT_EQ(first("UPSTASH_REDIS_REST_TOKEN=your_token_here"), "none");
  EXPECT_EQ(first("UPSTASH_REDIS_REST_TOKEN="), "none");
  EXPECT_EQ(first("UPSTASH_REDIS_REST_TOKEN: ${{ secrets.UPSTASH }}"), "none");
  EXPECT_EQ(first("NEXT_PUBLIC_UPSTASH_REDIS_REST_URL=https://eu1-x.upstash.io"), "none");
  EXPECT_EQ(first("NEXT_PUBLIC_SITE_NAME=q8Zr2KpX7vN4mT9wLs3"), "none");      // not about Redis
  EXPECT_EQ(first("MY_UPSTASH_REDIS_REST_URL=q8Zr2KpX7vN4mT9wLs3"), "none");  // not a token
  EXPECT_EQ(first("XNEXT_PUBLIC_KV_TOKEN=q8Zr2KpX7vN4mT9wLs3"), "none");
}

TEST(DetectorsTest, SecretsAndPlaceholders) {
  EXPECT_TRUE(looksLikeSecret("q8Zr2KpX7vN4mT9wLs3"));
  EXPECT_TRUE(looksLikeSecret("3f5a9c0e1b7d4a2f8e6c"));
  EXPECT_FALSE(looksLikeSecret("short1"));
  EXPECT_FALSE(looksLikeSecret("production-cache"));   // no digit, a word
  EXPECT_FALSE(looksLikeSecret("aaaaaaaaaaaa1aaaa"));  // low entropy
  EXPECT_FALSE(looksLikeSecret("two words 123456"));
  EXPECT_FALSE(looksLikeSecret("https://a.b/c123456789"));
  for (const char* p :
       {"", "<token>", "{{ token }}", "${TOKEN}", "%TOKEN%", "********", "xxxxxxxxxxxx",
        "YOUR_UPSTASH_TOKEN", "changeme", "password", "put-token-here", "example-123"}) {
    EXPECT_TRUE(isPlaceholder(p)) << p;
  }
  EXPECT_FALSE(isPlaceholder("q8Zr2KpX7vN4mT9wLs3"));
}

TEST(DetectorsTest, EveryKindHasANameAndADescription) {
  for (FindingKind k : kAllKinds) {
    EXPECT_NE(kindName(k), "unknown");
    EXPECT_FALSE(kindDescription(k).empty());
  }
}

}  // namespace
}  // namespace kw::scan
