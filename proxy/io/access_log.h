// One JSON line per request (and per operational event) on stdout; never a secret or a value.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kw::proxy {

// One command of a request as the audit log tells it (README, Audit log).
struct CommandOutcome {
  std::string_view name;      // the command table's name, or "?" (static strings)
  std::string_view decision;  // "allow" (sent upstream), "deny" (by the policy), "skipped"
                              // (allowed, but the request was refused before anything was sent)
  std::string reason;         // deny / skipped: why ("" for allow)
  uint32_t keys_begin = 0;    // its key names in AccessRecord::keys (audit.log_keys)
  uint32_t keys_end = 0;
  uint32_t keys_omitted = 0;  // names past the record's cap, left out (and said so)
};

struct AccessRecord {
  // When the request head was complete (the request's duration runs from here to its answer);
  // unset for a request refused before its head was read.
  std::chrono::steady_clock::time_point started{};
  std::string request_id;         // keyward's, also sent as X-Request-Id
  std::string client_request_id;  // the client's own X-Request-Id, when valid (CONTRACT rules)
  std::string_view method;        // "GET", "POST", ...
  std::string_view route;         // "command", "pipeline", ... or "" before decoding
  std::string client;             // client name; "" when unauthenticated
  std::string sub;                // JWT sub claim ("" for static keys)
  std::string source_ip;
  std::vector<std::string> commands;  // canonical command names (table names), never arguments
  size_t command_count = 0;
  size_t key_count = 0;  // keys named by the commands (as the policy extracted them)
  // Key names, only with audit.log_keys: at most 32 (the access log's), or 4096 when audited.
  std::vector<std::string> keys;
  std::string_view decision = "none";  // "allow", "deny", "partial", "none"
  std::string reason;                  // reasonName() or a short cause ("auth", "bad_request")
  int status = 0;
  double upstream_ms = -1;  // < 0: the upstream was not contacted
  uint64_t bytes_in = 0;    // request body bytes
  uint64_t bytes_out = 0;   // response body bytes
  // Audit only (filled when an audit log is configured):
  bool audited = false;
  std::string credential;                // "key:<12 hex of its SHA-256>" or "jwt:<kid>:<jti>"
  std::string origin;                    // the Origin header (at most 256 bytes)
  std::vector<CommandOutcome> outcomes;  // one per command decided (and per command skipped)
};

// The record as one JSON object (no trailing newline). At most 32 command names are listed;
// "keys" appears only when the record carries key names (audit.log_keys).
std::string formatAccessRecord(const AccessRecord& r);

// The audit record (README, Audit log) as one JSON object, without its "prev" (the audit
// writer chains it). Never a token, a value or an argument other than key names. Every allowed
// command is listed; of those denied or skipped, the first kListedRefusals, and the rest as
// counts per decision and reason ("commands_omitted").
std::string formatAuditRecord(const AccessRecord& r);
inline constexpr size_t kListedRefusals = 32;

// Writes the record as a line on stdout, buffered: flushLogs() (main calls it every 100 ms)
// or the next operational event writes it out. A crash may lose the last 100 ms of records.
void writeAccessRecord(const AccessRecord& r);
void flushLogs();

// Operational event: {"time":...,"event":name, k: v, ...} on stdout (values are strings,
// JSON-escaped; callers never pass secrets).
void logEvent(std::string_view event,
              const std::vector<std::pair<std::string_view, std::string>>& fields = {});

// RFC 3339 UTC time with milliseconds, e.g. "2026-01-02T03:04:05.678Z".
std::string nowRfc3339();
void appendRfc3339(std::string& out);  // the same, appended

}  // namespace kw::proxy
