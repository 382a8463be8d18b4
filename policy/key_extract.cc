// extract(): resolves the command, checks arity, and runs the key spec engine or a parser.
#include "policy/key_extract.h"

#include "policy/ascii.h"
#include "policy/key_parsers.h"

namespace kw::policy {

void Extraction::clear() {
  command = nullptr;
  keys.clear();
  channels.clear();
  groups.clear();
  script = ScriptRef::None;
  script_arg = -1;
  db_arg = -1;
  sort_reads_external = false;
  sort_external_arg = -1;
  all_channels = false;
}

namespace parsers {

bool is(std::string_view arg, std::string_view lower_literal) {
  if (arg.size() != lower_literal.size()) return false;
  for (size_t i = 0; i < arg.size(); ++i) {
    char c = arg[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (c != lower_literal[i]) return false;
  }
  return true;
}

bool parseCount(std::string_view s, uint32_t& out) {
  uint64_t v = 0;
  if (!ascii::plainDecimal(s, v) || v > 999999999) return false;  // at most 9 digits
  out = static_cast<uint32_t>(v);
  return true;
}

namespace {

// Redis getKeysUsingKeySpecs, but every out-of-range position is a denial (fail closed) where
// Redis would return fewer keys and let the command fail later.
Decision oneSpec(Argv argv, const CommandInfo& cmd, const KeySpec& s, Extraction& out) {
  const auto argc = static_cast<int64_t>(argv.size());
  int64_t first = 0;
  switch (s.begin) {
    case BeginSearch::Index:
      first = s.index;
      break;
    case BeginSearch::Keyword: {
      const bool forward = s.startfrom > 0;
      int64_t i = forward ? s.startfrom : argc + s.startfrom;
      for (; i >= 1 && i < argc; i += forward ? 1 : -1) {
        if (is(argv[static_cast<size_t>(i)], s.keyword)) break;
      }
      if (i < 1 || i >= argc) return Decision::allow(&cmd);  // keyword absent: no keys here
      first = i + 1;
      break;
    }
    case BeginSearch::Unknown:
      return Decision::deny(Reason::SyntaxError, -1, &cmd);
  }
  int64_t last = 0, step = 1;
  switch (s.find) {
    case FindKeys::Range:
      step = s.b > 0 ? s.b : 1;
      if (s.a >= 0) {
        last = first + s.a;
      } else if (s.c == 0) {
        last = argc + s.a;
      } else {
        last = first + ((argc - first) / s.c + s.a);
      }
      break;
    case FindKeys::Keynum: {
      const int64_t at = first + s.a;
      uint32_t n = 0;
      if (at >= argc || !parseCount(argv[static_cast<size_t>(at)], n)) {
        return Decision::deny(Reason::SyntaxError, static_cast<int32_t>(at < argc ? at : -1), &cmd);
      }
      step = s.c > 0 ? s.c : 1;
      first += s.b;
      last = first + static_cast<int64_t>(n) - 1;
      if (n > 0 && (first >= argc || last >= argc)) {
        return Decision::deny(Reason::SyntaxError, static_cast<int32_t>(at), &cmd);
      }
      break;
    }
    case FindKeys::Unknown:
      return Decision::deny(Reason::SyntaxError, -1, &cmd);
  }
  for (int64_t i = first; i <= last; i += step) {
    if (i < 1 || i >= argc) return Decision::deny(Reason::SyntaxError, -1, &cmd);
    out.keys.push_back({static_cast<uint32_t>(i), s.access});
  }
  return Decision::allow(&cmd);
}

}  // namespace

Decision specs(Argv argv, const CommandInfo& cmd, Extraction& out) {
  for (const KeySpec& s : keySpecs(cmd)) {
    const Decision d = oneSpec(argv, cmd, s, out);
    if (!d.allowed()) return d;
  }
  return Decision::allow(&cmd);
}

}  // namespace parsers

namespace {

bool arityOk(const CommandInfo& c, size_t argc) {
  return c.arity >= 0 ? argc == static_cast<size_t>(c.arity)
                      : argc >= static_cast<size_t>(-static_cast<int32_t>(c.arity));
}

// Access on every key found so far becomes at least `a`.
void raiseAccess(Extraction& out, uint8_t a) {
  for (auto& k : out.keys) k.access |= a;
}

bool anyArg(Argv argv, size_t from, std::string_view lower_literal) {
  for (size_t i = from; i < argv.size(); ++i) {
    if (parsers::is(argv[i], lower_literal)) return true;
  }
  return false;
}

Decision dispatch(Argv argv, const CommandInfo& cmd, const CommandMeta& m, Extraction& out) {
  using parsers::specs;
  switch (m.parser) {
    case KeyParser::None:
    case KeyParser::Specs:
      return specs(argv, cmd, out);
    case KeyParser::Sort:
      return parsers::sort(argv, cmd, out, false);
    case KeyParser::SortRo:
      return parsers::sort(argv, cmd, out, true);
    case KeyParser::Georadius:
      return parsers::georadius(argv, cmd, out);
    case KeyParser::Xread:
      return parsers::xread(argv, cmd, out, false);
    case KeyParser::Xreadgroup:
      return parsers::xread(argv, cmd, out, true);
    case KeyParser::Migrate:
      return parsers::migrate(argv, cmd, out);
    case KeyParser::Copy:
      return parsers::copy(argv, cmd, out);
    case KeyParser::Set: {
      // SET k v ... GET returns the old value. Any GET token counts (a superset is safe).
      out.keys.push_back(
          {1, static_cast<uint8_t>(anyArg(argv, 3, "get") ? kAccessReadWrite : kAccessWrite)});
      return Decision::allow(&cmd);
    }
    case KeyParser::Bitfield: {
      // BITFIELD always returns values (R); SET / INCRBY also write.
      const bool writes = anyArg(argv, 2, "set") || anyArg(argv, 2, "incrby");
      out.keys.push_back({1, static_cast<uint8_t>(writes ? kAccessReadWrite : kAccessRead)});
      return Decision::allow(&cmd);
    }
    case KeyParser::Zadd: {
      const Decision d = specs(argv, cmd, out);
      if (d.allowed() && anyArg(argv, 2, "incr")) raiseAccess(out, kAccessRead);  // B12
      return d;
    }
    case KeyParser::Xclaim: {
      const Decision d = specs(argv, cmd, out);
      if (d.allowed() && !anyArg(argv, 6, "justid")) raiseAccess(out, kAccessRead);  // B12
      return d;
    }
    case KeyParser::Xautoclaim: {
      const Decision d = specs(argv, cmd, out);
      if (d.allowed()) raiseAccess(out, kAccessRead);  // B12: returns entry bodies
      return d;
    }
    case KeyParser::Eval:
    case KeyParser::Evalsha:
    case KeyParser::Fcall:
      out.script = m.parser == KeyParser::Eval      ? ScriptRef::Body
                   : m.parser == KeyParser::Evalsha ? ScriptRef::Sha
                                                    : ScriptRef::Function;
      out.script_arg = 1;
      return specs(argv, cmd, out);
    case KeyParser::ScriptLoad:
      out.script = ScriptRef::Body;
      out.script_arg = 2;
      return Decision::allow(&cmd);
    case KeyParser::Publish:
      out.channels.push_back({1, false});
      return Decision::allow(&cmd);
    case KeyParser::Subscribe:
    case KeyParser::Psubscribe:
      for (size_t i = 1; i < argv.size(); ++i) {
        out.channels.push_back({static_cast<uint32_t>(i), m.parser == KeyParser::Psubscribe});
      }
      return Decision::allow(&cmd);
    case KeyParser::PubsubNumsub:  // PUBSUB NUMSUB / SHARDNUMSUB ch...: counts, channel by channel
      for (size_t i = 2; i < argv.size(); ++i)
        out.channels.push_back({static_cast<uint32_t>(i), false});
      return Decision::allow(&cmd);
    case KeyParser::PubsubChannels:
      // PUBSUB CHANNELS / SHARDCHANNELS [pattern] lists channel names; without a pattern (and
      // for NUMPAT, a count over every pattern) it is about every channel. pubsub.c takes at
      // most one pattern.
      if (argv.size() > 3) return Decision::deny(Reason::SyntaxError, 3, &cmd);
      if (argv.size() == 3) {
        out.channels.push_back({2, true});
      } else {
        out.all_channels = true;
      }
      return Decision::allow(&cmd);
    case KeyParser::Select:
    case KeyParser::Swapdb:
      out.db_arg = 1;
      return Decision::allow(&cmd);
    case KeyParser::Move:
      out.db_arg = 2;
      return specs(argv, cmd, out);
  }
  return Decision::deny(Reason::SyntaxError, -1, &cmd);
}

}  // namespace

Decision extract(Argv argv, Extraction& out) {
  out.clear();
  if (argv.empty()) return Decision::deny(Reason::EmptyCommand);
  if (argv.size() > kMaxArgs) return Decision::deny(Reason::TooLarge);
  const CommandInfo* cmd = findCommand(argv[0]);
  if (!cmd) return Decision::deny(Reason::UnknownCommand, 0);
  if (cmd->traits & kContainer) {
    const CommandInfo* sub = argv.size() > 1 ? findSubcommand(*cmd, argv[1]) : nullptr;
    if (!sub) return Decision::deny(Reason::UnknownSubcommand, argv.size() > 1 ? 1 : 0, cmd);
    cmd = sub;
  }
  out.command = cmd;
  if (!arityOk(*cmd, argv.size())) return Decision::deny(Reason::ArityError, 0, cmd);
  const CommandMeta& m = commandMeta(*cmd);
  Decision d = dispatch(argv, *cmd, m, out);
  if (!d.allowed()) return d;
  if (m.group_arg) {
    if (m.group_arg >= argv.size()) return Decision::deny(Reason::SyntaxError, -1, cmd);
    out.groups.push_back(m.group_arg);
  }
  return Decision::allow(cmd);
}

}  // namespace kw::policy
