// Fuzzes extract(): input bytes split on '\n' into argv; every index it reports must lie in argv.
//
// An argv[0] of the form "#<n>" names the n-th entry of allCommands() (a subcommand expands to
// "parent sub"), so the fuzzer reaches every command without guessing names. Invariants: no
// crash; every key/channel/group/script/db/sort index is within [1, argc); a denial's arg_index
// is -1 or < argc; an allowed extraction names the command it resolved; re-running with the
// same (reused) Extraction gives the same answer; keys lie inside the argv (never argv[0]).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "policy/command_table.h"
#include "policy/key_extract.h"

namespace {

using namespace kw::policy;

void check(bool ok) {
  if (!ok) std::abort();
}

bool inArgs(int64_t i, size_t argc) { return i >= 1 && static_cast<uint64_t>(i) < argc; }

void checkExtraction(const Decision& d, const Extraction& x, size_t argc) {
  if (!d.allowed()) {
    check(d.arg_index == -1 || (d.arg_index >= 0 && static_cast<size_t>(d.arg_index) < argc));
    return;
  }
  check(d.command != nullptr && x.command == d.command);
  check(!(d.command->traits & kContainer));
  for (const KeyRef& k : x.keys) {
    check(inArgs(k.arg, argc));
    check(k.access <= kAccessReadWrite);
  }
  for (const ChannelRef& c : x.channels) check(inArgs(c.arg, argc));
  for (uint32_t g : x.groups) check(inArgs(g, argc));
  if (x.script != ScriptRef::None) check(inArgs(x.script_arg, argc));
  if (x.db_arg != -1) check(inArgs(x.db_arg, argc));
  if (x.sort_reads_external) check(inArgs(x.sort_external_arg, argc));
}

bool same(const Extraction& a, const Extraction& b) {
  if (a.command != b.command || a.keys.size() != b.keys.size() ||
      a.channels.size() != b.channels.size() || a.groups != b.groups || a.script != b.script ||
      a.script_arg != b.script_arg || a.db_arg != b.db_arg ||
      a.sort_reads_external != b.sort_reads_external) {
    return false;
  }
  for (size_t i = 0; i < a.keys.size(); ++i) {
    if (a.keys[i].arg != b.keys[i].arg || a.keys[i].access != b.keys[i].access) return false;
  }
  for (size_t i = 0; i < a.channels.size(); ++i) {
    if (a.channels[i].arg != b.channels[i].arg || a.channels[i].pattern != b.channels[i].pattern)
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 16)) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= in.size(); ++i) {
    if (i == in.size() || in[i] == '\n') {
      parts.push_back(in.substr(start, i - start));
      start = i + 1;
    }
  }
  // "#<n>" -> the n-th unit of the table (subcommands become two arguments).
  std::vector<std::string_view> argv;
  if (!parts.empty() && parts[0].size() >= 2 && parts[0][0] == '#') {
    size_t n = 0;
    for (char c : parts[0].substr(1)) n = n * 10 + static_cast<unsigned char>(c) % 10;
    const auto all = allCommands();
    const std::string_view name = all[n % all.size()].name;
    const size_t bar = name.find('|');
    argv.push_back(name.substr(0, bar));
    if (bar != std::string_view::npos) argv.push_back(name.substr(bar + 1));
    argv.insert(argv.end(), parts.begin() + 1, parts.end());
  } else {
    argv = parts;
  }

  static Extraction reused;  // exercises clear() keeping capacity across inputs
  const Decision d1 = extract(argv, reused);
  checkExtraction(d1, reused, argv.size());
  Extraction fresh;
  const Decision d2 = extract(argv, fresh);
  check(d1.verdict == d2.verdict && d1.reason == d2.reason && d1.arg_index == d2.arg_index);
  if (d1.allowed()) check(same(reused, fresh));
  return 0;
}
