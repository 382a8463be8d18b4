// Text, JSON and SARIF writers. Every string from a scanned file (paths, source names) is
// escaped for its format; secrets never reach here, only their previews.
#include "proxy/scan/scan_report.h"

#include <array>

#include "policy/ascii.h"
#include "proxy/codec/json_escape.h"

namespace kw::proxy {
namespace {

std::string json(std::string_view s) { return codec::jsonString(s); }

// A text-format field: control bytes would let a file name forge output lines.
std::string printable(std::string_view s) { return ascii::controlsReplaced(s); }

std::string location(uint64_t line, uint64_t column) {
  return std::to_string(line) + ":" + std::to_string(column);
}

class TextReport final : public ScanReport {
 public:
  TextReport(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}
  void finding(const ReportedFinding& f) override {
    const scan::Found& x = *f.found;
    out_ << printable(f.file) << ":" << location(x.line, x.column) << " " << scan::kindName(x.kind)
         << " " << f.preview;
    if (!x.variable.empty()) out_ << " in " << x.variable;
    if (x.embedded) {
      out_ << " (embedded " << printable(scan::describe(*x.embedded))
           << (x.inline_map ? ", inline map)" : ")");
    }
    if (!f.state.empty()) {
      out_ << " [" << f.state;
      if (!f.client.empty()) out_ << ", client " << printable(f.client);
      if (!f.detail.empty()) out_ << ", " << printable(f.detail);
      out_ << "]";
    }
    out_ << "\n";
    if (!f.action.empty()) out_ << "  " << printable(f.action) << "\n";
  }
  void end(const ScanSummary& s) override {
    out_.flush();
    err_ << "keyward scan: " << s.files << " files, " << s.bytes << " bytes, " << s.skipped
         << " skipped, " << s.findings << " findings, " << s.errors << " errors\n";
  }

 private:
  std::ostream& out_;
  std::ostream& err_;
};

void appendVerdict(std::string& o, const ReportedFinding& f) {
  if (f.state.empty()) return;
  o += ",\"status\":" + json(f.state);
  if (!f.client.empty()) o += ",\"client\":" + json(f.client);
  if (!f.detail.empty()) o += ",\"detail\":" + json(f.detail);
  if (!f.action.empty()) o += ",\"action\":" + json(f.action);
}

class JsonReport final : public ScanReport {
 public:
  explicit JsonReport(std::ostream& out) : out_(out) { out_ << "{\"findings\":["; }
  void finding(const ReportedFinding& f) override {
    const scan::Found& x = *f.found;
    std::string o = first_ ? "\n" : ",\n";
    first_ = false;
    o += "{\"file\":" + json(f.file) + ",\"line\":" + std::to_string(x.line) +
         ",\"column\":" + std::to_string(x.column) + ",\"offset\":" + std::to_string(x.offset) +
         ",\"kind\":" + json(scan::kindName(x.kind)) + ",\"preview\":" + json(f.preview);
    if (!x.variable.empty()) o += ",\"variable\":" + json(x.variable);
    if (x.embedded) {
      o += ",\"embedded\":{\"source\":" + json(x.embedded->source_name) +
           ",\"index\":" + std::to_string(x.embedded->source_index) +
           ",\"line\":" + std::to_string(x.embedded->line) +
           ",\"column\":" + std::to_string(x.embedded->column) + "}";
    }
    if (x.inline_map) o += ",\"inline_map\":true";
    appendVerdict(o, f);
    o += "}";
    out_ << o;
  }
  void end(const ScanSummary& s) override {
    out_ << "\n],\"summary\":{\"files\":" << s.files << ",\"bytes\":" << s.bytes
         << ",\"skipped\":" << s.skipped << ",\"findings\":" << s.findings
         << ",\"errors\":" << s.errors << "}}\n";
    out_.flush();
  }

 private:
  std::ostream& out_;
  bool first_ = true;
};

class SarifReport final : public ScanReport {
 public:
  SarifReport(std::ostream& out, std::string_view version) : out_(out) {
    std::string o =
        "{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\","
        "\"runs\":[{\"tool\":{\"driver\":{\"name\":\"keyward\",\"version\":" +
        json(version) + ",\"rules\":[";
    bool first = true;
    for (scan::FindingKind k : scan::kAllKinds) {
      if (!first) o += ",";
      first = false;
      o += "{\"id\":" + json(scan::kindName(k)) +
           ",\"shortDescription\":{\"text\":" + json(scan::kindDescription(k)) +
           "},\"defaultConfiguration\":{\"level\":\"error\"}}";
    }
    o += "]}},\"columnKind\":\"unicodeCodePoints\",\"results\":[";
    out_ << o;
  }
  void finding(const ReportedFinding& f) override {
    const scan::Found& x = *f.found;
    std::string message = std::string(scan::kindName(x.kind)) + " " + f.preview;
    if (!x.variable.empty()) message += " in " + std::string(x.variable);
    if (x.inline_map) message += " (in an inline source map)";
    if (!f.state.empty())
      message += " [" + f.state + (f.client.empty() ? "" : ", client " + f.client) + "]";
    if (!f.action.empty()) message += ". " + f.action;
    // A dead credential is worth a look, a live one must be acted on.
    const bool dead = f.state == "expired" || f.state == "revoked" || f.state == "unknown";
    size_t rule = 0;
    while (scan::kAllKinds[rule] != x.kind) ++rule;
    std::string o = first_ ? "\n" : ",\n";
    first_ = false;
    o += "{\"ruleId\":" + json(scan::kindName(x.kind)) + ",\"ruleIndex\":" + std::to_string(rule) +
         ",\"level\":" + (dead ? "\"warning\"" : "\"error\"") +
         ",\"message\":{\"text\":" + json(message) + "},\"locations\":[" +
         physical(f.file, x.line, x.column) + "]";
    if (x.embedded && !x.embedded->source_name.empty()) {
      o += ",\"relatedLocations\":[{\"id\":1,\"message\":{\"text\":\"embedded source\"}," +
           physical(x.embedded->source_name, x.embedded->line, x.embedded->column).substr(1) + "]";
    }
    o += ",\"properties\":{\"offset\":" + std::to_string(x.offset);
    if (!f.state.empty()) o += ",\"status\":" + json(f.state);
    o += "}}";
    out_ << o;
  }
  void end(const ScanSummary& s) override {
    out_ << "\n],\"invocations\":[{\"executionSuccessful\":" << (s.errors == 0 ? "true" : "false")
         << ",\"properties\":{\"files\":" << s.files << ",\"bytes\":" << s.bytes
         << ",\"skipped\":" << s.skipped << ",\"errors\":" << s.errors << "}}]}]}\n";
    out_.flush();
  }

 private:
  // {"physicalLocation":{...}} for a location.
  static std::string physical(std::string_view file, uint64_t line, uint64_t column) {
    return "{\"physicalLocation\":{\"artifactLocation\":{\"uri\":" + json(pathToUri(file)) +
           "},\"region\":{\"startLine\":" + std::to_string(line) +
           ",\"startColumn\":" + std::to_string(column) + "}}}";
  }

  std::ostream& out_;
  bool first_ = true;
};

}  // namespace

std::string pathToUri(std::string_view path) {
  while (path.size() > 2 && path.substr(0, 2) == "./") path.remove_prefix(2);
  static constexpr std::array<char, 17> kHex = {"0123456789ABCDEF"};
  std::string out;
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
    if (keep) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

std::unique_ptr<ScanReport> makeScanReport(ScanFormat format, std::ostream& out, std::ostream& err,
                                           std::string_view version) {
  switch (format) {
    case ScanFormat::Json:
      return std::make_unique<JsonReport>(out);
    case ScanFormat::Sarif:
      return std::make_unique<SarifReport>(out, version);
    case ScanFormat::Text:
      break;
  }
  return std::make_unique<TextReport>(out, err);
}

}  // namespace kw::proxy
