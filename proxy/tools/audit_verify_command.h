// `keyward audit verify FILE...` (README, Audit log): the chain checked across the files in
// order; prints "ok: N records" (exit 0) or the first record that does not follow (exit 1).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace kw::proxy {

// Exit status: 0 the chain holds, 1 it is broken, 2 a file cannot be read.
int runAuditVerify(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err);

}  // namespace kw::proxy
