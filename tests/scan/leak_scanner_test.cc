// LeakScanner: positions (line, code-point column, offset), pieces of any size giving the same
// findings as one piece, windows far smaller than the input, and source-map locations.
#include "scan/leak_scanner.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/base64url.h"
#include "tests/scan/scan_test_support.h"

namespace kw::scan {
namespace {

struct Seen {
  std::string kind, secret, variable, embedded;
  uint64_t offset, line, column;
  bool operator==(const Seen&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << s.kind << "@" << s.offset << " " << s.line << ":" << s.column << " [" << s.variable
            << "] " << s.embedded;
}

std::vector<Seen> scanPieces(std::string_view text, size_t piece, LeakScanner::Options o = {}) {
  std::vector<Seen> out;
  LeakScanner scanner(
      [&](const Found& f) {
        const std::string where = f.embedded ? describe(*f.embedded) : "";
        out.push_back({std::string(kindName(f.kind)), std::string(f.secret),
                       std::string(f.variable), where, f.offset, f.line, f.column});
      },
      o);
  for (size_t i = 0; i < text.size(); i += piece) scanner.feed(text.substr(i, piece));
  scanner.finish();
  return out;
}

TEST(LeakScannerTest, LinesAndCodePointColumns) {
  const std::string k = testing::keywardKey();
  const std::string text = "a\r\nb\n\xc3\xa9t\xc3\xa9 = \"" + k + "\"\n" + k;
  auto seen = scanPieces(text, text.size());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].line, 3u);
  EXPECT_EQ(seen[0].column, 8u);  // "été = \"" is 7 code points (9 bytes)
  EXPECT_EQ(seen[0].offset, 14u);
  EXPECT_EQ(seen[0].secret, k);
  EXPECT_EQ(seen[1].line, 4u);
  EXPECT_EQ(seen[1].column, 1u);
}

TEST(LeakScannerTest, AnyPieceSizeAndSmallWindowsFindTheSame) {
  const std::string t = testing::upstashToken();
  std::string text;
  for (int i = 0; i < 40; ++i) {
    text += std::string(997 + i * 31, i % 3 == 0 ? 'x' : i % 3 == 1 ? '\n' : '/');
    text += i % 2 ? " {token:\"" + t + "\"}" : " KV_REST_API_TOKEN=q8Zr2KpX7vN4mT9wLs3 ";
    text += testing::jwt() + " " + testing::keywardKey(static_cast<char>('A' + i % 20)) + ";";
  }
  const auto whole = scanPieces(text, text.size());
  EXPECT_EQ(whole.size(), 120u);
  for (size_t piece : {size_t{1}, size_t{7}, size_t{4096}, size_t{70000}}) {
    for (size_t window : {size_t{333}, size_t{1} << 20}) {
      LeakScanner::Options o;
      o.window_bytes = window;
      EXPECT_EQ(scanPieces(text, piece, o), whole) << piece << " " << window;
    }
  }
}

TEST(LeakScannerTest, OneLongLineKeepsItsColumnAcrossWindows) {
  const std::string k = testing::keywardKey();
  std::string text(3 << 20, 'a');
  text += " " + k;
  LeakScanner::Options o;
  o.window_bytes = 64 * 1024;
  auto seen = scanPieces(text, 100000, o);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].line, 1u);
  EXPECT_EQ(seen[0].column, (3u << 20) + 2);
}

TEST(LeakScannerTest, FindingsInASourceMapNameTheEmbeddedSource) {
  const std::string k = testing::keywardKey();
  const std::string map = R"({"version":3,"sources":["src/a.ts","src/lib/redis.ts"],)"
                          R"("sourcesContent":["const a = 1;\n","import x from \"y\";\n)"
                          R"(const k = \"é)" +
                          k + R"(\";\n"],"mappings":"AAAA"})";
  LeakScanner::Options o;
  o.source_map = true;
  auto seen = scanPieces(map, 5, o);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].embedded, "src/lib/redis.ts:2:13");
  EXPECT_EQ(seen[0].line, 1u);
  // Outside sourcesContent nothing is embedded; a file that is not JSON locates nothing.
  auto plain = scanPieces("x " + k, 3, o);
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0].embedded, "");
}

// Found by the attack run: a map inlined as a base64 data URL is decoded and scanned.
TEST(LeakScannerTest, InlineBase64SourceMapsAreDecodedAndScanned) {
  const std::string k = testing::keywardKey();
  const std::string map =
      R"({"version":3,"sources":["src/a.ts"],"sourcesContent":["x\nconst k = \")" + k +
      R"(\";"],"mappings":"A"})";
  const std::string text =
      "var a=1;\n//# sourceMappingURL=data:application/json;charset=utf-8;base64," +
      policy::base64UrlEncode(map) + "\nvar b=2;";
  const auto whole = scanPieces(text, text.size());
  ASSERT_EQ(whole.size(), 1u);
  EXPECT_EQ(whole[0].kind, "keyward-key");
  EXPECT_EQ(whole[0].secret, k);
  EXPECT_EQ(whole[0].embedded, "src/a.ts:2:12");
  EXPECT_EQ(whole[0].line, 2u);
  EXPECT_EQ(whole[0].offset, text.find("base64,") + 7);
  LeakScanner::Options small;
  small.window_bytes = 300;
  EXPECT_EQ(scanPieces(text, 5, small), whole);
  // Not base64 JSON: nothing decoded.
  EXPECT_TRUE(scanPieces("//# sourceMappingURL=data:text/plain;base64,QUJD", 7).empty());
}

}  // namespace
}  // namespace kw::scan
