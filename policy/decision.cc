// Names and client-facing messages for policy decisions.
#include "policy/decision.h"

#include "policy/command_table.h"
#include "policy/info_sections.h"

namespace kw::policy {

std::string_view reasonName(Reason r) {
  switch (r) {
    case Reason::Ok:
      return "ok";
    case Reason::EmptyCommand:
      return "empty_command";
    case Reason::TooLarge:
      return "too_large";
    case Reason::UnknownCommand:
      return "unknown_command";
    case Reason::UnknownSubcommand:
      return "unknown_subcommand";
    case Reason::ArityError:
      return "arity_error";
    case Reason::SyntaxError:
      return "syntax_error";
    case Reason::CommandDenied:
      return "command_denied";
    case Reason::KeyDenied:
      return "key_denied";
    case Reason::ChannelDenied:
      return "channel_denied";
    case Reason::GroupDenied:
      return "group_denied";
    case Reason::ScriptDenied:
      return "script_denied";
    case Reason::FunctionDenied:
      return "function_denied";
    case Reason::KeyspaceWideDenied:
      return "keyspace_wide_denied";
    case Reason::ScanDenied:
      return "scan_denied";
    case Reason::ScanPattern:
      return "scan_pattern";
    case Reason::OtherDatabase:
      return "other_database";
    case Reason::ConnectionState:
      return "connection_state";
    case Reason::SortPatternDenied:
      return "sort_pattern_denied";
    case Reason::TemplateUnbound:
      return "template_unbound";
    case Reason::Blocking:
      return "blocking";
    case Reason::Introspection:
      return "introspection";
    case Reason::Unsupported:
      return "unsupported";
    case Reason::ValueEncrypted:
      return "value_encrypted";
    case Reason::ValueTooLarge:
      return "value_too_large";
    case Reason::ReplyTooLarge:
      return "reply_too_large";
    case Reason::RepeatedKey:
      return "repeated_key";
    case Reason::RepeatedField:
      return "repeated_field";
    case Reason::RepeatedEntry:
      return "repeated_entry";
    case Reason::RepeatedPicks:
      return "repeated_picks";
    case Reason::InfoSection:
      return "info_section";
    case Reason::TransactionDataSized:
      return "transaction_data_sized";
  }
  return "unknown";
}

namespace {

// A name the command table does not hold is not repeated back: the "command" may be a secret
// sent in the wrong place (attack round 29b: a token pasted as the first word came back in the
// NOPERM text). A known name is shown in the table's spelling.
std::string shownName(const Decision& d, std::string_view sent) {
  if (d.command) return std::string(d.command->name);
  const CommandInfo* known = sent.size() <= 64 ? findCommand(sent) : nullptr;
  return known ? std::string(known->name) : std::string();
}

std::string at(const Decision& d) {
  return d.arg_index >= 0 ? " (argument " + std::to_string(d.arg_index) + ")" : std::string();
}

}  // namespace

std::string denialMessage(const Decision& d, std::string_view command_name) {
  const std::string shown = shownName(d, command_name);
  if (shown.empty()) {
    switch (d.reason) {
      case Reason::UnknownCommand:
        return "ERR unknown command";
      case Reason::CommandDenied:
        return "NOPERM this user has no permissions to run this command";
      default:
        break;
    }
  }
  const std::string cmd = shown.empty() ? std::string("?") : shown;
  switch (d.reason) {
    case Reason::Ok:
      return "OK";
    case Reason::EmptyCommand:
      return "ERR empty command";
    case Reason::TooLarge:
      return "ERR command too large";
    case Reason::UnknownCommand:
      return "ERR unknown command '" + cmd + "'";
    case Reason::UnknownSubcommand:
      return "ERR unknown or missing subcommand for '" + cmd + "'" + at(d);
    case Reason::ArityError:
      return "ERR wrong number of arguments for '" + cmd + "' command";
    case Reason::SyntaxError:
      return "ERR syntax error in '" + cmd + "'" + at(d);
    case Reason::CommandDenied:
      return "NOPERM this user has no permissions to run the '" + cmd +
             "' command or its subcommand";
    case Reason::KeyDenied:
      return "NOPERM this user has no permissions to access one of the keys used as arguments of "
             "'" +
             cmd + "'" + at(d);
    case Reason::ChannelDenied:
      return "NOPERM this user has no permissions to access one of the channels used as "
             "arguments of '" +
             cmd + "'" + at(d);
    case Reason::GroupDenied:
      return "NOPERM this user has no permissions to use the consumer group in '" + cmd + "'" +
             at(d);
    case Reason::ScriptDenied:
      return "NOPERM this user has no permissions to run this script via '" + cmd + "'";
    case Reason::FunctionDenied:
      return "NOPERM this user has no permissions to call this function via '" + cmd + "'";
    case Reason::KeyspaceWideDenied:
      return "NOPERM '" + cmd + "' touches the whole keyspace and needs keys: [\"*\"]";
    case Reason::ScanDenied:
      return "NOPERM SCAN MATCH pattern lies outside this user's key patterns" + at(d);
    case Reason::ScanPattern:
      return "NOPERM '" + cmd + "' MATCH may hold at most " + std::to_string(kMaxMatchTail) +
             " bytes after its first '*' that is not at its end (Redis tries the rest at every "
             "position of every name it walks)" +
             at(d);
    case Reason::OtherDatabase:
      return "NOPERM only database 0 is reachable ('" + cmd + "')";
    case Reason::ConnectionState:
      return "NOPERM '" + cmd + "' changes connection state and is not available through keyward";
    case Reason::SortPatternDenied:
      return "NOPERM SORT BY/GET patterns need read access to every key" + at(d);
    case Reason::TemplateUnbound:
      return "NOPERM this credential has no valid sub for the {sub} key patterns";
    case Reason::Blocking:
      return "NOPERM '" + cmd +
             "' blocks a shared upstream connection and is not available through keyward" + at(d);
    case Reason::Introspection:
      return "NOPERM '" + cmd +
             "' reveals server state outside this user's grants and is not available through "
             "keyward";
    case Reason::Unsupported:
      return "NOPERM '" + cmd + "' is not available through keyward";
    case Reason::ValueEncrypted:
      return "NOPERM '" + cmd + "' is not available on this key: its value is encrypted" + at(d);
    case Reason::ValueTooLarge:
      return "NOPERM '" + cmd + "' would grow a value past listen.max_body_bytes" + at(d);
    case Reason::ReplyTooLarge:
      return "NOPERM '" + cmd + "' asks for more elements than upstream.max_reply_elements" + at(d);
    case Reason::RepeatedKey:
      return "NOPERM '" + cmd + "' names a key it reads more than once" + at(d);
    case Reason::RepeatedField:
      return "NOPERM '" + cmd + "' names a field it reads more than once" + at(d);
    case Reason::RepeatedEntry:
      return "NOPERM '" + cmd + "' names a stream entry it returns more than once" + at(d);
    case Reason::RepeatedPicks:
      return "NOPERM '" + cmd + "' with a negative count may return one element that many times; " +
             "keyward allows at most " + std::to_string(kMaxRandomRepeats) + at(d);
    case Reason::InfoSection:
      return "NOPERM 'info' passes only the sections " + std::string(kInfoSectionsText) +
             "; the others reveal server state outside this user's grants" + at(d);
    case Reason::TransactionDataSized:
      return "NOPERM a transaction may hold at most " + std::to_string(kMaxDataSizedInTransaction) +
             " data-sized, scanning or whole-collection commands or repeated reads ('" + cmd +
             "' is one more)";
  }
  return "NOPERM denied";
}

int denialStatus(Reason r) {
  switch (r) {
    case Reason::EmptyCommand:
    case Reason::TooLarge:
    case Reason::UnknownSubcommand:
    case Reason::ArityError:
    case Reason::SyntaxError:
      return 400;
    case Reason::Ok:
    case Reason::UnknownCommand:
    case Reason::CommandDenied:
    case Reason::KeyDenied:
    case Reason::ChannelDenied:
    case Reason::GroupDenied:
    case Reason::ScriptDenied:
    case Reason::FunctionDenied:
    case Reason::KeyspaceWideDenied:
    case Reason::ScanDenied:
    case Reason::ScanPattern:
    case Reason::OtherDatabase:
    case Reason::ConnectionState:
    case Reason::SortPatternDenied:
    case Reason::TemplateUnbound:
    case Reason::Blocking:
    case Reason::Introspection:
    case Reason::Unsupported:
    case Reason::ValueEncrypted:
    case Reason::ValueTooLarge:
    case Reason::ReplyTooLarge:
    case Reason::RepeatedKey:
    case Reason::RepeatedField:
    case Reason::RepeatedEntry:
    case Reason::RepeatedPicks:
    case Reason::InfoSection:
    case Reason::TransactionDataSized:
      return 403;
  }
  return 403;
}

std::string streamOnlyMessage(const Decision& allowed) {
  if (allowed.command == nullptr || (allowed.command->traits & kSubscribe) == 0) return {};
  return "ERR '" + std::string(allowed.command->name) +
         "' is only available through /subscribe/{channel} and /psubscribe/{pattern}";
}

}  // namespace kw::policy
