// Follows a source map (JSON, read as a byte stream) far enough to say where a byte of it lies
// inside an embedded source: which `sourcesContent` entry, at which line and column once its
// JSON escapes are decoded, and that entry's name from `sources`. Bounded memory on any input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kw::scan {

struct EmbeddedLocation {
  size_t source_index = 0;
  std::string_view source_name;  // empty when `sources` did not name it (yet)
  uint64_t line = 1;
  uint64_t column = 1;  // code points
};

// "src/lib/redis.ts:5:11", or "sources[3]:5:11" when the map did not name the source.
std::string describe(const EmbeddedLocation& at);

class SourceMapLocator {
 public:
  // Reads the next bytes of the map.
  void advance(std::string_view bytes);
  // Where the next byte lies, when it is inside an embedded source.
  [[nodiscard]] std::optional<EmbeddedLocation> here() const;

 private:
  enum class Lex : uint8_t { Outside, InString, Escape, Unicode };
  enum class Role : uint8_t { Other, Key, SourceName, SourceContent };
  static constexpr size_t kMaxDepth = 64;
  static constexpr size_t kMaxKeyBytes = 32;
  static constexpr size_t kMaxNames = 4096;
  static constexpr size_t kMaxNameBytes = 256;

  void byte(char c);
  void startString();
  void endString();
  void countColumn(char c);

  bool started_ = false;
  bool disabled_ = false;  // not a JSON object, or nested past kMaxDepth
  Lex lex_ = Lex::Outside;
  Role role_ = Role::Other;
  int unicode_left_ = 0;
  std::string stack_;        // '{' and '[' of the open containers
  bool expect_key_ = false;  // in the top-level object, the next string is a key
  std::string key_;          // the top-level key whose value is open
  std::string string_;       // the key or source name being read
  size_t element_ = 0;       // index in the top-level array being read
  uint64_t line_ = 1;
  uint64_t column_ = 1;
  std::vector<std::string> names_;  // sources[i], while within the bounds
};

}  // namespace kw::scan
