// Streaming splice of locally made elements into a JSON array arriving in chunks: the REST
// upstream's pipeline reply (allowed commands only) becomes the client's reply with each denied
// command's {"error":...} at its request position, without buffering the whole body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kw::proxy::codec {

// One element to insert: `json` (a complete JSON value) lands at index `at` of the output array.
struct SplicedElement {
  size_t at = 0;
  std::string json;
};

// Tracks only what splicing needs (strings, escapes, nesting, top-level element boundaries);
// it does not validate scalars. The input must be one top-level array of exactly
// `upstream_count` elements, else feed()/finish() fail (bytes already emitted are then a
// truncated body: the caller must abort the response).
class JsonArraySplicer {
 public:
  // `inserts` sorted by `at` ascending, each `at` < upstream_count + inserts.size().
  JsonArraySplicer(size_t upstream_count, std::vector<SplicedElement> inserts,
                   uint32_t max_depth = 512);
  // Appends the transformed bytes of `in` to `out`. False on malformed input.
  [[nodiscard]] bool feed(std::string_view in, std::string& out);
  // The input has ended: true when it was one complete array of the expected size.
  [[nodiscard]] bool finish();
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  bool fail(const char* why);
  void emitPending(std::string& out, bool closing);

  enum class Phase : uint8_t { BeforeArray, InArray, AfterArray, Failed };
  size_t upstream_count_;
  std::vector<SplicedElement> inserts_;
  size_t next_insert_ = 0;
  size_t slot_ = 0;      // output elements emitted or started so far
  size_t upstream_ = 0;  // upstream elements started so far
  uint32_t depth_ = 0;   // nesting inside the top-level array's elements
  uint32_t max_depth_;
  Phase phase_ = Phase::BeforeArray;
  bool in_string_ = false;
  bool escape_ = false;
  bool expect_element_ = false;  // after '[' or a top-level ','
  std::string error_;
};

}  // namespace kw::proxy::codec
