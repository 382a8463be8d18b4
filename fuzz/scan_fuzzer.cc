// keyward scan's streaming scanner against the plain definition: testing matchAt() at every
// position in order (resuming after each match) must give exactly the findings, lines and
// columns the RE2-triggered window walk gives, for the whole input at once and for any piece
// size and window size. A filler of more than one overlap can be inserted so matches straddle
// window ends. Every preview hides its secret.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "scan/leak_scanner.h"
#include "scan/redact.h"

namespace {

using kw::scan::Found;
using kw::scan::LeakScanner;

struct Row {
  kw::scan::FindingKind kind;
  uint64_t offset, length, line, column;
  std::string variable, embedded;
  bool inline_map = false;
  bool operator==(const Row&) const = default;
};

std::vector<Row> reference(std::string_view text) {
  std::vector<Row> rows;
  uint64_t line = 1, column = 1;
  size_t counted = 0;
  for (size_t at = 0; at < text.size();) {
    auto m = kw::scan::matchAt(text, at);
    if (!m) {
      ++at;
      continue;
    }
    for (; counted < m->begin; ++counted) {
      const char c = text[counted];
      if (c == '\n') {
        ++line;
        column = 1;
      } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
        ++column;
      }
    }
    std::string name(text.substr(m->name_begin, m->name_end - m->name_begin));
    rows.push_back({m->kind, m->begin, m->end - m->begin, line, column, name, "", false});
    KW_FUZZ_CHECK(m->end > at);
    at = m->end;
  }
  return rows;
}

std::vector<Row> streamed(std::string_view text, size_t piece, LeakScanner::Options o) {
  std::vector<Row> rows;
  LeakScanner scanner(
      [&](const Found& f) {
        const std::string where = f.embedded ? kw::scan::describe(*f.embedded) : "";
        rows.push_back({f.kind, f.offset, f.secret.size(), f.line, f.column,
                        std::string(f.variable), where, f.inline_map});
        // An inline map's finding is in the decoded payload, not at its offset in the text.
        if (!f.inline_map) KW_FUZZ_CHECK(text.substr(f.offset, f.secret.size()) == f.secret);
        const std::string preview = kw::scan::redactedPreview(f.kind, f.secret);
        if (f.secret.size() >= 8) KW_FUZZ_CHECK(preview.find(f.secret) == std::string::npos);
        for (char c : preview) KW_FUZZ_CHECK(c >= 0x20 && c < 0x7f);
      },
      o);
  for (size_t i = 0; i < text.size(); i += piece) scanner.feed(text.substr(i, piece));
  scanner.finish();
  return rows;
}

// The definition knows no inline maps: compare the plain findings only.
std::vector<Row> plainOnly(std::vector<Row> rows) {
  std::vector<Row> out;
  for (auto& r : rows) {
    if (r.inline_map) continue;
    r.embedded.clear();
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 6) return 0;
  const uint8_t mode = data[0];
  const size_t piece = 1 + (data[1] | data[2] << 8) % 9000;
  const size_t window = 256 + (data[3] | data[4] << 8) % 5000;
  const size_t insert_at = data[5];
  std::string text(reinterpret_cast<const char*>(data + 6), size - 6);
  if (mode & 1) {
    // A filler longer than the overlap: the parts around it fall in different windows.
    const char fills[] = {'x', ' ', '\n', '/', 'A'};
    const size_t at = text.empty() ? 0 : insert_at % (text.size() + 1);
    const size_t n = LeakScanner::kOverlap + (mode >> 4) * 97;
    text.insert(at, n, fills[(mode >> 1) % sizeof fills]);
  }
  LeakScanner::Options whole_opts;
  whole_opts.source_map = (mode & 8) != 0;
  const auto whole = streamed(text, text.size() + 1, whole_opts);
  KW_FUZZ_CHECK(plainOnly(whole) == reference(text));
  LeakScanner::Options small = whole_opts;
  small.window_bytes = window;
  KW_FUZZ_CHECK(streamed(text, piece, small) == whole);
  return 0;
}
