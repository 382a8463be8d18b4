// Decision: the value every policy check returns (a denial is data, not an error).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace kw::policy {

struct CommandInfo;

enum class Verdict : uint8_t { Allow, Deny };

// Why a command was allowed or denied. Each reason maps to one HTTP status / counter in proxy/.
enum class Reason : uint8_t {
  Ok,
  EmptyCommand,          // argv is empty
  TooLarge,              // argv count or an argument exceeds a hard bound
  UnknownCommand,        // not in the command table
  UnknownSubcommand,     // container command with a missing or unknown subcommand
  ArityError,            // wrong number of arguments for the command
  SyntaxError,           // arguments could not be parsed well enough to find every key
  CommandDenied,         // the client's `commands` rules do not grant it
  KeyDenied,             // a key does not match a pattern with the needed access
  ChannelDenied,         // a pub/sub channel or pattern is outside `channels`
  GroupDenied,           // a consumer group is outside `consumer_groups`
  ScriptDenied,          // script SHA-1 not in `scripts`
  FunctionDenied,        // function name not in `functions`
  KeyspaceWideDenied,    // KEYS, RANDOMKEY, DBSIZE, FLUSH*, ... without keys: ["*"]
  ScanDenied,            // SCAN MATCH outside the client's patterns
  ScanPattern,           // a MATCH with more than kMaxMatchTail bytes after its first '*'
  OtherDatabase,         // SELECT != 0, MOVE, SWAPDB, COPY ... DB
  ConnectionState,       // AUTH, HELLO, RESET, QUIT, CLIENT REPLY, MULTI/EXEC as single commands...
  SortPatternDenied,     // SORT BY pattern / GET without unrestricted read
  TemplateUnbound,       // a {sub} pattern was reached without a valid sub
  Blocking,              // blocks a shared upstream connection (BLPOP, WAIT, XREAD BLOCK, ...)
  Introspection,         // the reply would reveal state outside every grant (ACL WHOAMI, ...)
  Unsupported,           // never through keyward (replication, persistence, process control)
  ValueEncrypted,        // would read or change an encrypted value otherwise than by whole values
  ValueTooLarge,         // an offset would grow a value past listen.max_body_bytes (value_growth.h)
  ReplyTooLarge,         // a negative RAND* count asks for more than upstream.max_reply_elements
  RepeatedKey,           // a key the command only reads is named twice (value_growth.h)
  RepeatedField,         // an HMGET field is named twice (value_growth.h)
  RepeatedEntry,         // an XCLAIM entry ID is named twice (value_growth.h)
  RepeatedPicks,         // a negative RAND* count past kMaxRandomRepeats (value_growth.h)
  InfoSection,           // an INFO section that reveals server state (info_sections.h)
  TransactionDataSized,  // a transaction holds more than kMaxDataSizedInTransaction costly
                         // commands (transaction_cost.h)
};

struct [[nodiscard]] Decision {
  Verdict verdict = Verdict::Deny;
  Reason reason = Reason::EmptyCommand;
  int32_t arg_index = -1;                // argv position at fault, -1 when none
  const CommandInfo* command = nullptr;  // resolved (sub)command, when known

  bool allowed() const { return verdict == Verdict::Allow; }

  static Decision allow(const CommandInfo* cmd) { return {Verdict::Allow, Reason::Ok, -1, cmd}; }
  static Decision deny(Reason r, int32_t idx = -1, const CommandInfo* cmd = nullptr) {
    return {Verdict::Deny, r, idx, cmd};
  }
};

// Stable snake_case name of a reason, for logs and metrics labels.
std::string_view reasonName(Reason r);

// The client-facing error text, e.g. "NOPERM this user has no permissions to run the 'flushall'
// command". `command_name` is the name the client sent when the command is unknown. Never
// contains key, channel or argument bytes, so it is also safe to log.
std::string denialMessage(const Decision& d, std::string_view command_name);

// The HTTP status of a denial: a malformed command is the client's error (400, "ERR ..."), every
// other denial a permission (403, "NOPERM ...").
[[nodiscard]] int denialStatus(Reason r);

// An allowed command a request body cannot carry: SUBSCRIBE and PSUBSCRIBE enter subscriber
// mode, which only the streaming routes (/subscribe, /psubscribe) serve. Returns the client's
// error text (the reason is ConnectionState, status 400), or empty when the body may carry it.
[[nodiscard]] std::string streamOnlyMessage(const Decision& allowed);

}  // namespace kw::policy
