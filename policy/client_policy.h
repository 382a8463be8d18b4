// A client's policy: the plain spec from the config, compiled into a fast immutable matcher.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy/decision.h"
#include "policy/explain.h"
#include "policy/key_extract.h"
#include "policy/key_pattern.h"
#include "policy/result.h"
#include "policy/value_rules.h"

namespace kw::policy {

// What conf/ hands over, field for field as README, Configuration names them.
struct ClientSpec {
  std::string name;
  std::vector<std::string> commands;         // Redis ACL rules: +@cat -@cat +cmd -cmd +cmd|sub
  std::vector<std::string> keys;             // globs, read + write
  std::vector<std::string> read_keys;        // globs, read only
  std::vector<std::string> write_keys;       // globs, write only
  std::vector<std::string> channels;         // channel globs
  std::vector<std::string> consumer_groups;  // group-name globs
  std::vector<std::string> scripts;          // lowercase hex SHA-1s, or "*"
  std::vector<std::string> functions;        // function names, or "*"
  // Not a client field: encryption.patterns, the same for every client (value_rules.h).
  std::vector<std::string> encrypted_keys;
  // Not a client field: listen.max_body_bytes, the largest value an offset may grow (SETRANGE,
  // SETBIT, BITFIELD SET/INCRBY; value_growth.h).
  uint64_t max_grown_value_bytes = uint64_t{10} << 20;
  // Not a client field: upstream.max_reply_elements, the most values a negative SRANDMEMBER,
  // HRANDFIELD or ZRANDMEMBER count may ask for (value_growth.h).
  uint64_t max_reply_elements = uint64_t{1} << 20;
};

// Who is asking, for {sub} templates. sub is empty when the credential carries none.
struct Identity {
  std::string_view sub;
};

// Per-connection scratch reused across evaluations (no allocation on the hot path).
struct EvalScratch {
  Extraction extraction;
  std::string expanded;                // template expansion buffer
  std::vector<std::string> rewritten;  // SCAN rewrite output (owned bytes)
  PatternScratch patterns;             // general-glob templates
  std::vector<uint32_t> read_slots;    // checkRepeatedReads
  // Lets go of what a large request grew (a command naming a million keys leaves megabytes in
  // these vectors), so a connection between requests holds little. Called between requests.
  void trim();
};

// Result of evaluate(): the decision plus the argv to forward instead of the original, for SCAN
// by key-restricted clients (MATCH added so nothing outside the patterns comes back, or
// duplicate MATCH options collapsed to the one Redis would use), for a COUNT over 1000 (lowered)
// and for INFO alone (its count sections named, info_sections.h). `rewritten` is empty when argv
// goes as is; otherwise its elements view the caller's argv, static text and
// scratch.rewritten, so it is valid while both argv and scratch are untouched.
struct Evaluation {
  Decision decision;
  std::vector<std::string_view> rewritten;
  ValueWork values;  // values to seal and open (encryption.patterns); empty when none
};

class ClientPolicy {
 public:
  // Validates and compiles; errors name the field and element index ("keys[2]: ...").
  static Result<std::shared_ptr<const ClientPolicy>> compile(const ClientSpec& spec);

  const std::string& name() const;
  bool usesTemplates() const;  // some pattern contains {sub}

  // The decision for one command. Pure: no I/O, no clock. Order of checks (the first failure is
  // the reason): extract() errors; unsupported / connection-state; the command bit; other
  // databases; SCAN MATCH or keyspace-wide access; scripts and functions; keys; SORT BY/GET;
  // channels; consumer groups; encrypted values (value_rules.h). Commands with kSubscribe
  // (SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE) are judged like any other (channels checked); forwarding
  // them only on the SSE routes is the caller's job (look at decision.command->traits). With
  // `evidence`, also records what the decision rested on (explain.h): the same checks in the same
  // order, and the same decision; every key is looked at, not only up to the first denied one.
  [[nodiscard]] Evaluation evaluate(Argv argv, const Identity& id, EvalScratch& scratch,
                                    Evidence* evidence = nullptr) const;

  ~ClientPolicy();
  ClientPolicy(const ClientPolicy&) = delete;
  ClientPolicy& operator=(const ClientPolicy&) = delete;

  struct Impl;

 private:
  explicit ClientPolicy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

using ClientPolicyConstSharedPtr = std::shared_ptr<const ClientPolicy>;

// `sub` must match ^[A-Za-z0-9._@-]{1,128}$ to be bound into templates.
bool isValidSub(std::string_view sub);

}  // namespace kw::policy
