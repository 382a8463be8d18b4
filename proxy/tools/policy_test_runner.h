// `keyward policy test --config FILE TESTFILE...` (README, Changing a policy safely): runs case
// files (conf/policy_cases.h) against a config's client policies.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "conf/snapshot.h"

namespace kw::proxy {

// Prints each failing case as "FILE:LINE: NAME: expected X, got Y (message)" to `out`, then
// "N passed, N failed". Case-file errors go to `err`. Returns 0 when every case passed, 1 when
// one failed, 2 when a file could not be read or parsed.
int runPolicyTests(const conf::Snapshot& snapshot, const std::vector<std::string>& files,
                   std::ostream& out, std::ostream& err);

}  // namespace kw::proxy
