// Parses policy case files over the YamlNode tree; every error found is reported at its mark.
#include "conf/policy_cases.h"

#include "conf/schema.h"
#include "conf/yaml_tree.h"

namespace kw::conf {
namespace {

class CaseReader {
 public:
  explicit CaseReader(std::string source) : source_(std::move(source)) {}

  void error(const YamlMark& m, const std::string& message) {
    errors_ += source_ + ":" + std::to_string(m.line) + ":" + std::to_string(m.col) + ": " +
               message + "\n";
  }
  const std::string& errors() const { return errors_; }

  bool argv(const YamlNode& n, std::vector<std::string>& out, const std::string& field) {
    if (!n.isSequence() || n.items.empty()) {
      error(n.mark, field + " must be a non-empty list of arguments");
      return false;
    }
    for (const YamlNode& a : n.items) {
      if (!a.isScalar()) {
        error(a.mark, field + ": every argument must be a scalar");
        return false;
      }
      out.push_back(a.scalar);
    }
    return true;
  }

  bool verdict(const YamlNode& n, std::vector<std::string>& out) {
    if (!n.isScalar() || !(n.scalar == "allow" || n.scalar == "deny" ||
                           (n.scalar.rfind("deny:", 0) == 0 && n.scalar.size() > 5))) {
      error(n.mark, "expect: each verdict is allow, deny or deny:<reason>");
      return false;
    }
    out.push_back(n.scalar);
    return true;
  }

  void readCase(const YamlNode& n, std::vector<PolicyCase>& out) {
    if (!n.isMap()) {
      error(
          n.mark,
          "each case must be a map (name, client, command|pipeline|multi-exec|subscribe, expect)");
      return;
    }
    PolicyCase c;
    c.line = n.mark.line;
    const YamlNode* expect = nullptr;
    int routes = 0;
    bool ok = true;
    for (const YamlEntry& e : n.entries) {
      const std::string& key = e.first.scalar;
      const YamlNode& v = e.second;
      if (key == "name" || key == "client" || key == "sub") {
        if (!v.isScalar()) {
          error(v.mark, key + " must be a scalar");
          ok = false;
          continue;
        }
        (key == "name" ? c.name : key == "client" ? c.client : c.sub) = v.scalar;
      } else if (key == "command" || key == "subscribe") {
        ++routes;
        c.route = key == "command" ? CaseRoute::Command : CaseRoute::Subscribe;
        c.commands.emplace_back();
        ok = argv(v, c.commands.back(), key) && ok;
      } else if (key == "pipeline" || key == "multi-exec") {
        ++routes;
        c.route = key == "pipeline" ? CaseRoute::Pipeline : CaseRoute::MultiExec;
        if (!v.isSequence() || v.items.empty()) {
          error(v.mark, key + " must be a non-empty list of commands");
          ok = false;
          continue;
        }
        for (const YamlNode& cmd : v.items) {
          c.commands.emplace_back();
          ok = argv(cmd, c.commands.back(), key) && ok;
        }
      } else if (key == "expect") {
        expect = &v;
      } else {
        error(e.first.mark, "unknown case field '" + key + "'");
        ok = false;
      }
    }
    if (c.name.empty()) error(n.mark, "a case needs a name");
    if (c.client.empty()) error(n.mark, "case '" + c.name + "' needs a client");
    if (routes != 1) {
      error(n.mark,
            "case '" + c.name + "' needs exactly one of command, pipeline, multi-exec, subscribe");
    }
    if (expect == nullptr) {
      error(n.mark, "case '" + c.name + "' needs expect");
      return;
    }
    if (c.name.empty() || c.client.empty() || routes != 1 || !ok) return;
    if (c.route == CaseRoute::Pipeline) {
      if (!expect->isSequence() || expect->items.size() != c.commands.size()) {
        error(expect->mark, "case '" + c.name +
                                "': a pipeline expects a list with one verdict per command (" +
                                std::to_string(c.commands.size()) + ")");
        return;
      }
      for (const YamlNode& v : expect->items) ok = verdict(v, c.expect) && ok;
    } else {
      ok = verdict(*expect, c.expect) && ok;
    }
    if (ok) out.push_back(std::move(c));
  }

 private:
  std::string source_;
  std::string errors_;
};

}  // namespace

Result<std::vector<PolicyCase>> parsePolicyCases(const std::string& text,
                                                 const std::string& source_name) {
  YamlParse doc = parseYaml(text);
  CaseReader reader(source_name);
  if (!doc.ok) {
    reader.error(doc.error_mark, doc.error);
    return makeError(ErrorCode::Config, reader.errors());
  }
  std::vector<PolicyCase> cases;
  if (!doc.root.isSequence()) {
    reader.error(doc.root.mark, "a case file is a list of cases");
  } else if (doc.root.items.size() > kMaxPolicyCases) {
    reader.error(doc.root.mark, "more than " + std::to_string(kMaxPolicyCases) + " cases");
  } else {
    for (const YamlNode& n : doc.root.items) reader.readCase(n, cases);
  }
  if (!reader.errors().empty()) return makeError(ErrorCode::Config, reader.errors());
  return cases;
}

Result<std::vector<PolicyCase>> loadPolicyCases(const std::string& path) {
  // A regular file of at most 16 MiB: /dev/zero or a huge file is refused, not loaded, and a
  // FIFO does not hang the run (attack round 24).
  std::string text;
  std::string why;
  if (!readRegularFile(path, kMaxCaseFileBytes, text, why)) {
    return makeError(ErrorCode::Io, path + ": cannot read: " + why);
  }
  return parsePolicyCases(text, path);
}

}  // namespace kw::conf
