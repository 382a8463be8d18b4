// checkInfoSections: see the header.
#include "policy/info_sections.h"

#include <algorithm>
#include <array>

#include "policy/ascii.h"

namespace kw::policy {

namespace {
constexpr std::array<std::string_view, 8> kSections = {
    "clients", "memory", "persistence", "stats", "cpu", "cluster", "keyspace", "modules"};
}  // namespace

Decision checkInfoSections(Argv argv, const CommandInfo& cmd,
                           std::vector<std::string_view>& rewritten) {
  if (argv.size() <= 1) {
    rewritten.assign(argv.begin(), argv.end());
    rewritten.insert(rewritten.end(), kSections.begin(), kSections.end());
    return Decision::allow(&cmd);
  }
  for (size_t i = 1; i < argv.size(); ++i) {
    const bool listed = std::any_of(kSections.begin(), kSections.end(), [&](std::string_view s) {
      return ascii::equalsIgnoreCase(argv[i], s);
    });
    if (!listed) return Decision::deny(Reason::InfoSection, static_cast<int>(i), &cmd);
  }
  return Decision::allow(&cmd);
}

}  // namespace kw::policy
