// JWT conformance table: every refusal class of README, Credentials, plus accepted tokens.
#include "policy/jwt.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <string>

#include "policy/json_object.h"
#include "tests/support/pem.h"

namespace kw::policy {
namespace {

constexpr int64_t kNow = 1'800'000'000;
const std::string kSecret(40, 's');

using kw::testing::pemOf;

struct Keys {
  JwtKeyConstSharedPtr ed_priv, ed_pub, other_ed_priv, hs;
  Keys() {
    EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    EVP_PKEY* k2 = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    ed_priv = *JwtKey::fromPem("ed", pemOf(k, true), true);
    ed_pub = *JwtKey::fromPem("ed", pemOf(k, false), false);
    other_ed_priv = *JwtKey::fromPem("ed", pemOf(k2, true), true);
    hs = *JwtKey::fromSecret("hs", kSecret);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
  }
};
const Keys& keys() {
  static const Keys k;
  return k;
}

// Builds a token from raw header/claims JSON, signed by `signer` (or with a given signature).
std::string craft(std::string_view header, std::string_view claims, const JwtKey* signer) {
  std::string input = base64UrlEncode(header) + "." + base64UrlEncode(claims);
  std::string sig = signer ? *signer->sign(input) : std::string("x");
  return input + "." + base64UrlEncode(sig);
}

const std::string kEdHeader = R"({"alg":"EdDSA","kid":"ed","typ":"JWT"})";
const std::string kHsHeader = R"({"alg":"HS256","kid":"hs"})";
std::string claims(std::string extra = "") {
  return R"({"client":"web","sub":"42","exp":)" + std::to_string(kNow + 600) + extra + "}";
}

struct Row {
  const char* name;
  std::string token;
  bool accept;
  const char* why;      // substring of the refusal message
  bool strict = false;  // verify with signing.issuer and audience = "keyward"
};

std::vector<Row> rows() {
  const auto& k = keys();
  const JwtKey* ed = k.ed_priv.get();
  const JwtKey* hs = k.hs.get();
  const std::string good_ed = craft(kEdHeader, claims(), ed);
  std::string tampered = good_ed;
  tampered[tampered.find('.') + 5] ^= 1;
  const std::string n = std::to_string(kNow);
  return {
      {"ed25519 ok", good_ed, true, ""},
      {"hs256 ok", craft(kHsHeader, claims(), hs), true, ""},
      {"no typ ok", craft(R"({"alg":"EdDSA","kid":"ed"})", claims(), ed), true, ""},
      {"iat nbf ok", craft(kEdHeader, claims(",\"iat\":" + n + ",\"nbf\":" + n), ed), true, ""},
      {"iss aud ok", craft(kEdHeader, claims(R"(,"iss":"keyward","aud":"keyward")"), ed), true, "",
       true},
      {"aud array ok", craft(kEdHeader, claims(R"(,"iss":"keyward","aud":["x","keyward"])"), ed),
       true, "", true},
      {"jti ok", craft(kEdHeader, claims(R"(,"jti":"fresh")"), ed), true, ""},
      {"exp within leeway",
       craft(kEdHeader, R"({"client":"w","exp":)" + std::to_string(kNow - 10) + "}", ed), true, ""},
      {"nbf within leeway", craft(kEdHeader, claims(",\"nbf\":" + std::to_string(kNow + 20)), ed),
       true, ""},
      {"unknown extra claim ok", craft(kEdHeader, claims(R"(,"role":{"a":[1,2]})"), ed), true, ""},
      {"sub with email chars",
       craft(kEdHeader,
             R"({"client":"w","sub":"a.b-c_d@e","exp":)" + std::to_string(kNow + 5) + "}", ed),
       true, ""},
      // Structure.
      {"empty", "", false, "compact"},
      {"one segment", "abc", false, "compact"},
      {"two segments", "abc.def", false, "compact"},
      {"four segments", good_ed + ".x", false, "compact"},
      {"empty header", "." + good_ed.substr(good_ed.find('.') + 1), false, "base64url"},
      {"padded header", base64UrlEncode(kEdHeader) + "==." + good_ed.substr(good_ed.find('.') + 1),
       false, "base64url"},
      {"std base64 chars", "ab+/" + good_ed, false, "base64url"},
      {"bad signature b64", good_ed.substr(0, good_ed.rfind('.') + 1) + "***", false, "signature"},
      {"oversized", std::string(9000, 'a'), false, "too large"},
      {"whitespace in token", " " + good_ed, false, "base64url"},
      // Header.
      {"alg none", craft(R"({"alg":"none","kid":"ed"})", claims(), nullptr), false,
       "alg does not match"},
      {"alg missing", craft(R"({"kid":"ed"})", claims(), ed), false, "no alg"},
      {"alg not string", craft(R"({"alg":1,"kid":"ed"})", claims(), ed), false, "no alg"},
      {"alg RS256", craft(R"({"alg":"RS256","kid":"ed"})", claims(), ed), false,
       "alg does not match"},
      {"alg lowercase", craft(R"({"alg":"eddsa","kid":"ed"})", claims(), ed), false,
       "alg does not match"},
      {"confusion HS256 on ed kid", craft(R"({"alg":"HS256","kid":"ed"})", claims(), hs), false,
       "alg does not match"},
      {"confusion EdDSA on hs kid", craft(R"({"alg":"EdDSA","kid":"hs"})", claims(), ed), false,
       "alg does not match"},
      {"kid missing", craft(R"({"alg":"EdDSA"})", claims(), ed), false, "no kid"},
      {"kid empty", craft(R"({"alg":"EdDSA","kid":""})", claims(), ed), false, "no kid"},
      {"kid unknown", craft(R"({"alg":"EdDSA","kid":"zz"})", claims(), ed), false, "unknown kid"},
      {"kid not string", craft(R"({"alg":"EdDSA","kid":7})", claims(), ed), false, "no kid"},
      {"crit header", craft(R"({"alg":"EdDSA","kid":"ed","crit":["exp"]})", claims(), ed), false,
       "unsupported"},
      {"jwk header", craft(R"({"alg":"EdDSA","kid":"ed","jwk":{}})", claims(), ed), false,
       "unsupported"},
      {"jku header", craft(R"({"alg":"EdDSA","kid":"ed","jku":"http://x"})", claims(), ed), false,
       "unsupported"},
      {"typ wrong", craft(R"({"alg":"EdDSA","kid":"ed","typ":"at+jwt"})", claims(), ed), false,
       "typ"},
      {"duplicate alg", craft(R"({"alg":"EdDSA","alg":"HS256","kid":"ed"})", claims(), ed), false,
       "duplicate"},
      {"header not json", craft("not json", claims(), ed), false, "header"},
      {"header array", craft("[1]", claims(), ed), false, "header"},
      {"header trailing", craft(kEdHeader + "x", claims(), ed), false, "trailing"},
      // Signature.
      {"tampered claims", tampered, false, "signature"},
      {"signed by other key", craft(kEdHeader, claims(), k.other_ed_priv.get()), false,
       "signature"},
      {"empty signature", good_ed.substr(0, good_ed.rfind('.') + 1), false, "signature"},
      {"hs wrong secret",
       [&] {
         auto other = *JwtKey::fromSecret("hs", std::string(40, 't'));
         return craft(kHsHeader, claims(), other.get());
       }(),
       false, "signature"},
      {"truncated signature", good_ed.substr(0, good_ed.size() - 4), false, "signature"},
      // Claims.
      {"no client", craft(kEdHeader, R"({"exp":)" + std::to_string(kNow + 60) + "}", ed), false,
       "client"},
      {"client not string",
       craft(kEdHeader, R"({"client":5,"exp":)" + std::to_string(kNow + 60) + "}", ed), false,
       "client"},
      {"client empty",
       craft(kEdHeader, R"({"client":"","exp":)" + std::to_string(kNow + 60) + "}", ed), false,
       "client"},
      {"no exp", craft(kEdHeader, R"({"client":"w"})", ed), false, "no exp"},
      {"exp string", craft(kEdHeader, R"({"client":"w","exp":"1900000000"})", ed), false, "exp"},
      {"exp fraction", craft(kEdHeader, R"({"client":"w","exp":1800000600.5})", ed), false, "exp"},
      {"exp exponent", craft(kEdHeader, R"({"client":"w","exp":1.8e9})", ed), false, "exp"},
      {"exp negative", craft(kEdHeader, R"({"client":"w","exp":-1})", ed), false, "exp"},
      {"exp overflow", craft(kEdHeader, R"({"client":"w","exp":99999999999999999999})", ed), false,
       "exp"},
      {"expired", craft(kEdHeader, R"({"client":"w","exp":)" + std::to_string(kNow - 31) + "}", ed),
       false, "expired"},
      {"exp beyond max_ttl",
       craft(kEdHeader, R"({"client":"w","exp":)" + std::to_string(kNow + 90000) + "}", ed), false,
       "max_ttl"},
      {"nbf future", craft(kEdHeader, claims(",\"nbf\":" + std::to_string(kNow + 31)), ed), false,
       "nbf"},
      {"iat future", craft(kEdHeader, claims(",\"iat\":" + std::to_string(kNow + 31)), ed), false,
       "future"},
      {"nbf string", craft(kEdHeader, claims(R"(,"nbf":"0")"), ed), false, "nbf"},
      {"duplicate exp", craft(kEdHeader, claims(",\"exp\":" + std::to_string(kNow + 600)), ed),
       false, "duplicate"},
      {"duplicate client", craft(kEdHeader, claims(R"(,"client":"admin")"), ed), false,
       "duplicate"},
      {"sub not string",
       craft(kEdHeader, R"({"client":"w","sub":42,"exp":)" + std::to_string(kNow + 60) + "}", ed),
       false, "sub"},
      {"sub with star",
       craft(kEdHeader, R"({"client":"w","sub":"4*","exp":)" + std::to_string(kNow + 60) + "}", ed),
       false, "sub"},
      {"sub with colon",
       craft(kEdHeader, R"({"client":"w","sub":"4:2","exp":)" + std::to_string(kNow + 60) + "}",
             ed),
       false, "sub"},
      {"sub empty",
       craft(kEdHeader, R"({"client":"w","sub":"","exp":)" + std::to_string(kNow + 60) + "}", ed),
       false, "sub"},
      {"sub too long",
       craft(kEdHeader,
             R"({"client":"w","sub":")" + std::string(129, 'a') + R"(","exp":)" +
                 std::to_string(kNow + 60) + "}",
             ed),
       false, "sub"},
      {"jti not string", craft(kEdHeader, claims(R"(,"jti":1)"), ed), false, "jti"},
      {"revoked jti", craft(kEdHeader, claims(R"(,"jti":"revoked-1")"), ed), false, "revoked"},
      // A jti the revocation paths could not name is refused outright (credentials.h).
      {"jti hash", craft(kEdHeader, claims(R"(,"jti":"#abc")"), ed), false, "jti"},
      {"jti leading space", craft(kEdHeader, claims(R"(,"jti":" abc")"), ed), false, "jti"},
      {"jti trailing space", craft(kEdHeader, claims(R"(,"jti":"abc ")"), ed), false, "jti"},
      {"jti empty", craft(kEdHeader, claims(R"(,"jti":"")"), ed), false, "jti"},
      {"jti slash", craft(kEdHeader, claims(R"(,"jti":"a/b")"), ed), false, "jti"},
      {"jti too long", craft(kEdHeader, claims(R"(,"jti":")" + std::string(129, 'a') + "\""), ed),
       false, "jti"},
      {"jti longest", craft(kEdHeader, claims(R"(,"jti":")" + std::string(128, 'a') + "\""), ed),
       true, ""},
      {"jti every safe class", craft(kEdHeader, claims(R"(,"jti":"Az09._:-")"), ed), true, ""},
      {"iss mismatch", craft(kEdHeader, claims(R"(,"iss":"evil","aud":"keyward")"), ed), false,
       "issuer", true},
      {"aud mismatch", craft(kEdHeader, claims(R"(,"iss":"keyward","aud":"other")"), ed), false,
       "audience", true},
      {"aud array mismatch", craft(kEdHeader, claims(R"(,"iss":"keyward","aud":["a","b"])"), ed),
       false, "audience", true},
      {"aud number", craft(kEdHeader, claims(R"(,"aud":5)"), ed), false, "aud"},
      {"claims not object", craft(kEdHeader, "[]", ed), false, "claims"},
      {"claims invalid utf8", craft(kEdHeader, "{\"client\":\"\xff\",\"exp\":1}", ed), false,
       "claims"},
      {"claims lone surrogate", craft(kEdHeader, R"({"client":"\ud800","exp":1})", ed), false,
       "claims"},
      {"claims deep nesting", craft(kEdHeader, claims(R"(,"x":[[[[[[[[[[1]]]]]]]]]])"), ed), false,
       "claims"},
      {"claims trailing garbage", craft(kEdHeader, claims() + "{}", ed), false, "trailing"},
  };
}

class JwtConformance : public ::testing::TestWithParam<Row> {};

TEST_P(JwtConformance, Decides) {
  const auto& k = keys();
  const std::vector<JwtKeyConstSharedPtr> ring = {k.ed_pub, k.hs};
  const Row& row = GetParam();
  JwtRules r;
  if (row.strict) {
    r.issuer = "keyward";
    r.audience = "keyward";
  }
  const std::unordered_set<std::string> revoked = {"revoked-1"};
  auto got = verifyJwt(row.token, ring, r, kNow, &revoked);
  if (row.accept) {
    ASSERT_TRUE(got.has_value()) << row.name << ": " << got.error().message;
    EXPECT_FALSE(got->client.empty());
  } else {
    ASSERT_FALSE(got.has_value()) << row.name << " was accepted";
    EXPECT_NE(got.error().message.find(row.why), std::string::npos)
        << row.name << ": " << got.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, JwtConformance, ::testing::ValuesIn(rows()), [](const auto& info) {
  std::string n;
  for (char c : std::string(info.param.name)) {
    n.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  }
  return n;
});

TEST(Jwt, SignThenVerifyRoundTrip) {
  const auto& k = keys();
  JwtRules r{"keyward", "keyward", 24 * 3600, 30};
  JwtClaims c;
  c.client = "browser";
  c.sub = "user-7";
  c.jti = "j1";
  c.iat = kNow;
  c.exp = kNow + 900;
  for (const JwtKey* signer : {k.ed_priv.get(), k.hs.get()}) {
    auto tok = signJwt(*signer, c, r);
    ASSERT_TRUE(tok.has_value());
    auto got = verifyJwt(*tok, {k.ed_pub, k.hs}, r, kNow + 1);
    ASSERT_TRUE(got.has_value()) << got.error().message;
    EXPECT_EQ(got->client, "browser");
    EXPECT_EQ(got->sub, "user-7");
    EXPECT_EQ(got->jti, "j1");
    EXPECT_EQ(got->exp, kNow + 900);
  }
}

TEST(Jwt, PublicKeyCannotSign) { EXPECT_FALSE(keys().ed_pub->sign("x").has_value()); }

TEST(Jwt, ShortHmacSecretRefused) { EXPECT_FALSE(JwtKey::fromSecret("k", "short").has_value()); }

TEST(Jwt, NonEd25519PemRefused) {
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  EXPECT_FALSE(JwtKey::fromPem("ec", pemOf(ec, false), false).has_value());
  EVP_PKEY_free(ec);
  EXPECT_FALSE(JwtKey::fromPem("junk", "not pem", false).has_value());
}

TEST(Base64Url, StrictDecoding) {
  std::string out;
  EXPECT_TRUE(base64UrlDecode("Zm9v", out));
  EXPECT_EQ(out, "foo");
  EXPECT_TRUE(base64UrlDecode("Zm8", out));
  EXPECT_EQ(out, "fo");
  EXPECT_FALSE(base64UrlDecode("Zm9=", out));  // padding
  EXPECT_FALSE(base64UrlDecode("Zm9", out));   // non-canonical trailing bits
  EXPECT_FALSE(base64UrlDecode("Z", out));     // impossible length
  EXPECT_FALSE(base64UrlDecode("Zm+v", out));  // standard alphabet
  EXPECT_EQ(base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(JsonObject, RejectsDuplicatesAndDepth) {
  EXPECT_FALSE(parseJsonObject(R"({"a":1,"a":2})").has_value());
  EXPECT_TRUE(parseJsonObject(R"({"a":[[[[1]]]]})").has_value());
  EXPECT_FALSE(parseJsonObject(R"({"a":[[[[[[[[[1]]]]]]]]]})").has_value());
  EXPECT_FALSE(parseJsonObject(R"({"a":01})").has_value());
  EXPECT_FALSE(parseJsonObject(R"({"a":1,})").has_value());
  auto ok = parseJsonObject(R"( {"s":"\u00e9\ud83d\ude00","n":-0,"b":true} )");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->find("s")->text, "\xc3\xa9\xf0\x9f\x98\x80");
}

}  // namespace
}  // namespace kw::policy
