// Fuzzes ClientPolicy::evaluate and checks its invariants independently of the fast paths:
// an allowed command's every key matches (by the one-shot glob matcher, on the raw config
// strings) a pattern granting the needed access; channels and groups likewise; a SCAN rewrite
// adds only a readable pattern; evaluation is deterministic with a reused scratch.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/glob_reference.h"
#include "policy/client_policy.h"
#include "policy/command_table.h"
#include "policy/glob.h"

namespace {

using namespace kw::policy;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Compiled {
  ClientSpec spec;
  std::shared_ptr<const ClientPolicy> policy;
};

std::vector<Compiled>& policies() {
  static std::vector<Compiled> all = [] {
    std::vector<ClientSpec> specs(5);
    specs[0].commands = {"+@all", "+sort", "+keys", "+flushall", "+config|get"};
    specs[0].keys = {"app:*"};
    specs[0].read_keys = {"pub:*", "*:meta"};
    specs[0].write_keys = {"w:*"};
    specs[0].channels = {"app:*", "news"};
    specs[0].consumer_groups = {"g-*"};
    specs[0].scripts = {"e0e1f9fabfc9d4800c877a703b823ac0578ff8db"};
    specs[0].functions = {"f"};
    specs[1].commands = {"+@read"};
    specs[1].keys = {"*"};
    specs[2].commands = {"+@all", "+sort"};
    specs[2].write_keys = {"*"};
    specs[2].read_keys = {"sess:{sub}:*"};
    specs[2].channels = {"c:{sub}:*"};
    specs[3].commands = {"+@all", "+config|get", "+keys", "+sort"};
    specs[3].keys = {"a?c[0-9]*", "{sub}:*"};
    specs[3].channels = {"*"};
    specs[3].consumer_groups = {"*"};
    specs[3].scripts = {"*"};
    specs[3].functions = {"*"};
    specs[4].commands = {"+get",        "+set",     "+mset",       "+eval", "+scan",
                         "+xreadgroup", "+publish", "+psubscribe", "+copy", "+select"};
    specs[4].keys = {"x", "y*"};
    specs[4].consumer_groups = {"grp"};
    specs[4].channels = {"ch"};
    std::vector<Compiled> out;
    for (auto& s : specs) {
      auto r = ClientPolicy::compile(s);
      if (!r) std::abort();
      out.push_back({s, *r});
    }
    return out;
  }();
  return all;
}

// The raw config glob with {sub} bound, or nothing when the sub cannot be bound.
bool bind(const std::string& pattern, std::string_view sub, std::string& out) {
  out.clear();
  size_t from = 0;
  while (true) {
    const size_t at = pattern.find("{sub}", from);
    if (at == std::string::npos) break;
    if (!isValidSub(sub)) return false;
    out.append(pattern, from, at - from).append(sub);
    from = at + 5;
  }
  out.append(pattern, from, std::string::npos);
  return true;
}

uint8_t grantedAccess(const ClientSpec& spec, std::string_view key, std::string_view sub,
                      bool& matched) {
  uint8_t got = 0;
  matched = false;
  std::string bound;
  const std::pair<const std::vector<std::string>*, uint8_t> lists[] = {
      {&spec.keys, kAccessReadWrite},
      {&spec.read_keys, kAccessRead},
      {&spec.write_keys, kAccessWrite}};
  for (const auto& [list, access] : lists) {
    for (const std::string& p : *list) {
      if (bind(p, sub, bound) && globMatch(bound, key)) {
        matched = true;
        got |= access;
      }
    }
  }
  return got;
}

bool anyMatch(const std::vector<std::string>& list, std::string_view s, std::string_view sub) {
  std::string bound;
  for (const std::string& p : list) {
    if (bind(p, sub, bound) && globMatch(bound, s)) return true;
  }
  return false;
}

}  // namespace

// Input: policy byte, sub byte, then arguments separated by '\0'.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || size > (1u << 16)) return 0;
  const Compiled& c = policies()[data[0] % policies().size()];
  static const std::string_view kSubs[] = {"", "alice", "bad sub", "x.y@z"};
  const std::string_view sub = kSubs[data[1] % 4];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  std::vector<std::string_view> argv;
  size_t from = 0;
  while (from <= rest.size() && !rest.empty()) {
    const size_t cut = rest.find('\0', from);
    argv.push_back(
        rest.substr(from, cut == std::string_view::npos ? std::string_view::npos : cut - from));
    if (cut == std::string_view::npos) break;
    from = cut + 1;
  }
  EvalScratch scratch;
  const Identity id{sub};
  const Evaluation ev = c.policy->evaluate(argv, id, scratch);
  const Decision& d = ev.decision;
  // arg_index names an argument, or the position right after the last one when a required
  // argument (a subcommand) is missing.
  check(d.arg_index >= -1 && d.arg_index <= static_cast<int32_t>(argv.size()));
  const Evaluation again = c.policy->evaluate(argv, id, scratch);
  check(again.decision.allowed() == d.allowed() && again.decision.reason == d.reason &&
        again.decision.arg_index == d.arg_index);
  // Explaining is the same evaluation: the same decision and rewrite, and every key it names
  // recorded, granted exactly when the grant re-derived from the raw config covers its need.
  Evidence evidence;
  const Evaluation explained = c.policy->evaluate(argv, id, scratch, &evidence);
  check(explained.decision.allowed() == d.allowed() && explained.decision.reason == d.reason &&
        explained.decision.arg_index == d.arg_index && explained.decision.command == d.command);
  check(explained.rewritten.size() == ev.rewritten.size());
  for (size_t i = 0; i < ev.rewritten.size(); ++i) {
    check(explained.rewritten[i] == ev.rewritten[i]);
  }
  for (const SubjectEvidence& s : evidence.subjects) {
    check(s.arg < argv.size());
    if (s.kind != SubjectEvidence::Kind::Key) continue;
    bool matched = false;
    const uint8_t got = grantedAccess(c.spec, argv[s.arg], sub, matched);
    check(s.granted == (matched && (got & s.need) == s.need));
    uint8_t shown = 0;
    for (const PatternEvidence& p : s.matched) shown |= p.access;
    check(shown == got && s.matched.empty() == !matched);
  }
  if (!d.allowed()) {
    check(d.reason != Reason::Ok);
    check(ev.rewritten.empty());
    return 0;
  }
  // Allowed: re-derive the grant from the raw config.
  const Extraction& ex = scratch.extraction;
  check(ex.command != nullptr && d.command == ex.command);
  const uint32_t traits = ex.command->traits;
  check((traits & (kConnectionState | kUnsupported | kContainer | kBlocking | kIntrospection)) ==
        0);
  for (const KeyRef& k : ex.keys) {
    check(k.arg < argv.size());
    uint8_t need = k.access;
    if (traits & kReturnsData) need |= kAccessRead;
    bool matched = false;
    const uint8_t got = grantedAccess(c.spec, argv[k.arg], sub, matched);
    check(matched && (got & need) == need);
  }
  const bool all_channels =
      std::find(c.spec.channels.begin(), c.spec.channels.end(), "*") != c.spec.channels.end();
  for (const ChannelRef& ch : ex.channels) {
    if (all_channels) break;
    if (ch.pattern) {
      check(!c.spec.channels.empty());  // containment itself is fuzzed in glob_fuzzer
    } else {
      check(anyMatch(c.spec.channels, argv[ch.arg], sub));
    }
    check(argv[ch.arg].rfind("__keyspace@", 0) != 0 && argv[ch.arg].rfind("__keyevent@", 0) != 0);
  }
  // Notification channels (README, Policy semantics), re-derived with Redis's own matcher on
  // concrete channel names: whatever the channel grants, a keyevent channel needs read on "*", a
  // keyspace one read on the key it names.
  auto hasStar = [](const std::vector<std::string>& l) {
    return std::find(l.begin(), l.end(), "*") != l.end();
  };
  const bool keys_all_read = hasStar(c.spec.keys) || hasStar(c.spec.read_keys);
  for (const ChannelRef& ch : ex.channels) {
    const std::string_view name = argv[ch.arg];
    if (name.size() > 64) continue;  // the reference is recursive
    for (std::string_view tail :
         {std::string_view(""), std::string_view("x"), std::string_view("app:1"), name}) {
      const std::string event = "__keyevent@0__:" + std::string(tail);
      const std::string space = "__keyspace@0__:" + std::string(tail);
      const bool hits_event =
          ch.pattern ? kw::testing::redisGlobReference(name, event) : name == event;
      const bool hits_space =
          ch.pattern ? kw::testing::redisGlobReference(name, space) : name == space;
      if (hits_event) check(keys_all_read);
      if (hits_space && !keys_all_read) {
        bool m = false;
        check((grantedAccess(c.spec, tail, sub, m) & kAccessRead) && m);
      }
    }
  }
  for (uint32_t g : ex.groups) check(anyMatch(c.spec.consumer_groups, argv[g], sub));
  // Attack round 29a: an allowed XCLAIM names each entry once, as Redis reads its IDs (strtoull:
  // spaces, a sign, leading zeros; "ms" alone is ms-0), and an allowed negative RAND* count
  // repeats at most 16 times.
  if (ex.command->name == "xclaim") {
    auto redisU64 = [](std::string_view t, uint64_t& v) {
      const std::string z(t);
      if (z.empty()) return false;
      char* end = nullptr;
      errno = 0;
      v = std::strtoull(z.c_str(), &end, 10);
      return errno == 0 && end == z.c_str() + z.size();
    };
    std::vector<std::pair<uint64_t, uint64_t>> ids;
    for (size_t i = 5; i < argv.size(); ++i) {
      const std::string_view claimed = argv[i];
      const size_t dash = claimed.find('-', 0);
      uint64_t ms = 0;
      uint64_t seq = 0;
      if (!redisU64(claimed.substr(0, dash), ms)) break;
      if (dash != std::string_view::npos && !redisU64(claimed.substr(dash + 1), seq)) break;
      ids.emplace_back(ms, seq);
    }
    std::sort(ids.begin(), ids.end());
    check(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
  }
  // Attack round 31a: an allowed scan's effective (last) MATCH has at most 32 bytes from its
  // first '*' that does not end it, and with such a '*' no COUNT above 100 is sent.
  if (ex.command->name == "scan" || ex.command->name == "hscan" || ex.command->name == "sscan" ||
      ex.command->name == "zscan") {
    const std::span<const std::string_view> sent(ev.rewritten.empty() ? argv : ev.rewritten);
    auto is = [](std::string_view a, std::string_view lower) {
      if (a.size() != lower.size()) return false;
      for (size_t i = 0; i < a.size(); ++i) {
        if ((a[i] | 0x20) != lower[i]) return false;
      }
      return true;
    };
    std::string_view match;
    std::vector<std::string_view> counts;
    for (size_t i = ex.command->name == "scan" ? 2 : 3; i < sent.size();) {
      if (is(sent[i], "novalues")) {
        ++i;
        continue;
      }
      if (i + 1 >= sent.size()) break;
      if (is(sent[i], "match")) match = sent[i + 1];
      if (is(sent[i], "count")) counts.push_back(sent[i + 1]);
      i += 2;
    }
    while (!match.empty() && match.back() == '*') match.remove_suffix(1);
    if (const size_t star = match.find('*'); star != std::string_view::npos) {
      check(match.size() - star <= 32);
      for (std::string_view n : counts) check(n.size() < 3 || n == "100");
    }
  }
  if ((ex.command->name == "srandmember" || ex.command->name == "hrandfield" ||
       ex.command->name == "zrandmember") &&
      argv.size() > 2 && argv[2].starts_with('-')) {
    uint64_t n = 0;
    check(argv[2].size() <= 3);
    for (const char digit : argv[2].substr(1)) n = n * 10 + static_cast<uint64_t>(digit - '0');
    check(n <= 16);
  }
  if (ex.command->name == "info") {
    // Only the count sections pass (policy/info_sections.h); INFO alone asks for them.
    auto countSection = [](std::string_view s) {
      for (std::string_view ok :
           {"clients", "memory", "persistence", "stats", "cpu", "cluster", "keyspace", "modules"}) {
        bool same = s.size() == ok.size();
        for (size_t i = 0; same && i < s.size(); ++i) same = (s[i] | 0x20) == ok[i];
        if (same) return true;
      }
      return false;
    };
    const std::span<const std::string_view> sent(ev.rewritten.empty() ? argv : ev.rewritten);
    check(ev.rewritten.empty() || (argv.size() == 1 && sent.size() > 1 && sent[0] == argv[0]));
    for (size_t i = 1; i < sent.size(); ++i) check(countSection(sent[i]));
    return 0;
  }
  if (!ev.rewritten.empty() && ex.command->name != "scan") {
    // HSCAN/SSCAN/ZSCAN/XAUTOCLAIM: only a COUNT value is lowered, to 1000 or 100.
    check(ev.rewritten.size() == argv.size());
    for (size_t i = 0; i < argv.size(); ++i) {
      if (ev.rewritten[i] == argv[i]) continue;
      check(i > 0 && argv[i - 1].size() == 5 && (argv[i - 1][0] | 0x20) == 'c' &&
            (ev.rewritten[i] == "1000" || ev.rewritten[i] == "100"));
    }
    return 0;
  }
  if (!ev.rewritten.empty()) {
    // SCAN: the result carries exactly one MATCH, whose value is the client's last MATCH or,
    // when it sent none, one of the readable patterns with {sub} bound.
    check(ev.rewritten.size() >= 4 && ev.rewritten[0] == argv[0]);
    auto isMatch = [](std::string_view o) {
      return o.size() == 5 && (o[0] | 0x20) == 'm' && (o[1] | 0x20) == 'a' &&
             (o[2] | 0x20) == 't' && (o[3] | 0x20) == 'c' && (o[4] | 0x20) == 'h';
    };
    std::string_view match;
    size_t matches = 0;
    for (size_t i = 2; i + 1 < ev.rewritten.size(); i += 2) {
      if (isMatch(ev.rewritten[i])) {
        match = ev.rewritten[i + 1];
        ++matches;
      }
    }
    check(matches == 1);
    std::string_view last;
    bool sent = false;
    for (size_t i = 2; i + 1 < argv.size(); i += 2) {
      if (isMatch(argv[i])) {
        last = argv[i + 1];
        sent = true;
      }
    }
    if (sent) {
      check(match == last);
    } else {
      std::string bound;
      bool found = false;
      for (const auto* list : {&c.spec.keys, &c.spec.read_keys}) {
        for (const std::string& p : *list) found |= bind(p, sub, bound) && bound == match;
      }
      check(found);
    }
  }
  return 0;
}
