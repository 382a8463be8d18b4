// Bounds on what one command can make Redis do that its arguments show; see value_growth.h.
#include "policy/value_growth.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/ascii.h"
#include "policy/command_table.h"

namespace kw::policy {
namespace {

// An offset or count as Redis's string2ll reads it for these commands (ascii::plainDecimal).
std::optional<uint64_t> plainOffset(std::string_view s) {
  uint64_t v = 0;
  if (!ascii::plainDecimal(s, v)) return std::nullopt;
  return v;
}

// BITFIELD's i<bits> / u<bits> (case-insensitive, as Redis reads it): the width, 1..64.
std::optional<uint64_t> fieldBits(std::string_view type) {
  if (type.size() < 2 || (ascii::toLower(type[0]) != 'i' && ascii::toLower(type[0]) != 'u')) {
    return std::nullopt;
  }
  const auto bits = plainOffset(type.substr(1));
  if (!bits || *bits == 0 || *bits > 64) return std::nullopt;
  return bits;
}

// The bytes a value must hold for `bits` bits from bit `offset` (an overflow-free bound).
uint64_t bytesFor(uint64_t offset_bits, uint64_t bits) { return (offset_bits + bits + 7) / 8; }

// What a command may grow a value to: the bytes, the argument they come from, or the argument
// not read as Redis reads it.
struct Growth {
  uint64_t bytes = 0;
  int32_t arg = -1;      // the offset of the largest write
  int32_t bad_arg = -1;  // set: SyntaxError there
};

Growth bitfieldGrowth(Argv argv) {
  Growth out;
  for (size_t i = 2; i < argv.size();) {
    const std::string_view op = argv[i];
    if (ascii::equalsIgnoreCase(op, "overflow")) {
      i += 2;
      continue;
    }
    const bool get = ascii::equalsIgnoreCase(op, "get");
    const bool write = ascii::equalsIgnoreCase(op, "set") || ascii::equalsIgnoreCase(op, "incrby");
    if ((!get && !write) || i + (get ? 2 : 3) >= argv.size()) {
      out.bad_arg = static_cast<int32_t>(i);
      return out;
    }
    const auto bits = fieldBits(argv[i + 1]);
    if (!bits) {
      out.bad_arg = static_cast<int32_t>(i + 1);
      return out;
    }
    // "#N" is the N-th field of this width (saturating: Redis refuses what overflows).
    std::string_view off = argv[i + 2];
    const bool scaled = !off.empty() && off[0] == '#';
    const auto n = plainOffset(scaled ? off.substr(1) : off);
    if (!n) {
      out.bad_arg = static_cast<int32_t>(i + 2);
      return out;
    }
    const uint64_t offset_bits =
        !scaled ? *n : (*n > (uint64_t{1} << 62) / *bits ? uint64_t{1} << 62 : *n * *bits);
    // A GET past the end reads zeros and grows nothing.
    const uint64_t need = bytesFor(offset_bits, *bits);
    if (write && need > out.bytes) {
      out.bytes = need;
      out.arg = static_cast<int32_t>(i + 2);
    }
    i += get ? 3 : 4;
  }
  return out;
}

Growth growth(Argv argv, const CommandInfo& cmd) {
  if (cmd.name == "bitfield") return bitfieldGrowth(argv);
  Growth out;
  if ((cmd.name != "setrange" && cmd.name != "setbit") || argv.size() != 4) return out;
  const auto offset = plainOffset(argv[2]);
  if (!offset) {
    out.bad_arg = 2;
    return out;
  }
  out.arg = 2;
  if (cmd.name == "setbit") {
    out.bytes = bytesFor(*offset, 1);
  } else if (!argv[3].empty()) {  // an empty value writes nothing (Redis answers the length)
    out.bytes = *offset + argv[3].size();
  }
  return out;
}

}  // namespace

Decision checkValueGrowth(Argv argv, const CommandInfo& cmd, uint64_t max_bytes) {
  const Growth g = growth(argv, cmd);
  if (g.bad_arg >= 0) return Decision::deny(Reason::SyntaxError, g.bad_arg, &cmd);
  if (g.bytes > max_bytes) return Decision::deny(Reason::ValueTooLarge, g.arg, &cmd);
  return Decision::allow(&cmd);
}

Decision checkRandomCount(Argv argv, const CommandInfo& cmd, uint64_t max_elements) {
  if ((cmd.name != "srandmember" && cmd.name != "hrandfield" && cmd.name != "zrandmember") ||
      argv.size() < 3) {
    return Decision::allow(&cmd);
  }
  std::string_view count = argv[2];
  const bool negative = !count.empty() && count[0] == '-';
  const auto n = plainOffset(negative ? count.substr(1) : count);
  if (!n || (negative && *n == 0)) return Decision::deny(Reason::SyntaxError, 2, &cmd);
  // A positive count returns distinct elements, at most what the key holds.
  const bool pairs = argv.size() > 3;  // WITHVALUES / WITHSCORES
  // The reply's values as upstream.max_reply_elements counts them: its array, then each
  // element (attack round 17: -2^20 passed here, ran, and its reply was then refused).
  if (negative && (pairs ? 2 * *n : *n) + 1 > max_elements) {
    return Decision::deny(Reason::ReplyTooLarge, 2, &cmd);
  }
  if (negative && *n > kMaxRandomRepeats) return Decision::deny(Reason::RepeatedPicks, 2, &cmd);
  return Decision::allow(&cmd);
}

namespace {
// An open-addressing set of argv indexes, at most half full: one hash per argument, in argv
// order, so the first one found already there is the earliest second naming. (A sort of a
// million keys took a quarter of a second of the loop; this takes under 40 ms.)
class NamedOnce {
 public:
  NamedOnce(Argv argv, size_t count, std::vector<uint32_t>& slots) : argv_(argv), slots_(slots) {
    size_t size = 4;
    while (size < 2 * count) size *= 2;
    slots_.assign(size, kEmpty);
    mask_ = size - 1;
  }
  // False when an argument equal to argv[arg] was added before; else adds it.
  bool add(uint32_t arg) {
    const std::string_view a = argv_[arg];
    for (size_t at = std::hash<std::string_view>{}(a)&mask_;; at = (at + 1) & mask_) {
      if (slots_[at] == kEmpty) {
        slots_[at] = arg;
        return true;
      }
      if (argv_[slots_[at]] == a) return false;
    }
  }

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  Argv argv_;
  std::vector<uint32_t>& slots_;
  size_t mask_ = 0;
};
}  // namespace

namespace {
// A decimal in canonical form (no sign, space or leading zero) up to UINT64_MAX.
std::optional<uint64_t> canonicalU64(std::string_view s) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  uint64_t v = 0;
  for (const char c : s) {
    const auto d = static_cast<uint64_t>(c - '0');
    if (c < '0' || c > '9' || v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

// XCLAIM key group consumer min-idle-time ID [ID ...] [options]: Redis reads IDs until the
// first argument that is not one, then options. An ID is taken in canonical form only ("ms" or
// "ms-seq"): Redis also reads "01-1", "+1-1" and " 1-1" as 1-1, which would let one entry be
// named twice under different spellings. Deny SyntaxError at a non-canonical ID, RepeatedEntry
// at the second naming of an entry.
Decision checkClaimedIds(Argv argv, const CommandInfo& cmd) {
  static constexpr std::string_view kOptions[] = {"idle",  "time",   "retrycount",
                                                  "force", "justid", "lastid"};
  std::vector<std::pair<uint64_t, uint64_t>> ids;
  for (size_t i = 5; i < argv.size(); ++i) {
    if (std::any_of(std::begin(kOptions), std::end(kOptions),
                    [&](std::string_view o) { return ascii::equalsIgnoreCase(argv[i], o); })) {
      break;
    }
    const std::string_view id = argv[i];
    const size_t dash = id.find('-');
    const auto ms = canonicalU64(id.substr(0, dash));
    const auto seq = dash == std::string_view::npos ? std::optional<uint64_t>(0)
                                                    : canonicalU64(id.substr(dash + 1));
    if (!ms || !seq) return Decision::deny(Reason::SyntaxError, static_cast<int>(i), &cmd);
    ids.emplace_back(*ms, *seq);
  }
  if (ids.size() < 2) return Decision::allow(&cmd);
  std::vector<std::pair<uint64_t, uint64_t>> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  const auto dup = std::adjacent_find(sorted.begin(), sorted.end());
  if (dup == sorted.end()) return Decision::allow(&cmd);
  // The second naming, in argv order.
  const auto first = std::find(ids.begin(), ids.end(), *dup);
  const auto second = std::find(first + 1, ids.end(), *dup);
  return Decision::deny(Reason::RepeatedEntry, static_cast<int>(5 + (second - ids.begin())), &cmd);
}
}  // namespace

Decision checkRepeatedReads(Argv argv, const Extraction& ex, const CommandInfo& cmd,
                            std::vector<uint32_t>& slots) {
  if ((cmd.traits & kEntryReads) != 0) {
    if (const Decision d = checkClaimedIds(argv, cmd); !d.allowed()) return d;
  }
  if ((cmd.traits & kFieldReads) != 0 && argv.size() > 3) {
    NamedOnce fields(argv, argv.size() - 2, slots);
    for (uint32_t i = 2; i < argv.size(); ++i) {
      if (!fields.add(i)) return Decision::deny(Reason::RepeatedField, static_cast<int>(i), &cmd);
    }
  }
  size_t reads = 0;
  for (const KeyRef& k : ex.keys) reads += k.access == kAccessRead ? 1 : 0;
  if (reads < 2) return Decision::allow(&cmd);
  NamedOnce keys(argv, reads, slots);
  for (const KeyRef& k : ex.keys) {
    if (k.access == kAccessRead && !keys.add(k.arg)) {
      return Decision::deny(Reason::RepeatedKey, k.arg, &cmd);
    }
  }
  return Decision::allow(&cmd);
}

uint64_t valueGrowth(Argv argv, const CommandInfo& cmd) {
  const Growth g = growth(argv, cmd);
  return g.bad_arg >= 0 ? 0 : g.bytes;
}

Decision countGrowth(uint64_t& grown, Argv argv, const CommandInfo& cmd, uint64_t max_bytes) {
  const uint64_t grows = valueGrowth(argv, cmd);
  if (grows == 0) return Decision::allow(&cmd);
  if (grown + grows > max_bytes || grown + grows < grows) {
    return Decision::deny(Reason::ValueTooLarge, -1, &cmd);
  }
  grown += grows;
  return Decision::allow(&cmd);
}

}  // namespace kw::policy
