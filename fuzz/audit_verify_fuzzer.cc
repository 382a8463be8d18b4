// Fuzzes `keyward audit verify`'s chain verifier and the chain codec.
// 1. Arbitrary bytes as audit files (split at 0x1e into up to three files, at '\n' into lines):
//    never a crash; a verdict is either ok or names a FILE:LINE.
// 2. The input's lines as record contents, chained the way the writer chains them: the chain
//    always verifies, and the record count is exact.
// 3. That chain with one line dropped, or two different lines swapped, never verifies (the
//    first line dropped: verifies only with the note that the chain starts past the genesis).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/audit_chain.h"
#include "proxy/codec/json_escape.h"
#include "proxy/tools/audit_chain_verifier.h"

using kw::proxy::AuditChainVerifier;

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t from = 0;
  for (size_t at; (at = s.find(sep, from)) != std::string_view::npos; from = at + 1) {
    out.push_back(s.substr(from, at - from));
  }
  out.push_back(s.substr(from));
  return out;
}

AuditChainVerifier::Verdict verify(const std::vector<std::string>& lines) {
  AuditChainVerifier v;
  v.beginFile("f");
  for (const std::string& l : lines) {
    if (!v.line(l)) break;
  }
  return v.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  // 1. Raw files.
  AuditChainVerifier raw;
  const std::vector<std::string_view> files = split(in, '\x1e');
  for (size_t f = 0; f < files.size() && f < 3; ++f) {
    raw.beginFile("f" + std::to_string(f + 1));
    std::vector<std::string_view> lines = split(files[f], '\n');
    const bool unterminated = !lines.back().empty();
    lines.pop_back();
    bool going = true;
    for (std::string_view l : lines) {
      if (!(going = raw.line(l))) break;
    }
    if (going && unterminated) raw.unterminatedLine();
  }
  const AuditChainVerifier::Verdict rv = raw.finish();
  KW_FUZZ_CHECK(rv.ok == rv.problem.empty());
  KW_FUZZ_CHECK(rv.ok || rv.problem.rfind("f", 0) == 0);

  // 2. A chain the writer would make from the input's lines.
  std::vector<std::string> chain;
  std::string prev = kw::proxy::codec::auditGenesisHex();
  for (std::string_view l : split(in, '\n')) {
    if (chain.size() == 64) break;
    std::string record = "{\"d\":";
    kw::proxy::codec::appendJsonString(record, l);
    record += '}';
    chain.push_back(kw::proxy::codec::chainRecord(record, prev));
    prev = kw::proxy::codec::auditDigestHex(chain.back());
  }
  const AuditChainVerifier::Verdict ok = verify(chain);
  KW_FUZZ_CHECK(ok.ok);
  KW_FUZZ_CHECK(ok.records == chain.size());
  KW_FUZZ_CHECK(ok.notes.empty());

  // 3. One line dropped (not the last: a cut end is undetectable by design), or two different
  // lines swapped.
  if (chain.size() >= 2) {
    const size_t i = static_cast<size_t>(data[0]) % (chain.size() - 1);
    std::vector<std::string> dropped = chain;
    dropped.erase(dropped.begin() + static_cast<std::ptrdiff_t>(i));
    const AuditChainVerifier::Verdict dv = verify(dropped);
    KW_FUZZ_CHECK(!dv.ok || (i == 0 && dv.notes.find("f:1: the chain starts here") == 0));
    const size_t j = i + 1 + static_cast<size_t>(size > 1 ? data[1] : 0) % (chain.size() - i - 1);
    std::vector<std::string> swapped = chain;
    std::swap(swapped[i], swapped[j]);
    KW_FUZZ_CHECK(!verify(swapped).ok);
  }
  return 0;
}
