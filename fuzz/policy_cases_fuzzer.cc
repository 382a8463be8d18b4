// `keyward policy test` case files: any text parses into well-formed cases or a list of
// FILE:LINE:COL errors, never a crash; a parsed case has a name, a client, commands with
// arguments, and one verdict per pipeline command (one for the other routes).
#include <cstddef>
#include <cstdint>
#include <string>

#include "conf/policy_cases.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto cases = kw::conf::parsePolicyCases(text, "f.yaml");
  if (!cases) {
    KW_FUZZ_CHECK(cases.error().message.rfind("f.yaml:", 0) == 0);
    return 0;
  }
  for (const kw::conf::PolicyCase& c : *cases) {
    KW_FUZZ_CHECK(!c.name.empty() && !c.client.empty() && !c.commands.empty() && c.line >= 1);
    for (const auto& argv : c.commands) KW_FUZZ_CHECK(!argv.empty());
    const bool pipeline = c.route == kw::conf::CaseRoute::Pipeline;
    KW_FUZZ_CHECK(c.expect.size() == (pipeline ? c.commands.size() : 1));
    if (c.route == kw::conf::CaseRoute::Command || c.route == kw::conf::CaseRoute::Subscribe) {
      KW_FUZZ_CHECK(c.commands.size() == 1);
    }
    for (const auto& e : c.expect) {
      KW_FUZZ_CHECK(e == "allow" || e == "deny" || (e.rfind("deny:", 0) == 0 && e.size() > 5));
    }
  }
  return 0;
}
