// The window walk: find a trigger with RE2 (a DFA over bytes, no captures), test the position
// after its boundary byte with matchAt(), resume after a match. Each trigger starts with the
// byte before the credential, so it needs no look-behind; a file starts after a virtual '\n'.
#include "scan/leak_scanner.h"

#include <re2/re2.h>

#include <algorithm>
#include <cstring>

namespace kw::scan {
namespace {

// A superset of where matchAt() can succeed: each alternative is the boundary byte its
// detector demands, then the shortest prefix that detector needs. Bounded, so a trigger that
// starts inside a window's committed part ends inside the window.
constexpr const char* kTrigger =
    "[^A-Za-z0-9_-](?:kw_|eyJ)"
    "|[^A-Za-z0-9+/_-]A[Q-Za-v][A-Za-z0-9+/_-]{38}"
    "|[^A-Za-z0-9_+.-][Rr][Ee][Dd][Ii][Ss][Ss]?:(?://|\\\\/\\\\/)"
    "|[^A-Za-z0-9_$](?:NEXT_PUBLIC_|VITE_|PUBLIC_|REACT_APP_|EXPO_PUBLIC_"
    "|[A-Z0-9_]{0,56}(?:UPSTASH|KV_REST_API))"
    "|[^A-Za-z0-9_$]sourceMappingURL=data:";

const RE2& trigger() {
  static const RE2* re = [] {
    RE2::Options o;
    o.set_encoding(RE2::Options::EncodingLatin1);  // bytes, whatever the file's encoding
    o.set_never_capture(true);
    o.set_dot_nl(true);
    o.set_max_mem(int64_t{64} << 20);
    return new RE2(kTrigger, o);  // lives for the process
  }();
  return *re;
}

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

}  // namespace

// Decodes the payload as it streams past the cursor and scans the JSON it decodes to as a
// source map; ends at the first byte that is not base64.
class LeakScanner::InlineMap {
 public:
  InlineMap(LeakScanner& outer, uint64_t offset, uint64_t line, uint64_t column)
      : inner_(
            [&outer, offset, line, column](const Found& f) {
              Found g = f;
              g.offset = offset;
              g.line = line;
              g.column = column;
              g.inline_map = true;
              outer.sink_(g);
            },
            Options{size_t{1} << 20, true, false}) {}

  // Consumes the payload bytes at the front of `bytes`; returns how many, and whether it ended.
  size_t consume(std::string_view bytes, bool& ended) {
    size_t n = 0;
    out_.clear();
    for (; n < bytes.size(); ++n) {
      const char c = bytes[n];
      if (c == '=') continue;
      const int v = base64Value(c);
      if (v < 0) {
        ended = true;
        break;
      }
      acc_ = acc_ << 6 | static_cast<uint32_t>(v);
      bits_ += 6;
      if (bits_ >= 8) {
        bits_ -= 8;
        out_.push_back(static_cast<char>(acc_ >> bits_ & 0xff));
      }
    }
    inner_.feed(out_);
    return n;
  }
  void finish() { inner_.finish(); }

 private:
  LeakScanner inner_;
  std::string out_;
  uint32_t acc_ = 0;
  int bits_ = 0;
};

LeakScanner::LeakScanner(Sink sink, Options options) : sink_(std::move(sink)), options_(options) {
  window_.reserve(options_.window_bytes + kOverlap + 1);
  window_.push_back('\n');
  if (options_.source_map) map_.emplace();
}

LeakScanner::~LeakScanner() = default;

int64_t LeakScanner::inlineMapPayload(std::string_view text, size_t at) const {
  constexpr std::string_view kPrefix = "sourceMappingURL=data:application/json";
  if (!options_.inline_maps || text.substr(at, kPrefix.size()) != kPrefix) return -1;
  // Parameters (";charset=utf-8") then ";base64,", within a short span.
  const std::string_view rest = text.substr(at + kPrefix.size(), 64);
  const size_t b64 = rest.find(";base64,");
  if (b64 == std::string_view::npos || rest.substr(0, b64).find(',') != std::string_view::npos) {
    return -1;
  }
  return base_ + static_cast<int64_t>(at + kPrefix.size() + b64 + 8);
}

void LeakScanner::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    const size_t limit = options_.window_bytes + kOverlap;
    const size_t take = std::min(bytes.size(), limit - std::min(limit, window_.size()));
    window_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (window_.size() >= limit) scan(false);
  }
}

void LeakScanner::finish() { scan(true); }

void LeakScanner::advanceCursor(uint64_t to) {
  while (cursor_ < to) {
    const auto from = static_cast<size_t>(static_cast<int64_t>(cursor_) - base_);
    uint64_t step = to;
    if (!inline_ && inline_at_ >= 0 && static_cast<uint64_t>(inline_at_) < to) {
      if (static_cast<uint64_t>(inline_at_) > cursor_) {
        step = static_cast<uint64_t>(inline_at_);  // count up to the payload, then decode
      } else {
        inline_ = std::make_unique<InlineMap>(*this, cursor_, line_, column_);
        inline_at_ = -1;
      }
    }
    std::string_view bytes(window_.data() + from, static_cast<size_t>(step - cursor_));
    if (inline_) {
      bool ended = false;
      bytes = bytes.substr(0, inline_->consume(bytes, ended));
      if (ended) {
        inline_->finish();
        inline_.reset();
      }
    }
    countPosition(bytes);
    cursor_ += bytes.size();
  }
}

void LeakScanner::countPosition(std::string_view bytes) {
  if (map_) map_->advance(bytes);
  const char* last_newline = nullptr;
  for (const char* p = bytes.data();
       (p = static_cast<const char*>(std::memchr(p, '\n', bytes.data() + bytes.size() - p))) !=
       nullptr;
       ++p) {
    ++line_;
    last_newline = p;
  }
  const char* col_from = bytes.data();
  if (last_newline != nullptr) {
    column_ = 1;
    col_from = last_newline + 1;
  }
  for (const char* p = col_from; p < bytes.data() + bytes.size(); ++p) {
    column_ += (static_cast<unsigned char>(*p) & 0xC0) != 0x80;
  }
}

void LeakScanner::scan(bool at_end) {
  const size_t commit = at_end ? window_.size() : window_.size() - kOverlap;
  const std::string_view text(window_);
  for (;;) {
    // A trigger's first byte is the one before the credential it announces.
    const auto from = static_cast<size_t>(std::max<int64_t>(resume_ - 1 - base_, 0));
    if (from >= commit) break;
    re2::StringPiece found;
    if (!trigger().Match(text, from, text.size(), RE2::UNANCHORED, &found, 1)) break;
    const auto boundary = static_cast<size_t>(found.data() - text.data());
    if (boundary >= commit) break;
    const size_t at = boundary + 1;
    if (const int64_t payload = inlineMapPayload(text, at); payload >= 0) {
      // Noted for the cursor to decode; the text itself is scanned on as usual.
      if (!inline_ && inline_at_ < 0) inline_at_ = payload;
      resume_ = base_ + static_cast<int64_t>(at) + 1;
      continue;
    }
    auto match = matchAt(text, at);
    if (!match) {
      resume_ = base_ + static_cast<int64_t>(at) + 1;
      continue;
    }
    const auto offset = static_cast<uint64_t>(base_ + static_cast<int64_t>(match->begin));
    advanceCursor(offset);
    Found f;
    f.kind = match->kind;
    f.offset = offset;
    f.line = line_;
    f.column = column_;
    f.secret = text.substr(match->begin, match->end - match->begin);
    if (match->hasName()) {
      f.variable = text.substr(match->name_begin, match->name_end - match->name_begin);
    }
    if (map_) f.embedded = map_->here();
    sink_(f);
    resume_ = base_ + static_cast<int64_t>(match->end);
  }
  if (at_end) {
    advanceCursor(static_cast<uint64_t>(base_ + static_cast<int64_t>(window_.size())));
    if (inline_) {
      inline_->finish();  // the payload ran to the end of the file
      inline_.reset();
    }
    return;
  }
  // Keep the overlap (and anything a match consumed past the commit point) for the next window.
  advanceCursor(static_cast<uint64_t>(std::max<int64_t>(base_ + static_cast<int64_t>(commit), 0)));
  const size_t keep_from =
      std::min(commit, static_cast<size_t>(static_cast<int64_t>(cursor_) - base_));
  window_.erase(0, keep_from);
  base_ += static_cast<int64_t>(keep_from);
}

}  // namespace kw::scan
