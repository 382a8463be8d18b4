// `keyward serve CONFIG`: the control thread (admin listener, signals, reloads, quota saves,
// log flushes) and the workers that serve clients (README, Workers).
#pragma once

#include <string>

namespace kw::proxy {

// Exit status: 0 after a drain, 1 when the config or a listener cannot be set up.
int runServe(const std::string& config_path, const std::string& version);

}  // namespace kw::proxy
