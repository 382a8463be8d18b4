// Parses Redis ACL command rules into a command-id bitset (categories never grant @dangerous).
#include "policy/command_rules.h"

#include <algorithm>
#include <bit>

#include "policy/command_table.h"

namespace kw::policy {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Units granted only when named one by one, like @dangerous ones: @dangerous itself, plus the
// commands README, Policy semantics names (denied) because they change state shared by every client
// (Redis files them under @write/@scripting, not @dangerous).
bool isDangerous(const CommandInfo& c) {
  if ((c.categories & categoryBit(Category::Dangerous)) != 0) return true;
  static constexpr std::string_view kNamedOnly[] = {
      "script|flush",    "script|kill",    "function|load",
      "function|delete", "function|flush", "function|restore",
  };
  for (std::string_view n : kNamedOnly) {
    if (c.name == n) return true;
  }
  return false;
}

bool isSubcommand(const CommandInfo& c) { return c.parent != c.id; }

// Printable, bounded echo of a rule for error messages.
std::string quoted(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 80)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out + "'";
}

}  // namespace

void CommandRules::set(uint16_t id, bool on) {
  if (id == track_) tracked_rule_ = static_cast<int32_t>(rule_);
  const size_t w = id >> 6;
  if (w >= bits_.size()) bits_.resize(w + 1, 0);
  const uint64_t bit = uint64_t{1} << (id & 63);
  bits_[w] = on ? (bits_[w] | bit) : (bits_[w] & ~bit);
}

size_t CommandRules::grantedCount() const {
  size_t n = 0;
  for (uint64_t w : bits_) n += static_cast<size_t>(std::popcount(w));
  return n;
}

Result<CommandRules> CommandRules::compile(std::span<const std::string> rules,
                                           std::string_view field) {
  return compileTracking(rules, field, UINT32_MAX);
}

int32_t CommandRules::decidingRule(std::span<const std::string> rules, uint16_t id) {
  auto r = compileTracking(rules, "commands", id);
  return r ? r->tracked_rule_ : -1;
}

bool CommandRules::isNamedOnly(uint16_t id) {
  for (const CommandInfo& c : allCommands()) {
    if (c.id == id) return isDangerous(c);
  }
  return false;
}

Result<CommandRules> CommandRules::compileTracking(std::span<const std::string> rules,
                                                   std::string_view field, uint32_t track) {
  CommandRules out;
  out.track_ = track;
  const auto all = allCommands();
  size_t max_id = 0;
  for (const CommandInfo& c : all) max_id = std::max<size_t>(max_id, c.id);
  out.bits_.assign(max_id / 64 + 1, 0);
  if (rules.size() > kMaxCommandRules) {
    return makeError(ErrorCode::Config, std::string(field) + ": more than " +
                                            std::to_string(kMaxCommandRules) + " rules");
  }
  for (size_t i = 0; i < rules.size(); ++i) {
    out.rule_ = i;
    const std::string where = std::string(field) + "[" + std::to_string(i) + "]: ";
    std::string rule = lower(rules[i]);
    if (rule == "allcommands") rule = "+@all";
    if (rule == "nocommands") rule = "-@all";
    if (rule.size() < 2 || (rule[0] != '+' && rule[0] != '-')) {
      return makeError(
          ErrorCode::Config,
          where + "expected +cmd, -cmd, +cmd|sub or +@category, got " + quoted(rules[i]));
    }
    const bool grant = rule[0] == '+';
    const std::string_view body = std::string_view(rule).substr(1);
    if (body[0] == '@') {
      const std::string_view cat_name = body.substr(1);
      Category cat{};
      const bool is_all = cat_name == "all";
      if (!is_all && !categoryFromName(cat_name, cat)) {
        return makeError(ErrorCode::Config, where + "unknown category " + quoted(body));
      }
      if (grant && !is_all && cat == Category::Dangerous) {
        return makeError(
            ErrorCode::Config,
            where + "+@dangerous grants nothing: name each dangerous command (+flushall)");
      }
      for (const CommandInfo& c : all) {
        if (c.traits & kContainer) continue;
        if (!is_all && (c.categories & categoryBit(cat)) == 0) continue;
        if (grant && isDangerous(c)) continue;  // categories never grant @dangerous
        out.set(c.id, grant);
      }
      continue;
    }
    const size_t bar = body.find('|');
    if (bar == std::string_view::npos) {
      const CommandInfo* cmd = findCommand(body);
      if (cmd == nullptr || isSubcommand(*cmd)) {
        return makeError(ErrorCode::Config, where + "unknown command " + quoted(body));
      }
      if (cmd->traits & kContainer) {
        for (const CommandInfo& c : all) {
          if (c.parent != cmd->id || c.id == cmd->id) continue;
          if (grant && isDangerous(c)) continue;  // safe reading: name +cmd|sub for those
          out.set(c.id, grant);
        }
      } else {
        out.set(cmd->id, grant);
      }
      continue;
    }
    const std::string_view parent_name = body.substr(0, bar);
    const std::string_view sub_name = body.substr(bar + 1);
    if (sub_name.find('|') != std::string_view::npos) {
      return makeError(
          ErrorCode::Config,
          where + "rules for a subcommand's argument are not supported: " + quoted(body));
    }
    const CommandInfo* parent = findCommand(parent_name);
    if (parent == nullptr || isSubcommand(*parent)) {
      return makeError(ErrorCode::Config, where + "unknown command " + quoted(parent_name));
    }
    if ((parent->traits & kContainer) == 0) {
      return makeError(ErrorCode::Config,
                       where + quoted(parent_name) +
                           " has no subcommands (first-argument rules like +select|0 are not "
                           "supported)");
    }
    const CommandInfo* sub = sub_name.empty() ? nullptr : findSubcommand(*parent, sub_name);
    if (sub == nullptr) {
      return makeError(ErrorCode::Config, where + "unknown subcommand " + quoted(body));
    }
    out.set(sub->id, grant);
  }
  return out;
}

}  // namespace kw::policy
