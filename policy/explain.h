// What a decision rested on (keyward explain, README, Changing a policy safely): recorded by
// ClientPolicy::evaluate when asked, during the very evaluation that decides, so an explanation
// cannot disagree with enforcement.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kw::policy {

// A config pattern that matched a subject.
struct PatternEvidence {
  std::string where;     // "keys[0]", "read_keys[2]", "channels[1]": field and index
  std::string text;      // the pattern as written ("user:{sub}:*")
  uint8_t access = 0;    // what it grants (kAccessRead | kAccessWrite)
  std::string expanded;  // a {sub} template as bound for this request; empty otherwise
};

// One key, channel, consumer group, script or function a command names.
struct SubjectEvidence {
  enum class Kind : uint8_t { Key, Channel, Group, Script, Function };
  Kind kind = Kind::Key;
  uint32_t arg = 0;  // argv index
  uint8_t need = 0;  // keys: the access needed (kAccessRead | kAccessWrite); 0 otherwise
  bool granted = false;
  std::vector<PatternEvidence> matched;  // scripts and functions: "scripts" or "scripts: *"
};

struct Evidence {
  // The `commands` rule that last set this command's bit (index into the client's list); -1
  // when no rule touched it (nothing is granted by default).
  int32_t command_rule = -1;
  // Denied although a category rule covers it: categories never grant @dangerous commands.
  bool dangerous_unnamed = false;
  std::vector<SubjectEvidence> subjects;

  void clear() {
    command_rule = -1;
    dangerous_unnamed = false;
    subjects.clear();
  }
};

}  // namespace kw::policy
