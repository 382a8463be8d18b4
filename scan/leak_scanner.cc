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
    "|[A-Z0-9_]{0,56}(?:UPSTASH|KV_REST_API))";

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

}  // namespace

LeakScanner::LeakScanner(Sink sink, Options options) : sink_(std::move(sink)), options_(options) {
  window_.reserve(options_.window_bytes + kOverlap + 1);
  window_.push_back('\n');
  if (options_.source_map) map_.emplace();
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
  if (to <= cursor_) return;
  const auto from = static_cast<size_t>(static_cast<int64_t>(cursor_) - base_);
  const std::string_view bytes(window_.data() + from, static_cast<size_t>(to - cursor_));
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
  cursor_ = to;
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
  if (at_end) return;
  // Keep the overlap (and anything a match consumed past the commit point) for the next window.
  advanceCursor(static_cast<uint64_t>(std::max<int64_t>(base_ + static_cast<int64_t>(commit), 0)));
  const size_t keep_from =
      std::min(commit, static_cast<size_t>(static_cast<int64_t>(cursor_) - base_));
  window_.erase(0, keep_from);
  base_ += static_cast<int64_t>(keep_from);
}

}  // namespace kw::scan
