// The generated Redis command table and its case-insensitive lookups.
#include "policy/command_table.h"

#include <algorithm>
#include <array>

#include "policy/ascii.h"
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

// FNV-1a over the (already lower-cased) name.
constexpr uint32_t fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return h;
}

// Open-addressing hash table over kCommandInfos, built at compile time: a lookup is one hash,
// usually one probe and one name comparison (the hot path of every request).
constexpr size_t kSlots = 2048;  // power of two, > 4x the number of units
static_assert(std::size(kCommandInfos) * 4 < kSlots);
constexpr uint16_t kEmpty = 0xffff;

constexpr std::array<uint16_t, kSlots> buildSlots() {
  std::array<uint16_t, kSlots> slots{};
  for (auto& s : slots) s = kEmpty;
  for (const CommandInfo& c : kCommandInfos) {
    size_t i = fnv1a(c.name) & (kSlots - 1);
    while (slots[i] != kEmpty) i = (i + 1) & (kSlots - 1);
    slots[i] = c.id;
  }
  return slots;
}
constexpr std::array<uint16_t, kSlots> kSlotTable = buildSlots();

const CommandInfo* lookupLower(std::string_view lowered, uint32_t hash) {
  for (size_t i = hash & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
    const uint16_t id = kSlotTable[i];
    if (id == kEmpty) return nullptr;
    if (kCommandInfos[id].name == lowered) return &kCommandInfos[id];
  }
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
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '|') return nullptr;  // "config|get" is not a command name on the wire
    buf[i] = lower(name[i]);
    h = (h ^ static_cast<unsigned char>(buf[i])) * 16777619u;
  }
  const CommandInfo* c = lookupLower(std::string_view(buf, name.size()), h);
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
  const std::string_view full(buf, n);
  const CommandInfo* c = lookupLower(full, fnv1a(full));
  return c && c->parent == container.id && c->id != container.id ? c : nullptr;
}

const CommandInfo* commandOf(std::span<const std::string_view> argv) {
  if (argv.empty()) return nullptr;
  const CommandInfo* cmd = findCommand(argv[0]);
  if (cmd != nullptr && (cmd->traits & kContainer) != 0 && argv.size() >= 2) {
    cmd = findSubcommand(*cmd, argv[1]);
  }
  return cmd;
}

namespace {

// XREADGROUP names an ID other than ">" (reads the pending history). Options are walked as
// Redis walks them (BLOCK n, COUNT n, GROUP g c, NOACK, then STREAMS: keys, then as many IDs),
// so a group or key named STREAMS is read where Redis reads it; anything Redis would refuse
// counts as history (it is paced needlessly, never the other way round).
bool readsHistory(std::span<const std::string_view> argv) {
  for (size_t i = 1; i < argv.size(); ++i) {
    const size_t more = argv.size() - i - 1;
    const std::string_view o = argv[i];
    if ((ascii::equalsIgnoreCase(o, "block") || ascii::equalsIgnoreCase(o, "count")) && more >= 1) {
      ++i;
    } else if (ascii::equalsIgnoreCase(o, "streams") && more >= 1) {
      if (more % 2 != 0) return true;
      return std::any_of(argv.begin() + static_cast<std::ptrdiff_t>(i + 1 + more / 2), argv.end(),
                         [](std::string_view id) { return id != ">"; });
    } else if (ascii::equalsIgnoreCase(o, "group") && more >= 2) {
      i += 2;
    } else if (!ascii::equalsIgnoreCase(o, "noack")) {
      return true;
    }
  }
  return true;
}
}  // namespace

bool isCollectionRead(std::span<const std::string_view> argv) {
  const CommandInfo* cmd = commandOf(argv);
  return cmd != nullptr && collectionRead(*cmd, argv);
}

bool collectionRead(const CommandInfo& command, std::span<const std::string_view> argv) {
  if ((command.traits & kCollectionReply) != 0) return true;
  if ((command.traits & kPopCount) != 0) return argv.size() > 2;
  // A negative count (checkRandomCount refuses one past kMaxRandomRepeats) returns repeats.
  return (command.traits & kCountWalks) != 0 && argv.size() > 2 && argv[2].starts_with('-');
}

bool valueRead(const CommandInfo& command, std::span<const std::string_view> argv) {
  if ((command.categories & categoryBit(Category::Read)) != 0) return true;
  if ((command.traits & kValueReply) == 0) return false;
  if (command.name != "set") return true;
  // SET returns the old value only with GET (a value spelled "get" counts too: a superset).
  return std::any_of(argv.begin() + std::min<size_t>(argv.size(), 3), argv.end(),
                     [](std::string_view a) { return ascii::equalsIgnoreCase(a, "get"); });
}

PoolCost poolCost(std::span<const std::string_view> argv) {
  PoolCost cost;
  const CommandInfo* cmd = commandOf(argv);
  if (cmd == nullptr) return cost;
  cost.data_sized = dataSized(*cmd, argv);
  cost.collection_read = collectionRead(*cmd, argv);
  cost.value_read = !cost.collection_read && valueRead(*cmd, argv);
  return cost;
}

size_t matchTail(std::string_view pattern) {
  while (!pattern.empty() && pattern.back() == '*') pattern.remove_suffix(1);
  const size_t star = pattern.find('*');
  return star == std::string_view::npos ? 0 : pattern.size() - star;
}

int32_t lastMatchArg(std::span<const std::string_view> argv, size_t first) {
  int32_t found = -1;
  for (size_t i = first; i < argv.size();) {
    if (ascii::equalsIgnoreCase(argv[i], "novalues")) {
      ++i;
      continue;
    }
    if (i + 1 >= argv.size()) break;
    if (ascii::equalsIgnoreCase(argv[i], "match")) found = static_cast<int32_t>(i + 1);
    i += 2;
  }
  return found;
}

bool isDataSized(std::span<const std::string_view> argv) {
  const CommandInfo* cmd = commandOf(argv);
  return cmd != nullptr && dataSized(*cmd, argv);
}

bool dataSized(const CommandInfo& command, std::span<const std::string_view> argv) {
  const CommandInfo* cmd = &command;
  // A word may also be a value (a member named "limit"): then the command is paced needlessly,
  // never the other way round.
  auto has = [argv](std::string_view word) {
    return std::any_of(argv.begin() + 1, argv.end(),
                       [word](std::string_view a) { return ascii::equalsIgnoreCase(a, word); });
  };
  if ((cmd->traits & kLimitWalks) != 0) return has("limit");
  if ((cmd->traits & kTrimWalks) != 0) return has("maxlen") || has("minid");
  if ((cmd->traits & kHistoryWalks) != 0) return readsHistory(argv);
  // A negative count is a whole-collection read instead (collectionRead).
  if ((cmd->traits & kCountWalks) != 0) return argv.size() > 2 && !argv[2].starts_with('-');
  if ((cmd->traits & (kScanLike | kBoundedCount)) != 0 && cmd->name != "xautoclaim") {
    const int32_t match = lastMatchArg(argv, cmd->name == "scan" ? 2 : 3);
    if (match >= 0 && matchTail(argv[static_cast<size_t>(match)]) > 0) return true;
  }
  if ((cmd->traits & kIndexWalks) != 0) {
    if (argv.size() < 3) return false;  // Redis refuses it: nothing walked
    const bool from_tail = argv[2].starts_with('-');
    uint64_t n = 0;
    if (!ascii::plainDecimal(from_tail ? argv[2].substr(1) : argv[2], n)) return true;
    return from_tail ? (n == 0 || n > kNearListEnd) : n >= kNearListEnd;
  }
  return (cmd->traits & kDataSized) != 0;
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
