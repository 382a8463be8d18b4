// `keyward scan [--config FILE] [--format text|json|sarif] [--revoke] PATH...` (README, Leak
// scanning): walks the paths, streams each text file through scan::LeakScanner, judges keyward
// credentials against the config, revokes live tokens, and reports.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/scan/scan_report.h"

namespace kw::proxy {

struct ScanRequest {
  std::vector<std::string> paths;
  std::string config_path;  // empty: findings are not judged
  ScanFormat format = ScanFormat::Text;
  bool revoke = false;  // needs config_path
};

// Exit status: 0 nothing found, 1 findings, 2 a usage error or a path or revocation that
// failed (the scan is incomplete; messages on `err`).
int runScan(const ScanRequest& request, std::ostream& out, std::ostream& err,
            std::string_view version);

}  // namespace kw::proxy
