// The generated Redis command table and its case-insensitive lookups.
#include "policy/command_table.h"

#include <algorithm>
#include <array>

#include "policy/command_meta.h"

namespace kw::policy {
namespace {

#include "policy/commands.inc"

static_assert(std::size(kCommandInfos) == std::size(kCommandMeta));

constexpr size_t kMaxNameBytes = 64;

constexpr bool sortedByName() {
  for (size_t i = 1; i < std::size(kCommandInfos); ++i) {
    if (!(kCommandInfos[i - 1].name < kCommandInfos[i].name)) return false;
    if (kCommandInfos[i].id != i) return false;
  }
  return true;
}
static_assert(sortedByName(), "commands.inc must be sorted by name with dense ids");

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

// Binary search on the lower-cased name; names longer than any command are unknown.
const CommandInfo* lookupLower(std::string_view lowered) {
  const auto* begin = std::begin(kCommandInfos);
  const auto* end = std::end(kCommandInfos);
  const auto* it = std::lower_bound(
      begin, end, lowered, [](const CommandInfo& c, std::string_view n) { return c.name < n; });
  return it != end && it->name == lowered ? it : nullptr;
}

constexpr std::array<std::string_view, static_cast<size_t>(Category::kCount)> kCategoryNames = {
    "keyspace", "read",        "write",      "set",         "sortedset", "list",  "hash",  "string",
    "bitmap",   "hyperloglog", "geo",        "stream",      "pubsub",    "admin", "fast",  "slow",
    "blocking", "dangerous",   "connection", "transaction", "scripting", "json",  "search"};

}  // namespace

std::span<const CommandInfo> allCommands() { return kCommandInfos; }

const CommandMeta& commandMeta(const CommandInfo& cmd) { return kCommandMeta[cmd.id]; }

std::span<const KeySpec> keySpecs(const CommandInfo& cmd) {
  const CommandMeta& m = kCommandMeta[cmd.id];
  return std::span<const KeySpec>(kKeySpecs).subspan(m.spec_begin, m.spec_count);
}

const CommandInfo* findCommand(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return nullptr;
  char buf[kMaxNameBytes];
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '|') return nullptr;  // "config|get" is not a command name on the wire
    buf[i] = lower(name[i]);
  }
  const CommandInfo* c = lookupLower(std::string_view(buf, name.size()));
  return c && c->parent == c->id ? c : nullptr;
}

const CommandInfo* findSubcommand(const CommandInfo& container, std::string_view sub) {
  if (!(container.traits & kContainer) || sub.empty()) return nullptr;
  const size_t n = container.name.size() + 1 + sub.size();
  if (n > kMaxNameBytes) return nullptr;
  char buf[kMaxNameBytes];
  std::copy(container.name.begin(), container.name.end(), buf);
  buf[container.name.size()] = '|';
  for (size_t i = 0; i < sub.size(); ++i) {
    if (sub[i] == '|') return nullptr;
    buf[container.name.size() + 1 + i] = lower(sub[i]);
  }
  const CommandInfo* c = lookupLower(std::string_view(buf, n));
  return c && c->parent == container.id && c->id != container.id ? c : nullptr;
}

bool categoryFromName(std::string_view name, Category& out) {
  if (!name.empty() && name[0] == '@') name.remove_prefix(1);
  for (size_t i = 0; i < kCategoryNames.size(); ++i) {
    const std::string_view c = kCategoryNames[i];
    if (c.size() == name.size() && std::equal(c.begin(), c.end(), name.begin(),
                                              [](char a, char b) { return a == lower(b); })) {
      out = static_cast<Category>(i);
      return true;
    }
  }
  return false;
}

}  // namespace kw::policy
