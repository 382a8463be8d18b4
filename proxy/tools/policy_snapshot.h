// The config as `keyward explain` and `keyward policy test` read it: policies only. They connect
// to nothing and verify no token, so they need none of the config's secrets: an environment
// variable the config names that is unset gets a placeholder, and no signing key file is read
// (a CI job can test a policy without the production secrets).
#pragma once

#include <string>

#include "conf/snapshot.h"
#include "policy/result.h"

namespace kw::proxy {

Result<conf::SnapshotConstSharedPtr> loadPolicySnapshot(const std::string& path);

}  // namespace kw::proxy
