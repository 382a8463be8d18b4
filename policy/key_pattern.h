// A compiled set of key (or channel, or group) globs, each carrying the access it grants.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/glob.h"
#include "policy/result.h"

namespace kw::policy {

// Bounds on what a config may declare (patterns come from the operator, but reloads must not be
// able to make matching slow: every pattern costs O(len(key)) at most).
inline constexpr size_t kMaxPatternBytes = 512;
inline constexpr size_t kMaxPatternsPerSet = 1024;
inline constexpr size_t kMaxSubBytes = 128;

// `sub` must match ^[A-Za-z0-9._@-]{1,128}$ to be bound into templates (none of these bytes is
// a glob metacharacter, so binding it is literal). Also declared in client_policy.h.
bool isValidSub(std::string_view sub);

// Scratch for template patterns whose expansion is a general glob (reused, no allocation warm).
struct PatternScratch {
  std::string text;
  Glob glob;
};

// One pattern. Kinds: All ("*"), Exact (a literal), Prefix (a literal then `*`), General (any
// other glob). `{sub}` templates are split into literal pieces; the sub is inserted literally.
class KeyPattern {
 public:
  enum class Kind : uint8_t { All, Exact, Prefix, General };

  // Compiles `text`; the error message starts with `where` ("keys[2]").
  static Result<KeyPattern> compile(std::string_view text, uint8_t access, std::string_view where);

  [[nodiscard]] bool match(std::string_view subject, std::string_view sub,
                           PatternScratch& scratch) const;
  // Writes the pattern with `{sub}` replaced into `out` (the glob text to send upstream).
  void expand(std::string_view sub, std::string& out) const;
  // Is every string matching the glob `inner` also matched by this pattern? (conservative)
  [[nodiscard]] bool contains(std::string_view inner, std::string_view sub,
                              PatternScratch& scratch) const;

  const std::string& text() const { return text_; }
  const std::string& where() const { return where_; }  // "keys[2]": the config field and index
  uint8_t access() const { return access_; }
  Kind kind() const { return kind_; }
  bool isTemplate() const { return is_template_; }
  // The fixed text every match starts with, with the sub bound (for PSUBSCRIBE / SCAN checks).
  void literalPrefix(std::string_view sub, std::string& out) const;

 private:
  bool literalMatch(std::string_view subject, std::string_view sub, bool prefix) const;

  std::string text_;
  std::string where_;
  uint8_t access_ = 0;
  Kind kind_ = Kind::General;
  bool is_template_ = false;
  // Exact/Prefix: unescaped literal pieces; a template has one more piece than `{sub}`s and the
  // sub goes between consecutive pieces. Non-template: one piece.
  std::vector<std::string> pieces_;
  std::vector<std::string> raw_pieces_;  // raw glob text split at {sub} (templates only)
  Glob glob_;                            // General, non-template
};

// The patterns of one client field group (keys + read_keys + write_keys, or channels, ...).
class KeyPatternSet {
 public:
  Status add(std::string_view text, uint8_t access, std::string_view where);

  // Outcome of checking one subject against the whole set.
  enum class Check : uint8_t { Granted, Denied, TemplateUnbound };

  // Granted when the union of the access of every pattern matching `subject` covers `need`
  // (need == 0: some pattern matches). Patterns of several entries combine, as Redis's
  // `%R~x %W~x` equals `~x` within one user. TemplateUnbound when the answer would be Denied,
  // a {sub} pattern exists and `sub` is not a valid sub (so the template could not be tried).
  [[nodiscard]] Check check(std::string_view subject, uint8_t need, std::string_view sub,
                            PatternScratch& scratch) const;

  // Every pattern matching `subject` (templates bound to `sub` when it is valid), in order: what
  // check() unions. For explanations; check() is the fast path.
  void matching(std::string_view subject, std::string_view sub, PatternScratch& scratch,
                std::vector<const KeyPattern*>& out) const;

  // Union of the access of the non-template "*" patterns (unrestricted access).
  uint8_t allAccess() const { return all_access_; }
  bool empty() const { return patterns_.empty(); }
  bool hasTemplates() const { return templates_ > 0; }
  const std::vector<KeyPattern>& patterns() const { return patterns_; }

 private:
  std::vector<KeyPattern> patterns_;
  uint8_t all_access_ = 0;
  size_t templates_ = 0;
};

}  // namespace kw::policy
