// The preview a finding is shown with: enough to recognise the credential, never enough to use
// it (README, Leak scanning).
#pragma once

#include <string>
#include <string_view>

#include "scan/detectors.h"

namespace kw::scan {

// "kw_AbCd...(46)", "eyJhbGciOi...(243)" (a prefix and the length: no spaces, so a text line
// splits on them), "rediss://default:***@db.example:6379".
// At most a quarter of a secret's characters are shown (none of a Redis password), and only
// printable ASCII.
std::string redactedPreview(FindingKind kind, std::string_view secret);

}  // namespace kw::scan
