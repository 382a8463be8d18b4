// Strict parser and formatter of the quota state file (format in quota_state.h).
#include "policy/quota_state.h"

#include <limits>
#include <unordered_set>

namespace kw::policy {
namespace {

constexpr std::string_view kMagic = "keyward-quota-state 1";

Error bad(size_t line, std::string_view what) {
  return makeError(ErrorCode::InvalidArgument,
                   "line " + std::to_string(line) + ": " + std::string(what));
}

// Next space-separated field of `rest` (single spaces only; no empty field).
bool field(std::string_view& rest, std::string_view& out) {
  if (rest.empty()) return false;
  size_t sp = rest.find(' ');
  out = rest.substr(0, sp);
  rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
  return !out.empty() && (sp == std::string_view::npos || !rest.empty());
}

bool number(std::string_view s, uint64_t max, uint64_t& out) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

bool clientName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// "<day> <day_used> <month> <month_used>" and, for clients, the name.
bool counts(std::string_view& rest, WindowCounts& out) {
  // Window ids stay far below any real date's overflow: 10^8 days is 270,000 years.
  constexpr uint64_t kMaxWindow = 100000000;
  constexpr uint64_t kMaxUsed = std::numeric_limits<uint64_t>::max() >> 1;
  std::string_view f[4];
  uint64_t v[4];
  for (int i = 0; i < 4; ++i) {
    if (!field(rest, f[i]) || !number(f[i], i % 2 == 0 ? kMaxWindow : kMaxUsed, v[i])) {
      return false;
    }
  }
  out.day = static_cast<int64_t>(v[0]);
  out.day_used = v[1];
  out.month = static_cast<int64_t>(v[2]);
  out.month_used = v[3];
  return true;
}

}  // namespace

Result<QuotaState> parseQuotaState(std::string_view text) {
  if (text.size() > kQuotaStateMaxBytes) return bad(0, "file too large");
  if (text.empty() || text.back() != '\n') return bad(0, "does not end with a newline");
  QuotaState st;
  bool have_global = false;
  bool ended = false;
  std::unordered_set<std::string_view> names;
  size_t lineno = 0;
  size_t records = 0;
  while (!text.empty()) {
    ++lineno;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    if (ended) return bad(lineno, "data after the end line");
    if (lineno == 1) {
      if (line != kMagic) return bad(lineno, "not a keyward quota state file (version 1)");
      continue;
    }
    std::string_view kind;
    std::string_view rest = line;
    if (!field(rest, kind)) return bad(lineno, "empty line");
    if (kind == "g") {
      if (have_global) return bad(lineno, "second g line");
      if (!counts(rest, st.global) || !rest.empty()) return bad(lineno, "malformed g line");
      have_global = true;
      ++records;
    } else if (kind == "c") {
      WindowCounts wc;
      if (!counts(rest, wc) || !clientName(rest)) return bad(lineno, "malformed c line");
      if (st.clients.size() >= kQuotaStateMaxClients) return bad(lineno, "too many clients");
      if (!names.insert(rest).second) return bad(lineno, "duplicate client");
      st.clients.emplace_back(std::string(rest), wc);
      ++records;
    } else if (kind == "end") {
      uint64_t n = 0;
      if (!number(rest, kQuotaStateMaxClients + 1, n) || n != records) {
        return bad(lineno, "end line does not match the record count");
      }
      ended = true;
    } else {
      return bad(lineno, "unknown line");
    }
  }
  if (lineno == 0) return bad(0, "empty file");
  if (!ended) return bad(lineno, "no end line (truncated)");
  if (!have_global) return bad(lineno, "no g line");
  return st;
}

std::string formatQuotaState(const QuotaState& state) {
  auto counts = [](std::string& out, const WindowCounts& c) {
    // A never-used window (-1) is written as window 0 with 0 used: the same meaning.
    out += std::to_string(c.day < 0 ? 0 : c.day) + ' ' + std::to_string(c.day < 0 ? 0 : c.day_used);
    out += ' ';
    out += std::to_string(c.month < 0 ? 0 : c.month) + ' ' +
           std::to_string(c.month < 0 ? 0 : c.month_used);
  };
  std::string out(kMagic);
  out += "\ng ";
  counts(out, state.global);
  out += '\n';
  for (const auto& [name, c] : state.clients) {
    out += "c ";
    counts(out, c);
    out += ' ';
    out += name;
    out += '\n';
  }
  out += "end " + std::to_string(state.clients.size() + 1) + "\n";
  return out;
}

}  // namespace kw::policy
