// The three output formats of `keyward scan` (README, Leak scanning), written as findings
// arrive, so memory does not grow with their number: text lines, one JSON document, or a
// SARIF 2.1.0 log that CI systems show inline.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "scan/leak_scanner.h"

namespace kw::proxy {

enum class ScanFormat : uint8_t { Text, Json, Sarif };

struct ReportedFinding {
  std::string_view file;  // as the user named it (or under the directory they named)
  const scan::Found* found = nullptr;
  std::string preview;  // redacted
  // With --config, for keyward credentials: the verdict and what was done.
  std::string state;  // "live", "expired", ... (empty: not judged)
  std::string client;
  std::string detail;  // "jti j-1, exp 2026-12-06T10:30:00Z", the reason it is dead
  std::string action;  // "revoked: jti j-1 appended to FILE", "remove sha256:... from ..."
};

struct ScanSummary {
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t skipped = 0;  // binary or not regular files
  uint64_t findings = 0;
  uint64_t errors = 0;  // paths that could not be read
};

class ScanReport {
 public:
  virtual ~ScanReport() = default;
  virtual void finding(const ReportedFinding& f) = 0;
  virtual void end(const ScanSummary& summary) = 0;
};

// `version`: keyward's, named in the SARIF tool driver. The text format writes its closing
// summary line to `err`, so `out` holds only finding lines.
std::unique_ptr<ScanReport> makeScanReport(ScanFormat format, std::ostream& out, std::ostream& err,
                                           std::string_view version);

// A path as a SARIF artifact URI (a relative reference; bytes outside RFC 3986's unreserved
// set and '/' percent-encoded).
std::string pathToUri(std::string_view path);

}  // namespace kw::proxy
