// Checks or adds SCAN's MATCH so a key-restricted client sees only keys inside its patterns.
#include "policy/scan_rewrite.h"

#include <algorithm>

#include "policy/ascii.h"

namespace kw::policy {

namespace {

constexpr std::string_view kMatch = "MATCH";
constexpr std::string_view kMaxCountText = "1000";
static_assert(kMaxScanCount == 1000, "kMaxCountText");
constexpr std::string_view kMaxTailCountText = "100";
static_assert(kMaxTailMatchCount == 100, "kMaxTailCountText");

// The COUNT a scan may walk per call under `match` (policy/command_table.h, matchTail).
struct CountCap {
  uint64_t n;
  std::string_view text;
};
CountCap capFor(std::string_view match) {
  return matchTail(match) > 0 ? CountCap{kMaxTailMatchCount, kMaxTailCountText}
                              : CountCap{kMaxScanCount, kMaxCountText};
}

// COUNT as Redis reads it: a positive decimal; false otherwise.
bool parseCount(std::string_view s, uint64_t& out) {
  return ascii::plainDecimal(s, out) && out > 0;
}

// argv with every COUNT over the cap lowered to it and, when `keep_match` >= 0, only that MATCH
// option kept.
void rewriteOptions(Argv argv, int32_t keep_match, CountCap cap,
                    std::vector<std::string_view>& out) {
  out.assign(argv.begin(), argv.begin() + 2);
  for (size_t i = 2; i + 1 < argv.size(); i += 2) {
    if (keep_match >= 0 && ascii::equalsIgnoreCase(argv[i], "match") &&
        static_cast<int32_t>(i + 1) != keep_match) {
      continue;
    }
    uint64_t n = 0;
    const bool lowered =
        ascii::equalsIgnoreCase(argv[i], "count") && parseCount(argv[i + 1], n) && n > cap.n;
    out.push_back(argv[i]);
    out.push_back(lowered ? cap.text : argv[i + 1]);
  }
}

}  // namespace

Decision boundCount(Argv argv, std::string_view command, std::vector<std::string_view>& rewritten) {
  rewritten.clear();
  const bool autoclaim = command == "xautoclaim";
  const size_t first = autoclaim ? 6 : 3;
  const std::string_view flag = autoclaim ? "justid" : command == "hscan" ? "novalues" : "";
  // Redis takes the last MATCH: its tail bounds every COUNT (attack round 31a).
  const int32_t match_at = autoclaim ? -1 : lastMatchArg(argv, first);
  const std::string_view match =
      match_at >= 0 ? argv[static_cast<size_t>(match_at)] : std::string_view();
  if (matchTail(match) > kMaxMatchTail) return Decision::deny(Reason::ScanPattern, match_at);
  const CountCap cap = capFor(match);
  for (size_t i = first; i < argv.size();) {
    if (!flag.empty() && ascii::equalsIgnoreCase(argv[i], flag)) {
      ++i;
      continue;
    }
    if (i + 1 >= argv.size()) return Decision::deny(Reason::SyntaxError, static_cast<int32_t>(i));
    if (ascii::equalsIgnoreCase(argv[i], "count")) {
      uint64_t n = 0;
      if (!parseCount(argv[i + 1], n)) {
        return Decision::deny(Reason::SyntaxError, static_cast<int32_t>(i + 1));
      }
      if (n > cap.n) {
        if (rewritten.empty()) rewritten.assign(argv.begin(), argv.end());
        rewritten[i + 1] = cap.text;
      }
    } else if (autoclaim || !ascii::equalsIgnoreCase(argv[i], "match")) {
      return Decision::deny(Reason::SyntaxError, static_cast<int32_t>(i));
    }
    i += 2;
  }
  return Decision::allow(nullptr);
}

Decision checkScan(Argv argv, const KeyPatternSet& keys, std::string_view sub, EvalScratch& scratch,
                   std::vector<std::string_view>& rewritten) {
  rewritten.clear();
  int32_t match_idx = -1;
  size_t match_count = 0;
  uint64_t most = 0;  // the largest COUNT
  for (size_t i = 2; i < argv.size(); i += 2) {
    if (i + 1 >= argv.size()) return Decision::deny(Reason::SyntaxError, static_cast<int32_t>(i));
    const std::string_view opt = argv[i];
    if (ascii::equalsIgnoreCase(opt, "match")) {
      match_idx = static_cast<int32_t>(i + 1);
      ++match_count;
    } else if (ascii::equalsIgnoreCase(opt, "count")) {
      uint64_t n = 0;
      if (!parseCount(argv[i + 1], n)) {
        return Decision::deny(Reason::SyntaxError, static_cast<int32_t>(i + 1));
      }
      most = std::max(most, n);
    } else if (!ascii::equalsIgnoreCase(opt, "type")) {
      return Decision::deny(Reason::SyntaxError, static_cast<int32_t>(i));
    }
  }
  const std::string_view sent_match =
      match_idx >= 0 ? argv[static_cast<size_t>(match_idx)] : std::string_view();
  const bool long_tail = matchTail(sent_match) > kMaxMatchTail;
  const CountCap cap = capFor(sent_match);
  const bool count_over = most > cap.n;
  if (keys.allAccess() & kAccessRead) {
    if (long_tail) return Decision::deny(Reason::ScanPattern, match_idx);
    if (count_over) rewriteOptions(argv, -1, cap, rewritten);
    return Decision::allow(nullptr);
  }

  const bool sub_ok = !keys.hasTemplates() || isValidSub(sub);
  if (match_idx >= 0) {
    const std::string_view m = argv[static_cast<size_t>(match_idx)];
    bool unbound = false;
    bool ok = false;
    for (const KeyPattern& p : keys.patterns()) {
      if ((p.access() & kAccessRead) == 0) continue;
      if (p.isTemplate() && !sub_ok) {
        unbound = true;
        continue;
      }
      if (p.contains(m, sub, scratch.patterns)) {
        ok = true;
        break;
      }
    }
    if (!ok)
      return Decision::deny(unbound ? Reason::TemplateUnbound : Reason::ScanDenied, match_idx);
    if (long_tail) return Decision::deny(Reason::ScanPattern, match_idx);
    if (match_count > 1 || count_over) rewriteOptions(argv, match_idx, cap, rewritten);
    return Decision::allow(nullptr);
  }

  const KeyPattern* only = nullptr;
  size_t readable = 0;
  for (const KeyPattern& p : keys.patterns()) {
    if (p.access() & kAccessRead) {
      only = &p;
      ++readable;
    }
  }
  if (readable != 1) return Decision::deny(Reason::ScanDenied, -1);
  if (only->isTemplate() && !sub_ok) return Decision::deny(Reason::TemplateUnbound, -1);
  scratch.rewritten.resize(1);
  only->expand(sub, scratch.rewritten[0]);
  // The operator's pattern: never refused, but one with a '*' inside walks less per call.
  rewriteOptions(argv, -1, capFor(scratch.rewritten[0]), rewritten);
  rewritten.push_back(kMatch);
  rewritten.push_back(scratch.rewritten[0]);
  return Decision::allow(nullptr);
}

}  // namespace kw::policy
