// Bounds on the size a command grows a string value to; see value_growth.h.
#include "policy/value_growth.h"

#include <optional>
#include <string_view>

#include "policy/ascii.h"
#include "policy/command_table.h"

namespace kw::policy {
namespace {

// A non-negative integer as Redis's string2ll reads it for these offsets: "0", or digits not
// starting with 0; no sign, space or other form. At most 2^62, far over any bound.
std::optional<uint64_t> plainOffset(std::string_view s) {
  if (s.empty() || s.size() > 18 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
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

// BITFIELD's largest write: the bytes it needs, or the argument at fault (SyntaxError).
struct BitfieldScan {
  uint64_t bytes = 0;
  int32_t largest_arg = -1;  // the offset of the largest write
  int32_t bad_arg = -1;      // set: not read as Redis reads it
};

BitfieldScan scanBitfield(Argv argv) {
  BitfieldScan out;
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
    // "#N" is the N-th field of this width.
    std::string_view off = argv[i + 2];
    const bool scaled = !off.empty() && off[0] == '#';
    const auto n = plainOffset(scaled ? off.substr(1) : off);
    if (!n) {
      out.bad_arg = static_cast<int32_t>(i + 2);
      return out;
    }
    // A GET past the end reads zeros and grows nothing.
    const uint64_t need = bytesFor(scaled ? *n * *bits : *n, *bits);
    if (write && need > out.bytes) {
      out.bytes = need;
      out.largest_arg = static_cast<int32_t>(i + 2);
    }
    i += get ? 3 : 4;
  }
  return out;
}

}  // namespace

Decision checkValueGrowth(Argv argv, const CommandInfo& cmd, uint64_t max_bytes) {
  if (cmd.name == "setrange" && argv.size() == 4) {
    const auto offset = plainOffset(argv[2]);
    if (!offset) return Decision::deny(Reason::SyntaxError, 2, &cmd);
    // An empty value writes nothing (Redis answers the length it has).
    if (!argv[3].empty() && *offset + argv[3].size() > max_bytes) {
      return Decision::deny(Reason::ValueTooLarge, 2, &cmd);
    }
  } else if (cmd.name == "setbit" && argv.size() == 4) {
    const auto offset = plainOffset(argv[2]);
    if (!offset) return Decision::deny(Reason::SyntaxError, 2, &cmd);
    if (bytesFor(*offset, 1) > max_bytes) return Decision::deny(Reason::ValueTooLarge, 2, &cmd);
  } else if (cmd.name == "bitfield") {
    const BitfieldScan b = scanBitfield(argv);
    if (b.bad_arg >= 0) return Decision::deny(Reason::SyntaxError, b.bad_arg, &cmd);
    if (b.bytes > max_bytes) return Decision::deny(Reason::ValueTooLarge, b.largest_arg, &cmd);
  }
  return Decision::allow(&cmd);
}

uint64_t valueGrowth(Argv argv, const CommandInfo& cmd) {
  if ((cmd.name == "setrange" || cmd.name == "setbit") && argv.size() == 4) {
    const auto offset = plainOffset(argv[2]);
    if (!offset) return 0;
    if (cmd.name == "setbit") return bytesFor(*offset, 1);
    return argv[3].empty() ? 0 : *offset + argv[3].size();
  }
  if (cmd.name == "bitfield") {
    const BitfieldScan b = scanBitfield(argv);
    return b.bad_arg >= 0 ? 0 : b.bytes;
  }
  return 0;
}

}  // namespace kw::policy
