// Streams one file's bytes through the detectors in bounded memory: a window of at most
// `window_bytes` plus kOverlap is held at a time, whatever the line lengths. A fast RE2 pass
// finds the positions where a credential could start; matchAt() decides there. The result is
// the same as testing every position in order (fuzz/scan_fuzzer.cc checks it), however the
// input is cut into pieces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "scan/detectors.h"
#include "scan/source_map_locator.h"

namespace kw::scan {

struct Found {
  FindingKind kind = FindingKind::Jwt;
  uint64_t offset = 0;  // byte offset of the secret in the file
  uint64_t line = 1;
  uint64_t column = 1;                       // code points, from 1
  std::string_view secret;                   // valid during the callback only; never print it
  std::string_view variable;                 // the variable it was assigned to, or empty
  std::optional<EmbeddedLocation> embedded;  // inside a source map's sourcesContent
  // Found in an inline source map (`sourceMappingURL=data:application/json;base64,...`) once
  // decoded: offset, line and column are the base64 payload's start, `embedded` the source.
  bool inline_map = false;
};

class LeakScanner {
 public:
  using Sink = std::function<void(const Found&)>;
  // Bytes kept after a window for matches that start near its end.
  static constexpr size_t kOverlap = 16 * 1024;
  static_assert(kOverlap > kMaxMatchSpan + 128);

  struct Options {
    size_t window_bytes = size_t{1} << 20;
    bool source_map = false;  // locate findings inside embedded sources
    bool inline_maps = true;  // decode base64 inline source maps (one level)
  };

  LeakScanner(Sink sink, Options options);
  explicit LeakScanner(Sink sink) : LeakScanner(std::move(sink), Options{}) {}
  ~LeakScanner();

  void feed(std::string_view bytes);
  // End of input: scans what is left. The scanner is then spent.
  void finish();

 private:
  class InlineMap;  // a base64 decoder feeding a nested scanner
  void scan(bool at_end);
  void advanceCursor(uint64_t to);
  void countPosition(std::string_view bytes);
  // At an inline source map's "sourceMappingURL=data:" (text[at]): the payload's file offset,
  // or -1 when it is not a base64 JSON data URL.
  int64_t inlineMapPayload(std::string_view text, size_t at) const;

  Sink sink_;
  Options options_;
  std::string window_;  // window_[0] is at file offset base_ (-1: a virtual newline)
  int64_t base_ = -1;
  int64_t resume_ = 0;   // the next file offset a match may start at
  uint64_t cursor_ = 0;  // file offset that line_/column_ describe
  uint64_t line_ = 1;
  uint64_t column_ = 1;
  std::optional<SourceMapLocator> map_;
  int64_t inline_at_ = -1;  // file offset where a found inline map's payload starts
  std::unique_ptr<InlineMap> inline_;
};

}  // namespace kw::scan
