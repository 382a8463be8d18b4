// Compares each case's expected verdicts with decideRequest's.
#include "proxy/tools/policy_test_runner.h"

#include "conf/policy_cases.h"
#include "policy/ascii.h"
#include "proxy/tools/request_decisions.h"

namespace kw::proxy {
namespace {

// A case name or message as one line: a control byte in a case file must not forge a line of
// the report CI reads.
std::string oneLine(std::string_view s) { return ascii::controlsReplaced(s); }

bool matches(std::string_view expect, const policy::Decision& d) {
  if (expect == "allow") return d.allowed();
  if (expect == "deny") return !d.allowed();
  return !d.allowed() && expect == verdictText(d);
}

}  // namespace

int runPolicyTests(const conf::Snapshot& snapshot, const std::vector<std::string>& files,
                   std::ostream& out, std::ostream& err) {
  size_t passed = 0, failed = 0;
  bool file_error = false;
  for (const std::string& file : files) {
    auto cases = conf::loadPolicyCases(file);
    if (!cases) {
      err << cases.error().message << (cases.error().message.ends_with("\n") ? "" : "\n");
      file_error = true;
      continue;
    }
    for (const conf::PolicyCase& c : *cases) {
      const std::string at =
          oneLine(file) + ":" + std::to_string(c.line) + ": " + oneLine(c.name) + ": ";
      const conf::ClientEntry* entry = snapshot.findClientByName(c.client);
      if (entry == nullptr) {
        out << at << "no client named " << oneLine(c.client) << "\n";
        ++failed;
        continue;
      }
      if (std::string whole = requestRefusal(c.commands); !whole.empty()) {
        out << at << whole << "\n";
        ++failed;
        continue;
      }
      const auto decisions = decideRequest(*entry, c.route, c.commands, c.sub, false);
      bool ok = true;
      auto fail = [&](std::string_view where, std::string_view expect, const CommandDecision& got) {
        out << at << where << "expected " << oneLine(expect) << ", got "
            << verdictText(got.decision);
        if (!got.message.empty()) out << " (" << oneLine(got.message) << ")";
        out << "\n";
        ok = false;
      };
      if (c.route == conf::CaseRoute::Pipeline) {
        for (size_t i = 0; i < decisions.size(); ++i) {
          if (!matches(c.expect[i], decisions[i].decision)) {
            fail("command " + std::to_string(i) + ": ", c.expect[i], decisions[i]);
          }
        }
      } else {
        // A transaction's verdict is its first denial, or allow (decisions stop at a denial).
        const CommandDecision& d = decisions.back();
        if (!matches(c.expect[0], d.decision)) fail("", c.expect[0], d);
      }
      ok ? ++passed : ++failed;
    }
  }
  out << passed << " passed, " << failed << " failed\n";
  if (file_error) return 2;
  return failed == 0 ? 0 : 1;
}

}  // namespace kw::proxy
