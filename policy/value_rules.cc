// The value-encryption command classes (value_rules.h; the lists are README, Value encryption).
#include "policy/value_rules.h"

#include <string_view>

#include "policy/ascii.h"

namespace kw::policy {

namespace {

enum class Class : uint8_t {
  Agnostic,  // never reads or writes a value's bytes
  Covered,   // seals or opens as the per-command rules below say
  Refused,   // anything else: its answer or effect would depend on the plaintext
};

// Commands that touch keys but not the bytes of their values.
bool isAgnostic(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "del",       "unlink",     "exists",      "type",  "expire", "pexpire", "expireat",
      "pexpireat", "expiretime", "pexpiretime", "ttl",   "pttl",   "persist", "touch",
      "hdel",      "hexists",    "hlen",        "hkeys", "scan"};
  for (std::string_view n : kNames) {
    if (n == name) return true;
  }
  return false;
}

bool matches(const KeyPatternSet& set, std::string_view key, PatternScratch& scratch) {
  return set.check(key, kAccessNone, {}, scratch) == KeyPatternSet::Check::Granted;
}

// HRANDFIELD key count WITHVALUES (the only form that returns values).
bool randfieldWithValues(Argv argv) {
  return argv.size() == 4 && ascii::equalsIgnoreCase(argv[3], "withvalues");
}

// SET ... GET (returns the old value).
bool setReturnsOld(Argv argv) {
  for (size_t i = 3; i < argv.size(); ++i) {
    if (ascii::equalsIgnoreCase(argv[i], "get")) return true;
  }
  return false;
}

uint32_t u32(size_t i) { return static_cast<uint32_t>(i); }

// Fills `work` for a covered command whose key(s) matched; false when `name` is not covered.
bool cover(std::string_view name, Argv argv, const KeyPatternSet& enc, PatternScratch& scratch,
           ValueWork& work) {
  const size_t n = argv.size();
  auto whole = [&](int32_t field) {
    work.reply = ReplyValues::Whole;
    work.whole = {0, 1, field};
  };
  auto sealAt = [&](size_t value, size_t key, int32_t field) {
    work.seal.push_back({u32(value), u32(key), field});
  };
  if (name == "get" || name == "getdel" || name == "getex") {
    whole(-1);
  } else if (name == "set") {
    sealAt(2, 1, -1);
    if (setReturnsOld(argv)) whole(-1);
  } else if (name == "setnx") {
    sealAt(2, 1, -1);
  } else if (name == "setex" || name == "psetex") {
    sealAt(3, 1, -1);
  } else if (name == "getset") {
    sealAt(2, 1, -1);
    whole(-1);
  } else if (name == "mget") {
    work.reply = ReplyValues::Elements;
    for (size_t i = 1; i < n; ++i) {
      if (matches(enc, argv[i], scratch)) work.open.push_back({u32(i - 1), u32(i), -1});
    }
  } else if (name == "mset" || name == "msetnx") {
    for (size_t i = 1; i + 1 < n; i += 2) {
      if (matches(enc, argv[i], scratch)) sealAt(i + 1, i, -1);
    }
  } else if (name == "hget") {
    whole(2);
  } else if (name == "hset" || name == "hmset" || name == "hsetnx") {
    for (size_t i = 2; i + 1 < n; i += 2) sealAt(i + 1, 1, static_cast<int32_t>(i));
  } else if (name == "hmget") {
    work.reply = ReplyValues::Elements;
    for (size_t i = 2; i < n; ++i) work.open.push_back({u32(i - 2), 1, static_cast<int32_t>(i)});
  } else if (name == "hgetall") {
    work.reply = ReplyValues::FieldValuePairs;
    work.whole = {0, 1, -1};
  } else if (name == "hvals") {
    work.reply = ReplyValues::PairValuesOnly;
    work.whole = {0, 1, -1};
  } else if (name == "hrandfield") {
    if (randfieldWithValues(argv)) {
      work.reply = ReplyValues::FieldValuePairs;
      work.whole = {0, 1, -1};
    }
  } else {
    return false;
  }
  return true;
}

}  // namespace

Decision valueDecision(Argv argv, const Extraction& ex, const KeyPatternSet& encrypted,
                       PatternScratch& scratch, ValueWork& work) {
  work.clear();
  const CommandInfo* cmd = ex.command;
  if (encrypted.empty() || cmd == nullptr) return Decision::allow(cmd);
  // SORT BY/GET reads values of keys it does not name: it cannot be told apart from reading an
  // encrypted one.
  if (ex.sort_reads_external) {
    return Decision::deny(Reason::ValueEncrypted, ex.sort_external_arg, cmd);
  }
  int32_t first = -1;  // the first key under an encrypted pattern
  for (const KeyRef& k : ex.keys) {
    if (matches(encrypted, argv[k.arg], scratch)) {
      first = static_cast<int32_t>(k.arg);
      break;
    }
  }
  if (first < 0) return Decision::allow(cmd);
  const std::string_view name = cmd->name;
  if (isAgnostic(name)) return Decision::allow(cmd);
  if (cover(name, argv, encrypted, scratch, work)) return Decision::allow(cmd);
  work.clear();
  return Decision::deny(Reason::ValueEncrypted, first, cmd);
}

}  // namespace kw::policy
