// SecretPieces / SecretWatch: see the header.
#include "proxy/codec/secret_watch.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "proxy/codec/base64.h"

namespace kw::proxy::codec {
namespace {

// The characters of base64(<`align` bytes> + secret) that depend on the secret's bytes alone.
std::string stableBase64(std::string_view secret, size_t align) {
  std::string padded(align, '\0');
  padded.append(secret);
  const std::string encoded = base64Encode(padded);
  const size_t first = (8 * align + 5) / 6;  // the first character wholly within the secret
  const size_t end = (8 * (align + secret.size())) / 6;  // one past the last such character
  return end > first ? encoded.substr(first, end - first) : std::string();
}

// A block's bytes packed into a uint64, first byte highest (as SecretWatch::last8_ holds them).
uint64_t pack(std::string_view block) {
  uint64_t v = 0;
  for (const char c : block) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

size_t slot(uint64_t key) { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ULL) >> 48); }

int hexValue(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The byte a one-character JSON escape stands for, or -1.
int simpleEscape(unsigned char c) {
  switch (c) {
    case '"':
    case '\\':
    case '/':
      return c;
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    default:
      return -1;
  }
}

}  // namespace

SecretPieces::SecretPieces(std::string_view secret) {
  if (secret.empty()) return;
  forms_[0].width = std::min(kPiece, secret.size());
  forms_[0].texts.emplace_back(secret);
  if (secret.size() >= kPiece) {
    forms_[1].width = kBase64Piece;
    for (size_t align = 0; align < 3; ++align) {
      std::string text = stableBase64(secret, align);
      if (text.size() >= kBase64Piece) forms_[1].texts.push_back(std::move(text));
    }
    if (forms_[1].texts.empty()) forms_[1].width = 0;
  }
  for (Form& f : forms_) {
    if (f.width == 0) continue;
    f.block = std::min<size_t>(8, (f.width + 1) / 2);  // a piece always holds an aligned block
    for (const std::string& text : f.texts) {
      for (size_t i = 0; i + f.block <= text.size(); ++i) {
        f.blocks.push_back(pack(std::string_view(text).substr(i, f.block)));
        f.table.set(slot(f.blocks.back()));
      }
    }
    std::sort(f.blocks.begin(), f.blocks.end());
  }
}

SecretWatch::SecretWatch(std::shared_ptr<const SecretPieces> pieces) : pieces_(std::move(pieces)) {
  for (const SecretPieces::Form& f : pieces_->forms_) {
    if (f.width == 0) continue;
    hold_ = std::max(hold_, 2 * f.width - f.block - 1);
    blocks_of_8_ = blocks_of_8_ && f.block == 8;
  }
}

bool SecretWatch::holds(const std::shared_ptr<const SecretPieces>& pieces, std::string_view body) {
  SecretWatch w(pieces);
  return !(w.feed(body) && w.settle());
}

// Per decoded byte: kept, and every B-th one ends a block to look up.
__attribute__((always_inline)) inline void SecretWatch::emit(unsigned char c, uint64_t raw_start) {
  recent_[decoded_ & kMask] = static_cast<char>(c);
  raw_at_[decoded_ & kMask] = raw_start;
  ++decoded_;
  last8_ = (last8_ << 8) | c;
  if (!blocks_of_8_ || (decoded_ & 7) == 0) lookUp();
  if (pending_count_ != 0) confirm();
}

void SecretWatch::lookUp() {
  for (size_t k = 0; k < 2; ++k) {
    const SecretPieces::Form& f = pieces_->forms_[k];
    if (f.width == 0 || decoded_ % f.block != 0) continue;
    const uint64_t key = f.block == 8 ? last8_ : last8_ & ((uint64_t{1} << (8 * f.block)) - 1);
    if (!f.table[slot(key)] || !std::binary_search(f.blocks.begin(), f.blocks.end(), key)) {
      continue;
    }
    // A hit waits W - B more bytes, and hits come at most every B bytes: at most 3 wait at once.
    for (Pending& p : pending_[k]) {
      if (!p.active) {
        p = {decoded_, true};
        ++pending_count_;
        break;
      }
    }
  }
}

void SecretWatch::confirm() {
  for (size_t k = 0; k < 2; ++k) {
    const SecretPieces::Form& f = pieces_->forms_[k];
    for (Pending& p : pending_[k]) {
      if (p.active && p.block_end - f.block + f.width <= decoded_) {  // every window is here
        check(k, p.block_end);
        p.active = false;
        --pending_count_;
      }
    }
  }
}

// Compares each window of the form's width around the block that ends at `block_end`, of those
// wholly decoded by now, with the secret's texts.
void SecretWatch::check(size_t form, uint64_t block_end) {
  const SecretPieces::Form& f = pieces_->forms_[form];
  const uint64_t first = block_end >= f.width ? block_end - f.width : 0;
  for (uint64_t s = first; s + f.block <= block_end && s + f.width <= decoded_; ++s) {
    std::array<char, kRing> window{};
    for (size_t j = 0; j < f.width; ++j) window[j] = recent_[(s + j) & kMask];
    const std::string_view piece(window.data(), f.width);
    for (const std::string& text : f.texts) {
      if (text.find(piece) != std::string::npos) found_ = true;
    }
  }
}

bool SecretWatch::settle() {
  for (size_t k = 0; k < 2 && !found_; ++k) {
    for (const Pending& p : pending_[k]) {
      if (p.active) check(k, p.block_end);
    }
  }
  return !found_;
}

void SecretWatch::emitEscapeAsIs() {
  for (size_t k = 0; k < escape_.size(); ++k) {
    emit(static_cast<unsigned char>(escape_[k]), escape_at_ + k);
  }
  escape_.clear();
}

bool SecretWatch::feed(std::string_view raw) {
  if (found_) return false;
  if (pieces_->empty()) {
    fed_ += raw.size();
    return true;
  }
  for (size_t i = 0; i < raw.size() && !found_; ++i) {
    if (escape_.empty()) {  // most bytes: a run up to the next backslash
      const void* bs = std::memchr(raw.data() + i, '\\', raw.size() - i);
      const size_t stop = bs == nullptr ? raw.size() : static_cast<const char*>(bs) - raw.data();
      for (; i < stop && !found_; ++i) emit(static_cast<unsigned char>(raw[i]), fed_ + i);
      if (i == raw.size() || found_) break;
    }
    const auto b = static_cast<unsigned char>(raw[i]);
    const uint64_t at = fed_ + i;
    if (escape_.size() == 1) {  // after a backslash
      const int simple = simpleEscape(b);
      if (b == 'u') {
        escape_.push_back('u');
        continue;
      }
      if (simple >= 0) {
        escape_.clear();
        emit(static_cast<unsigned char>(simple), escape_at_);
        continue;
      }
      emitEscapeAsIs();                // not an escape: then `b` is an ordinary byte (below)
    } else if (escape_.size() >= 2) {  // \u and its hex digits so far
      if (hexValue(b) >= 0) {
        escape_.push_back(static_cast<char>(b));
        if (escape_.size() == 6) {
          uint32_t code = 0;
          for (size_t k = 2; k < 6; ++k) {
            code = code * 16 + static_cast<uint32_t>(hexValue(escape_[k]));
          }
          escape_.clear();
          // As UTF-8 (a lone surrogate as its three bytes: it can match nothing of a token).
          if (code < 0x80) {
            emit(static_cast<unsigned char>(code), escape_at_);
          } else if (code < 0x800) {
            emit(static_cast<unsigned char>(0xC0 | (code >> 6)), escape_at_);
            emit(static_cast<unsigned char>(0x80 | (code & 0x3F)), escape_at_);
          } else {
            emit(static_cast<unsigned char>(0xE0 | (code >> 12)), escape_at_);
            emit(static_cast<unsigned char>(0x80 | ((code >> 6) & 0x3F)), escape_at_);
            emit(static_cast<unsigned char>(0x80 | (code & 0x3F)), escape_at_);
          }
        }
        continue;
      }
      emitEscapeAsIs();
    }
    if (found_) break;
    if (b == '\\') {
      escape_ = "\\";
      escape_at_ = at;
    } else {
      emit(b, at);
    }
  }
  fed_ += raw.size();
  return !found_;
}

uint64_t SecretWatch::releasable() const {
  uint64_t limit = fed_;
  if (!escape_.empty()) limit = std::min(limit, escape_at_);
  if (hold_ > 0 && decoded_ > 0) {
    const uint64_t oldest = decoded_ - std::min<uint64_t>(decoded_, hold_);
    limit = std::min(limit, raw_at_[oldest & kMask]);
  }
  return limit;
}

}  // namespace kw::proxy::codec
