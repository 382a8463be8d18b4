// Parsers for SORT, GEORADIUS*, XREAD*, MIGRATE and COPY that follow sort.c, geo.c,
// t_stream.c and cluster.c option by option (B2: last-wins, keyword-named keys).
#include "policy/key_parsers.h"

namespace kw::policy::parsers {
namespace {

Decision syntax(const CommandInfo& cmd, size_t at) {
  return Decision::deny(Reason::SyntaxError, static_cast<int32_t>(at), &cmd);
}
uint32_t u32(size_t i) { return static_cast<uint32_t>(i); }

}  // namespace

// sort.c sortCommandGeneric: options from argv[2]. Every STORE destination is reported as a
// write key (Redis writes the last one; checking all of them is a safe superset).
Decision sort(Argv argv, const CommandInfo& cmd, Extraction& out, bool read_only) {
  out.keys.push_back({1, kAccessRead});
  const size_t argc = argv.size();
  for (size_t j = 2; j < argc; ++j) {
    const std::string_view a = argv[j];
    const size_t left = argc - j - 1;
    if (is(a, "asc") || is(a, "desc") || is(a, "alpha")) continue;
    if (is(a, "limit") && left >= 2) {
      j += 2;
    } else if (is(a, "store") && left >= 1 && !read_only) {
      out.keys.push_back({u32(j + 1), kAccessWrite});
      ++j;
    } else if (is(a, "by") && left >= 1) {
      // A BY pattern without '*' means "don't sort": no external key is read.
      if (argv[j + 1].find('*') != std::string_view::npos && !out.sort_reads_external) {
        out.sort_reads_external = true;
        out.sort_external_arg = static_cast<int32_t>(j + 1);
      }
      ++j;
    } else if (is(a, "get") && left >= 1) {
      if (!out.sort_reads_external) {  // any GET, even GET #, reads derived keys (2.4)
        out.sort_reads_external = true;
        out.sort_external_arg = static_cast<int32_t>(j + 1);
      }
      ++j;
    } else {
      return syntax(cmd, j);
    }
  }
  return Decision::allow(&cmd);
}

// geo.c georadiusGeneric: GEORADIUS key lon lat radius unit [opts] (options from 6),
// GEORADIUSBYMEMBER key member radius unit [opts] (from 5). STORE and STOREDIST both name the
// destination; every one is reported as a write key.
Decision georadius(Argv argv, const CommandInfo& cmd, Extraction& out) {
  out.keys.push_back({1, kAccessRead});
  const size_t base = cmd.name == "georadius" ? 6 : 5;
  const size_t argc = argv.size();
  for (size_t i = base; i < argc; ++i) {
    const std::string_view a = argv[i];
    const size_t left = argc - i - 1;
    if (is(a, "withdist") || is(a, "withhash") || is(a, "withcoord") || is(a, "any") ||
        is(a, "asc") || is(a, "desc")) {
      continue;
    }
    if (is(a, "count") && left >= 1) {
      ++i;
    } else if ((is(a, "store") || is(a, "storedist")) && left >= 1) {
      out.keys.push_back({u32(i + 1), kAccessWrite});
      ++i;
    } else {
      return syntax(cmd, i);
    }
  }
  return Decision::allow(&cmd);
}

// t_stream.c xreadCommand: options until the FIRST "STREAMS"; then half the rest are keys.
// XREADGROUP's GROUP g c may come anywhere before it, so a group named STREAMS is a group.
// BLOCK is refused: a blocking read would hold a pooled upstream connection.
Decision xread(Argv argv, const CommandInfo& cmd, Extraction& out, bool group) {
  const size_t argc = argv.size();
  size_t streams_at = 0;
  bool have_group = false;
  for (size_t i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const size_t left = argc - i - 1;
    if (is(a, "streams")) {
      streams_at = i + 1;
      break;
    }
    if (is(a, "count") && left >= 1) {
      ++i;
    } else if (is(a, "block") && left >= 1) {
      return Decision::deny(Reason::Blocking, static_cast<int32_t>(i), &cmd);
    } else if (group && is(a, "group") && left >= 2) {
      out.groups.push_back(u32(i + 1));
      have_group = true;
      i += 2;
    } else if (group && is(a, "noack")) {
      continue;
    } else {
      return syntax(cmd, i);
    }
  }
  if (streams_at == 0 || (group && !have_group)) return syntax(cmd, 0);
  const size_t rest = argc - streams_at;
  if (rest == 0 || rest % 2 != 0) return syntax(cmd, streams_at - 1);  // the STREAMS token
  // XREADGROUP moves entries into the group's pending list: it reads and writes the stream.
  const uint8_t access = group ? kAccessReadWrite : kAccessRead;
  for (size_t k = 0; k < rest / 2; ++k) out.keys.push_back({u32(streams_at + k), access});
  return Decision::allow(&cmd);
}

// cluster.c migrateCommand / db.c migrateGetKeys (with the #11253 AUTH/AUTH2 fix):
// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS k...]
Decision migrate(Argv argv, const CommandInfo& cmd, Extraction& out) {
  const size_t argc = argv.size();
  size_t keys_at = 0;
  for (size_t j = 6; j < argc; ++j) {
    const std::string_view a = argv[j];
    const size_t left = argc - j - 1;
    if (is(a, "copy") || is(a, "replace")) continue;
    if (is(a, "auth") && left >= 1) {
      ++j;
    } else if (is(a, "auth2") && left >= 2) {
      j += 2;
    } else if (is(a, "keys")) {
      if (!argv[3].empty() || left == 0) return syntax(cmd, j);
      keys_at = j + 1;
      break;
    } else {
      return syntax(cmd, j);
    }
  }
  const uint8_t access = kAccessReadWrite;  // reads, copies out, and deletes unless COPY
  if (keys_at == 0) {
    out.keys.push_back({3, access});
  } else {
    for (size_t k = keys_at; k < argc; ++k) out.keys.push_back({u32(k), access});
  }
  return Decision::allow(&cmd);
}

// db.c copyCommand: COPY src dst [DB n] [REPLACE]; DB is last-wins, db_arg names the last.
Decision copy(Argv argv, const CommandInfo& cmd, Extraction& out) {
  const Decision d = specs(argv, cmd, out);
  if (!d.allowed()) return d;
  for (size_t j = 3; j < argv.size(); ++j) {
    if (is(argv[j], "replace")) continue;
    if (is(argv[j], "db") && j + 1 < argv.size()) {
      out.db_arg = static_cast<int32_t>(++j);
    } else {
      return syntax(cmd, j);
    }
  }
  return Decision::allow(&cmd);
}

}  // namespace kw::policy::parsers
