// The scan report writers: every format is well-formed whatever the file names hold, and a
// SARIF artifact URI is a percent-encoded relative reference.
#include "proxy/scan/scan_report.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <sstream>
#include <string>

namespace kw::proxy {
namespace {

std::string render(ScanFormat format, std::string_view file, bool embedded) {
  std::ostringstream out, err;
  auto report = makeScanReport(format, out, err, "1.2.3");
  scan::Found f;
  f.kind = scan::FindingKind::RedisUrl;
  f.offset = 10;
  f.line = 2;
  f.column = 5;
  f.variable = "NEXT_PUBLIC_REDIS_URL";
  scan::EmbeddedLocation loc;
  loc.source_name = "src/\"q\"\n.ts";
  loc.line = 7;
  loc.column = 3;
  if (embedded) f.embedded = loc;
  ReportedFinding r;
  r.file = file;
  r.found = &f;
  r.preview = "redis://u:***@h";
  r.state = "live";
  r.client = "web";
  r.action = "do \"this\"";
  report->finding(r);
  report->finding(r);
  ScanSummary s;
  s.files = 1;
  s.findings = 2;
  report->end(s);
  if (format == ScanFormat::Text)
    EXPECT_EQ(err.str(), "keyward scan: 1 files, 0 bytes, 0 skipped, 2 findings, 0 errors\n");
  return out.str();
}

TEST(ScanReportTest, JsonAndSarifAreValidJsonWhateverTheNames) {
  for (ScanFormat format : {ScanFormat::Json, ScanFormat::Sarif}) {
    const std::string doc = render(format, "dist/a\"b\\c\n\x01.js", true);
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    ASSERT_EQ(parser.parse(doc).get(root), simdjson::SUCCESS) << doc;
  }
  const std::string sarif = render(ScanFormat::Sarif, "./dist/my app/ä.js", true);
  EXPECT_NE(sarif.find("\"uri\":\"dist/my%20app/%C3%A4.js\""), std::string::npos) << sarif;
  EXPECT_NE(sarif.find("\"relatedLocations\":[{\"id\":1"), std::string::npos);
  EXPECT_NE(sarif.find("\"version\":\"1.2.3\""), std::string::npos);
}

TEST(ScanReportTest, TextIsOneLinePerFindingWithControlBytesReplaced) {
  const std::string text = render(ScanFormat::Text, "a\nb.js", true);
  EXPECT_EQ(text,
            "a?b.js:2:5 redis-url redis://u:***@h in NEXT_PUBLIC_REDIS_URL (embedded "
            "src/\"q\"?.ts:7:3) [live, client web]\n  do \"this\"\n"
            "a?b.js:2:5 redis-url redis://u:***@h in NEXT_PUBLIC_REDIS_URL (embedded "
            "src/\"q\"?.ts:7:3) [live, client web]\n  do \"this\"\n");
}

TEST(ScanReportTest, PathToUri) {
  EXPECT_EQ(pathToUri("./src/app.js"), "src/app.js");
  EXPECT_EQ(pathToUri("/abs/x y#z?.map"), "/abs/x%20y%23z%3F.map");
  EXPECT_EQ(pathToUri("a%b"), "a%25b");
}

}  // namespace
}  // namespace kw::proxy
