// `keyward audit verify`'s verifier: each kind of tampering is found and named.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/codec/audit_chain.h"
#include "proxy/tools/audit_chain_verifier.h"

namespace kw::proxy {
namespace {

std::vector<std::string> chain(int n, std::string prev = codec::auditGenesisHex()) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(codec::chainRecord("{\"n\":" + std::to_string(i) + "}", prev));
    prev = codec::auditDigestHex(out.back());
  }
  return out;
}

AuditChainVerifier::Verdict check(const std::vector<std::vector<std::string>>& files) {
  AuditChainVerifier v;
  for (size_t f = 0; f < files.size(); ++f) {
    v.beginFile("f" + std::to_string(f + 1));
    for (const auto& l : files[f]) {
      if (!v.line(l)) break;
    }
  }
  return v.finish();
}

TEST(AuditVerify, AnIntactChainPasses) {
  const auto v = check({chain(10)});
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 10u);
  EXPECT_EQ(v.notes, "");
  EXPECT_TRUE(check({}).ok);
}

TEST(AuditVerify, AChangedRecordIsNamed) {
  auto c = chain(6);
  c[2].replace(c[2].find("\"n\":2"), 5, "\"n\":7");
  const auto v = check({c});
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.problem.rfind("f1:4: its prev does not match f1:3 (f1:3 was changed", 0), 0)
      << v.problem;
}

TEST(AuditVerify, ARemovedRecordIsNamed) {
  auto c = chain(6);
  c.erase(c.begin() + 3);
  const auto v = check({c});
  EXPECT_EQ(v.problem.rfind("f1:4: its prev does not match f1:3", 0), 0) << v.problem;
}

TEST(AuditVerify, SwappedRecordsAreOutOfOrder) {
  auto c = chain(6);
  std::swap(c[2], c[3]);
  EXPECT_EQ(check({c}).problem, "f1:3: out of order: it belongs after f1:4");
}

TEST(AuditVerify, InsertedRecordsAreNamed) {
  auto c = chain(6);
  c.insert(c.begin() + 4, c[1]);  // a copy
  EXPECT_EQ(check({c}).problem, "f1:5: inserted (a copy of f1:2)");
  // A forged record claiming to follow record 3: the one after it shows the insertion.
  auto d = chain(6);
  d.insert(d.begin() + 3, codec::chainRecord("{\"forged\":1}", codec::auditDigestHex(d[2])));
  EXPECT_EQ(check({d}).problem, "f1:4: inserted (f1:5 follows f1:3)");
  // A forged record with a made-up prev: the record after it follows the one before it.
  auto e = chain(6);
  e.insert(e.begin() + 3, codec::chainRecord("{\"forged\":1}", std::string(64, 'a')));
  EXPECT_EQ(check({e}).problem, "f1:4: inserted (f1:5 follows f1:3)");
}

TEST(AuditVerify, FilesChainInOrder) {
  const auto c = chain(9);
  const std::vector<std::string> a(c.begin(), c.begin() + 4);
  const std::vector<std::string> b(c.begin() + 4, c.end());
  EXPECT_TRUE(check({a, b}).ok);
  EXPECT_EQ(check({a, b}).records, 9u);
  EXPECT_FALSE(check({b, a}).ok);
  // Only the newer file (the older one pruned): verifies, with a note.
  const auto only = check({b});
  EXPECT_TRUE(only.ok);
  EXPECT_NE(only.notes.find("f1:1: the chain starts here"), std::string::npos);
  // A file that starts a new chain (keyward started without the previous file) is not one
  // chain with it; verified alone it passes.
  const auto again = check({a, chain(3)});
  EXPECT_EQ(again.problem,
            "f2:1: a new chain starts here (its prev is the genesis), not the one of f1:4; "
            "verify the files before it separately");
  EXPECT_TRUE(check({chain(3)}).ok);
  // Nor in the middle of a file.
  auto mid = a;
  for (const auto& l : chain(2)) mid.push_back(l);
  EXPECT_FALSE(check({mid}).ok);
}

std::string tornMark(const std::vector<std::string>& fragments, const std::string& prev) {
  std::string m = "{\"event\":\"audit_torn\",\"lines\":[";
  for (size_t i = 0; i < fragments.size(); ++i) {
    m += (i ? ",{\"bytes\":" : "{\"bytes\":") + std::to_string(fragments[i].size()) +
         ",\"sha256\":\"" + codec::auditDigestHex(fragments[i]) + "\"}";
  }
  return codec::chainRecord(m + "]}", prev);
}

TEST(AuditVerify, TornLinesNeedTheirMarker) {
  const auto c = chain(2);
  const std::string torn = "{\"cut";
  const std::string mark = tornMark({torn}, codec::auditDigestHex(c[1]));
  const auto v = check({{c[0], c[1], torn, mark}});
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 3u);
  EXPECT_EQ(v.notes, "f1:3: a record cut short by a crash (5 bytes), marked by f1:4\n");
  // Two crashes in a row: the second cut the first marker; one marker names both.
  const std::string torn2 = mark.substr(0, 20);
  const auto two =
      check({{c[0], c[1], torn, torn2, tornMark({torn, torn2}, codec::auditDigestHex(c[1]))}});
  EXPECT_TRUE(two.ok) << two.problem;
  // A marker for other bytes, or for fewer lines, is a break.
  EXPECT_EQ(check({{c[0], c[1], torn, tornMark({"{\"cux"}, codec::auditDigestHex(c[1]))}}).problem,
            "f1:3: not an audit record (it does not end with a \"prev\" digest)");
  EXPECT_FALSE(check({{c[0], c[1], torn, torn, mark}}).ok);
}

TEST(AuditVerify, NonRecordsAreRefused) {
  auto c = chain(3);
  EXPECT_EQ(check({{c[0], "", c[1]}}).problem, "f1:2: an empty line, not an audit record");
  EXPECT_EQ(check({{c[0], "hello"}}).problem,
            "f1:2: not an audit record (it does not end with a \"prev\" digest)");
  // Ends like a record but is not JSON.
  const std::string fake = "{x,\"prev\":\"" + codec::auditDigestHex(c[0]) + "\"}";
  EXPECT_EQ(check({{c[0], fake}}).problem, "f1:2: not a JSON object");
  AuditChainVerifier v;
  v.beginFile("f1");
  v.line(c[0]);
  v.unterminatedLine();
  EXPECT_EQ(v.finish().problem,
            "f1:2: the file ends inside a record (an interrupted write, or a cut file)");
}

}  // namespace
}  // namespace kw::proxy
