// Compiles a client's spec and decides, command by command, what it may run (README, Policy
// semantics).
#include "policy/client_policy.h"

#include <openssl/evp.h>

#include <algorithm>
#include <optional>

#include "policy/command_rules.h"
#include "policy/digests.h"
#include "policy/glob.h"
#include "policy/info_sections.h"
#include "policy/notification_channels.h"
#include "policy/scan_rewrite.h"
#include "policy/value_growth.h"

namespace kw::policy {

namespace {

constexpr size_t kMaxListEntries = 4096;
constexpr size_t kMaxFunctionName = 256;

bool isHex40(std::string_view s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

char lowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowerString(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lowerAscii(c);
  return out;
}

// XINFO GROUPS k, and XINFO STREAM k FULL, list every consumer group (and consumer) of the
// stream: the argv index that asks for it, or -1.
int32_t groupListingArg(const CommandInfo& cmd, Argv argv) {
  if (cmd.name == "xinfo|groups") return 1;
  if (cmd.name != "xinfo|stream") return -1;
  for (size_t i = 3; i < argv.size(); ++i) {
    const std::string_view a = argv[i];
    if (a.size() == 4 && lowerAscii(a[0]) == 'f' && lowerAscii(a[1]) == 'u' &&
        lowerAscii(a[2]) == 'l' && lowerAscii(a[3]) == 'l') {
      return static_cast<int32_t>(i);
    }
  }
  return -1;
}

void sha1Hex(std::string_view body, std::string& out) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  out.clear();
  if (EVP_Digest(body.data(), body.size(), md, &len, sha1Digest(), nullptr) != 1) return;
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
}

Status addPatterns(KeyPatternSet& set, const std::vector<std::string>& list, uint8_t access,
                   std::string_view field) {
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = std::string(field) + "[" + std::to_string(i) + "]";
    auto st = set.add(list[i], access, where);
    if (!st) return st.error();
  }
  return Ok{};
}

}  // namespace

struct ClientPolicy::Impl {
  std::string name;
  std::vector<std::string> command_rules;  // as written, for explanations
  CommandRules rules;
  KeyPatternSet keys;  // keys (RW) + read_keys (R) + write_keys (W)
  KeyPatternSet channels;
  KeyPatternSet groups;
  KeyPatternSet encrypted;           // encryption.patterns
  std::vector<std::string> scripts;  // sorted lowercase hex
  bool scripts_all = false;
  std::vector<std::string> functions;  // sorted
  bool functions_all = false;
  bool uses_templates = false;
  uint64_t max_grown_value_bytes = 0;  // ClientSpec's
  uint64_t max_reply_elements = 0;     // ClientSpec's

  Decision decide(Argv argv, const Identity& id, EvalScratch& scratch, Evaluation& ev,
                  Evidence* evidence) const;
  Decision checkScripts(Argv argv, const Extraction& ex, EvalScratch& scratch) const;
  Decision checkChannels(Argv argv, const Extraction& ex, const Identity& id,
                         EvalScratch& scratch) const;
  Decision checkNotifications(Argv argv, const Extraction& ex, const Identity& id,
                              EvalScratch& scratch) const;
};

namespace {

// Records one subject and the patterns of `set` that match it.
void noteSubject(Evidence* evidence, SubjectEvidence::Kind kind, uint32_t arg, uint8_t need,
                 bool granted, const KeyPatternSet& set, std::string_view subject,
                 std::string_view sub, PatternScratch& scratch) {
  if (evidence == nullptr) return;
  SubjectEvidence& e = evidence->subjects.emplace_back();
  e.kind = kind;
  e.arg = arg;
  e.need = need;
  e.granted = granted;
  std::vector<const KeyPattern*> hits;
  set.matching(subject, sub, scratch, hits);
  for (const KeyPattern* p : hits) {
    PatternEvidence& m = e.matched.emplace_back();
    m.where = p->where();
    m.text = p->text();
    m.access = p->access();
    if (p->isTemplate()) p->expand(sub, m.expanded);
  }
}

Decision denyWith(KeyPatternSet::Check c, Reason r, uint32_t arg, const CommandInfo* cmd) {
  return Decision::deny(c == KeyPatternSet::Check::TemplateUnbound ? Reason::TemplateUnbound : r,
                        static_cast<int32_t>(arg), cmd);
}

// Access a keyspace-wide command needs on "*": read when it returns data, write when it writes.
uint8_t keyspaceNeed(const CommandInfo& cmd) {
  uint8_t need = kAccessNone;
  if ((cmd.categories & categoryBit(Category::Read)) || (cmd.traits & kReturnsData)) {
    need |= kAccessRead;
  }
  if (cmd.categories & categoryBit(Category::Write)) need |= kAccessWrite;
  return need;
}

}  // namespace

Decision ClientPolicy::Impl::checkScripts(Argv argv, const Extraction& ex,
                                          EvalScratch& scratch) const {
  const CommandInfo* cmd = ex.command;
  const bool wants_script =
      (cmd->traits & kScript) != 0 || ex.script == ScriptRef::Body || ex.script == ScriptRef::Sha;
  const bool wants_function = (cmd->traits & kFunction) != 0 || ex.script == ScriptRef::Function;
  const int32_t at = ex.script_arg;
  const bool have_arg = at >= 0 && static_cast<size_t>(at) < argv.size();
  if (wants_script && !scripts_all) {
    if (!have_arg || ex.script == ScriptRef::Function || ex.script == ScriptRef::None) {
      return Decision::deny(Reason::ScriptDenied, at, cmd);  // fail closed
    }
    const std::string_view arg = argv[static_cast<size_t>(at)];
    if (ex.script == ScriptRef::Body) {
      sha1Hex(arg, scratch.expanded);
    } else {
      if (!isHex40(arg)) return Decision::deny(Reason::ScriptDenied, at, cmd);
      scratch.expanded.assign(arg);
      for (char& c : scratch.expanded) c = lowerAscii(c);
    }
    if (!std::binary_search(scripts.begin(), scripts.end(), scratch.expanded)) {
      return Decision::deny(Reason::ScriptDenied, at, cmd);
    }
  }
  if (wants_function && !functions_all) {
    if (!have_arg || ex.script != ScriptRef::Function) {
      return Decision::deny(Reason::FunctionDenied, at, cmd);
    }
    const std::string_view arg = argv[static_cast<size_t>(at)];
    if (!std::binary_search(functions.begin(), functions.end(), arg)) {
      return Decision::deny(Reason::FunctionDenied, at, cmd);
    }
  }
  return Decision::allow(cmd);
}

// Keyspace-notification channels carry key names (README, Policy semantics): whatever the channel
// grants, reaching one needs read access to every key it can name, and PUBLISH to one (a forged
// notification about any key, seen by every subscriber) needs keys: ["*"] read and write.
Decision ClientPolicy::Impl::checkNotifications(Argv argv, const Extraction& ex, const Identity& id,
                                                EvalScratch& scratch) const {
  using K = NotificationReach::Kind;
  const CommandInfo* cmd = ex.command;
  const uint8_t all = keys.allAccess();
  const bool publishes = cmd->name == "publish" || cmd->name == "spublish";
  // Listing every channel (PUBSUB CHANNELS without a pattern, NUMPAT) lists these too.
  if (ex.all_channels && (all & kAccessRead) == 0) {
    return Decision::deny(Reason::ChannelDenied, -1, cmd);
  }
  for (const ChannelRef& ref : ex.channels) {
    const std::string_view ch = argv[ref.arg];
    const NotificationReach r = notificationReach(ch, ref.pattern, scratch.patterns.glob);
    if (r.kind == K::None) continue;
    const auto at = static_cast<int32_t>(ref.arg);
    if (r.kind == K::OtherDb) return Decision::deny(Reason::OtherDatabase, at, cmd);
    if (publishes) {
      if (all != kAccessReadWrite) return Decision::deny(Reason::ChannelDenied, at, cmd);
      continue;
    }
    if ((all & kAccessRead) != 0) continue;
    bool ok = false;
    if (r.kind == K::KeyspaceKey) {
      const auto c = keys.check(r.key, kAccessRead, id.sub, scratch.patterns);
      if (c == KeyPatternSet::Check::TemplateUnbound)
        return denyWith(c, Reason::ChannelDenied, ref.arg, cmd);
      ok = c == KeyPatternSet::Check::Granted;
    } else if (r.kind == K::KeyspaceKeys) {
      const bool sub_ok = !keys.hasTemplates() || isValidSub(id.sub);
      for (const KeyPattern& p : keys.patterns()) {
        if ((p.access() & kAccessRead) == 0 || (p.isTemplate() && !sub_ok)) continue;
        if (p.contains(r.key, id.sub, scratch.patterns)) {
          ok = true;
          break;
        }
      }
    }
    if (!ok) return Decision::deny(Reason::ChannelDenied, at, cmd);
  }
  return Decision::allow(cmd);
}

Decision ClientPolicy::Impl::checkChannels(Argv argv, const Extraction& ex, const Identity& id,
                                           EvalScratch& scratch) const {
  const CommandInfo* cmd = ex.command;
  const Decision n = checkNotifications(argv, ex, id, scratch);
  if (!n.allowed()) return n;
  if (channels.allAccess() != 0) return Decision::allow(cmd);  // channels: ["*"]
  if (ex.all_channels) return Decision::deny(Reason::ChannelDenied, -1, cmd);
  for (const ChannelRef& ref : ex.channels) {
    const std::string_view ch = argv[ref.arg];
    if (!ref.pattern) {
      const auto c = channels.check(ch, kAccessNone, id.sub, scratch.patterns);
      if (c != KeyPatternSet::Check::Granted)
        return denyWith(c, Reason::ChannelDenied, ref.arg, cmd);
      continue;
    }
    // PSUBSCRIBE: the pattern must be one of ours or lie inside one by literal prefix (B10).
    bool ok = false;
    bool unbound = false;
    const bool sub_ok = !channels.hasTemplates() || isValidSub(id.sub);
    for (const KeyPattern& p : channels.patterns()) {
      if (p.isTemplate() && !sub_ok) {
        unbound = true;
        continue;
      }
      if (p.contains(ch, id.sub, scratch.patterns)) {
        ok = true;
        break;
      }
    }
    if (!ok) {
      return Decision::deny(unbound ? Reason::TemplateUnbound : Reason::ChannelDenied,
                            static_cast<int32_t>(ref.arg), cmd);
    }
  }
  return Decision::allow(cmd);
}

Decision ClientPolicy::Impl::decide(Argv argv, const Identity& id, EvalScratch& scratch,
                                    Evaluation& ev, Evidence* evidence) const {
  const Extraction& ex = scratch.extraction;
  const CommandInfo* cmd = ex.command;
  if (cmd == nullptr) return Decision::deny(Reason::UnknownCommand, 0);
  const uint32_t traits = cmd->traits;
  if (evidence != nullptr) {
    evidence->command_rule = CommandRules::decidingRule(command_rules, cmd->id);
    evidence->dangerous_unnamed = !rules.allows(cmd->id) && CommandRules::isNamedOnly(cmd->id);
  }
  // Never forwarded, whatever the rules (docs/command-classes.md).
  if (traits & kUnsupported) return Decision::deny(Reason::Unsupported, 0, cmd);
  if (traits & kConnectionState) return Decision::deny(Reason::ConnectionState, 0, cmd);
  if (traits & kBlocking) return Decision::deny(Reason::Blocking, 0, cmd);
  if (traits & kIntrospection) return Decision::deny(Reason::Introspection, 0, cmd);
  if (traits & kContainer) return Decision::deny(Reason::UnknownSubcommand, 1, cmd);
  if (!rules.allows(cmd->id)) return Decision::deny(Reason::CommandDenied, 0, cmd);

  if (traits & kDbSwitch) {
    // Only database 0 exists for keyward (Upstash accepts only SELECT 0; B9).
    const bool moves = cmd->name == "move" || cmd->name == "swapdb";
    if (moves || (ex.db_arg < 0 && cmd->name != "copy")) {
      return Decision::deny(Reason::OtherDatabase, ex.db_arg >= 0 ? ex.db_arg : 0, cmd);
    }
    if (ex.db_arg >= 0 &&
        (static_cast<size_t>(ex.db_arg) >= argv.size() || argv[ex.db_arg] != "0")) {
      return Decision::deny(Reason::OtherDatabase, ex.db_arg, cmd);
    }
  }

  if (traits & kScanLike) {
    const Decision d = checkScan(argv, keys, id.sub, scratch, ev.rewritten);
    if (!d.allowed()) return Decision::deny(d.reason, d.arg_index, cmd);
  } else if (traits & kBoundedCount) {
    const Decision d = boundCount(argv, cmd->name, ev.rewritten);
    if (!d.allowed()) return Decision::deny(d.reason, d.arg_index, cmd);
  } else if (traits & kKeyspaceWide) {
    const uint8_t need = keyspaceNeed(*cmd);
    const uint8_t have = keys.allAccess();
    if (have == 0 || (have & need) != need) {
      return Decision::deny(Reason::KeyspaceWideDenied, 0, cmd);
    }
    if (cmd->name == "info") {
      if (const Decision d = checkInfoSections(argv, *cmd, ev.rewritten); !d.allowed()) return d;
    }
  }

  if ((traits & (kScript | kFunction)) || ex.script != ScriptRef::None) {
    const Decision d = checkScripts(argv, ex, scratch);
    if (evidence != nullptr && ex.script_arg >= 0) {
      SubjectEvidence& e = evidence->subjects.emplace_back();
      const bool fn = ex.script == ScriptRef::Function || (traits & kFunction) != 0;
      e.kind = fn ? SubjectEvidence::Kind::Function : SubjectEvidence::Kind::Script;
      e.arg = static_cast<uint32_t>(ex.script_arg);
      e.granted = d.allowed();
      if (d.allowed()) {
        const bool any = fn ? functions_all : scripts_all;
        // The SHA-1 (of a body too) as checkScripts computed it, or the function's name.
        const std::string text = any ? "*" : fn ? std::string(argv[e.arg]) : scratch.expanded;
        e.matched.push_back({fn ? "functions" : "scripts", text, kAccessNone, ""});
      }
    }
    if (!d.allowed()) return d;
  }

  const uint8_t all = keys.allAccess();
  const uint8_t extra = (traits & kReturnsData) ? kAccessRead : kAccessNone;
  std::optional<Decision> key_denied;  // the first; with evidence the other keys are looked at
  for (const KeyRef& k : ex.keys) {
    const uint8_t need = k.access | extra;
    auto c = KeyPatternSet::Check::Granted;
    if (all == 0 || (all & need) != need)
      c = keys.check(argv[k.arg], need, id.sub, scratch.patterns);
    const bool granted = c == KeyPatternSet::Check::Granted;
    noteSubject(evidence, SubjectEvidence::Kind::Key, k.arg, need, granted, keys, argv[k.arg],
                id.sub, scratch.patterns);
    if (granted || key_denied) continue;
    key_denied = denyWith(c, Reason::KeyDenied, k.arg, cmd);
    if (evidence == nullptr) break;
  }
  if (key_denied) return *key_denied;

  if (const Decision d = checkValueGrowth(argv, *cmd, max_grown_value_bytes); !d.allowed()) {
    return d;
  }
  if (const Decision d = checkRandomCount(argv, *cmd, max_reply_elements); !d.allowed()) return d;
  if (const Decision d = checkRepeatedReads(argv, ex, *cmd, scratch.read_slots); !d.allowed())
    return d;

  if (ex.sort_reads_external && (all & kAccessRead) == 0) {
    return Decision::deny(Reason::SortPatternDenied, ex.sort_external_arg, cmd);
  }

  if (!ex.channels.empty() || ex.all_channels) {
    const Decision d = checkChannels(argv, ex, id, scratch);
    for (const ChannelRef& ref : ex.channels) {
      if (evidence == nullptr || (!d.allowed() && static_cast<int32_t>(ref.arg) > d.arg_index)) {
        continue;  // not reached
      }
      const bool granted = d.allowed() || static_cast<int32_t>(ref.arg) != d.arg_index;
      noteSubject(evidence, SubjectEvidence::Kind::Channel, ref.arg, kAccessNone, granted, channels,
                  argv[ref.arg], id.sub, scratch.patterns);
    }
    if (!d.allowed()) return d;
  }

  if (groups.allAccess() == 0 || evidence != nullptr) {
    const bool all_groups = groups.allAccess() != 0;
    for (uint32_t g : ex.groups) {
      const auto c = all_groups ? KeyPatternSet::Check::Granted
                                : groups.check(argv[g], kAccessNone, id.sub, scratch.patterns);
      noteSubject(evidence, SubjectEvidence::Kind::Group, g, kAccessNone,
                  c == KeyPatternSet::Check::Granted, groups, argv[g], id.sub, scratch.patterns);
      if (c != KeyPatternSet::Check::Granted) return denyWith(c, Reason::GroupDenied, g, cmd);
    }
    if (all_groups) return Decision::allow(cmd);
    // Listings of every group of a stream (B11, docs/redis-acl-notes.md 2.6) need consumer_groups:
    // ["*"].
    const int32_t listing = groupListingArg(*cmd, argv);
    if (listing >= 0) return Decision::deny(Reason::GroupDenied, listing, cmd);
    // DUMP of a stream serialises its consumer groups and consumers by name; the key's type is
    // unknown here, so DUMP of any key needs consumer_groups: ["*"].
    if (cmd->name == "dump") return Decision::deny(Reason::GroupDenied, 1, cmd);
    // RESTORE of a stream payload creates the groups and consumers it names, unchecked.
    if (cmd->name == "restore") return Decision::deny(Reason::GroupDenied, 1, cmd);
  }
  return Decision::allow(cmd);
}

namespace {
template <class Container>
void dropIfOver(Container& c, size_t keep) {
  if (c.capacity() > keep) Container().swap(c);
}
}  // namespace

void EvalScratch::trim() {
  constexpr size_t kKeepEntries = 1024;
  constexpr size_t kKeepBytes = 4096;
  dropIfOver(extraction.keys, kKeepEntries);
  dropIfOver(extraction.channels, kKeepEntries);
  dropIfOver(extraction.groups, kKeepEntries);
  dropIfOver(rewritten, kKeepEntries);
  dropIfOver(read_slots, kKeepEntries);
  dropIfOver(expanded, kKeepBytes);
  dropIfOver(patterns.text, kKeepBytes);
}

Result<std::shared_ptr<const ClientPolicy>> ClientPolicy::compile(const ClientSpec& spec) {
  auto impl = std::make_unique<Impl>();
  impl->name = spec.name;
  impl->command_rules = spec.commands;
  auto rules = CommandRules::compile(spec.commands, "commands");
  if (!rules) return rules.error();
  impl->rules = std::move(*rules);

  struct Field {
    const std::vector<std::string>* list;
    KeyPatternSet* set;
    uint8_t access;
    const char* name;
  };
  const Field fields[] = {
      {&spec.keys, &impl->keys, kAccessReadWrite, "keys"},
      {&spec.read_keys, &impl->keys, kAccessRead, "read_keys"},
      {&spec.write_keys, &impl->keys, kAccessWrite, "write_keys"},
      {&spec.channels, &impl->channels, kAccessReadWrite, "channels"},
      {&spec.consumer_groups, &impl->groups, kAccessReadWrite, "consumer_groups"},
      {&spec.encrypted_keys, &impl->encrypted, kAccessReadWrite, "encryption.patterns"},
  };
  for (const Field& f : fields) {
    auto st = addPatterns(*f.set, *f.list, f.access, f.name);
    if (!st) return st.error();
  }
  impl->max_grown_value_bytes = spec.max_grown_value_bytes;
  impl->max_reply_elements = spec.max_reply_elements;
  impl->uses_templates =
      impl->keys.hasTemplates() || impl->channels.hasTemplates() || impl->groups.hasTemplates();

  if (spec.scripts.size() > kMaxListEntries || spec.functions.size() > kMaxListEntries) {
    return makeError(ErrorCode::Config, "scripts/functions: more than " +
                                            std::to_string(kMaxListEntries) + " entries");
  }
  for (size_t i = 0; i < spec.scripts.size(); ++i) {
    const std::string& s = spec.scripts[i];
    if (s == "*") {
      impl->scripts_all = true;
    } else if (isHex40(s)) {
      impl->scripts.push_back(lowerString(s));
    } else {
      return makeError(ErrorCode::Config, "scripts[" + std::to_string(i) +
                                              "]: expected a 40-hex-digit SHA-1 or \"*\"");
    }
  }
  for (size_t i = 0; i < spec.functions.size(); ++i) {
    const std::string& f = spec.functions[i];
    if (f == "*") {
      impl->functions_all = true;
    } else if (!f.empty() && f.size() <= kMaxFunctionName) {
      impl->functions.push_back(f);
    } else {
      return makeError(ErrorCode::Config, "functions[" + std::to_string(i) +
                                              "]: expected a function name (1-256 bytes) or \"*\"");
    }
  }
  std::sort(impl->scripts.begin(), impl->scripts.end());
  std::sort(impl->functions.begin(), impl->functions.end());
  return std::shared_ptr<const ClientPolicy>(new ClientPolicy(std::move(impl)));
}

ClientPolicy::ClientPolicy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClientPolicy::~ClientPolicy() = default;

const std::string& ClientPolicy::name() const { return impl_->name; }
bool ClientPolicy::usesTemplates() const { return impl_->uses_templates; }

Evaluation ClientPolicy::evaluate(Argv argv, const Identity& id, EvalScratch& scratch,
                                  Evidence* evidence) const {
  Evaluation ev;
  if (evidence != nullptr) evidence->clear();
  Extraction& ex = scratch.extraction;
  ex.clear();
  Decision d = extract(argv, ex);
  if (!d.allowed()) {
    if (d.command == nullptr) d.command = ex.command;
    ev.decision = d;
    return ev;
  }
  ev.decision = impl_->decide(argv, id, scratch, ev, evidence);
  // Last: a command the grants refuse is refused for that reason, not for its values.
  if (ev.decision.allowed() && !impl_->encrypted.empty()) {
    ev.decision = valueDecision(argv, ex, impl_->encrypted, scratch.patterns, ev.values);
    // HVALS cannot bind a value to its field: HGETALL is sent, its values given back alone.
    if (ev.values.reply == ReplyValues::PairValuesOnly) {
      ev.rewritten.assign({std::string_view("HGETALL"), argv[1]});
    }
  }
  if (!ev.decision.allowed()) ev.rewritten.clear();
  return ev;
}

}  // namespace kw::policy
