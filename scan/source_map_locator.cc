// A byte-at-a-time JSON walker that keeps only what locating needs: the container stack, the
// top-level key, the element index, and the position in the current embedded source.
#include "scan/source_map_locator.h"

namespace kw::scan {

std::string describe(const EmbeddedLocation& at) {
  std::string out = at.source_name.empty() ? "sources[" + std::to_string(at.source_index) + "]"
                                           : std::string(at.source_name);
  return out + ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
}

void SourceMapLocator::advance(std::string_view bytes) {
  if (disabled_) return;
  for (char c : bytes) {
    byte(c);
    if (disabled_) return;
  }
}

std::optional<EmbeddedLocation> SourceMapLocator::here() const {
  if (disabled_ || role_ != Role::SourceContent || lex_ == Lex::Outside) return std::nullopt;
  EmbeddedLocation at;
  at.source_index = element_;
  if (element_ < names_.size()) at.source_name = names_[element_];
  at.line = line_;
  at.column = column_;
  return at;
}

void SourceMapLocator::countColumn(char c) {
  if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++column_;
}

void SourceMapLocator::startString() {
  lex_ = Lex::InString;
  string_.clear();
  role_ = Role::Other;
  if (stack_ == "{" && expect_key_) {
    role_ = Role::Key;
  } else if (stack_ == "{[" && key_ == "sourcesContent") {
    role_ = Role::SourceContent;
    line_ = 1;
    column_ = 1;
  } else if (stack_ == "{[" && key_ == "sources") {
    role_ = Role::SourceName;
  }
}

void SourceMapLocator::endString() {
  lex_ = Lex::Outside;
  if (role_ == Role::Key) {
    key_ = string_;
    expect_key_ = false;
  } else if (role_ == Role::SourceName && element_ < kMaxNames) {
    if (names_.size() <= element_) names_.resize(element_ + 1);
    names_[element_] = string_;
  }
  role_ = Role::Other;
}

void SourceMapLocator::byte(char c) {
  switch (lex_) {
    case Lex::InString:
      if (c == '"') {
        endString();
      } else if (c == '\\') {
        lex_ = Lex::Escape;
      } else {
        if (role_ == Role::SourceContent) countColumn(c);
        const size_t cap = role_ == Role::Key ? kMaxKeyBytes : kMaxNameBytes;
        if ((role_ == Role::Key || role_ == Role::SourceName) && string_.size() < cap) {
          string_.push_back(c);
        }
      }
      return;
    case Lex::Escape:
      lex_ = Lex::InString;
      if (c == 'u') {
        lex_ = Lex::Unicode;
        unicode_left_ = 4;
        return;
      }
      if (role_ == Role::SourceContent) {
        if (c == 'n') {
          ++line_;
          column_ = 1;
        } else {
          ++column_;
        }
      }
      if (role_ == Role::SourceName && string_.size() < kMaxNameBytes) {
        string_.push_back(c == 'n' ? '\n' : c == 't' ? '\t' : c);
      }
      return;
    case Lex::Unicode:
      if (--unicode_left_ == 0) {
        lex_ = Lex::InString;
        if (role_ == Role::SourceContent) ++column_;
        if (role_ == Role::SourceName && string_.size() < kMaxNameBytes) string_.push_back('?');
      }
      return;
    case Lex::Outside:
      break;
  }
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return;
  if (!started_) {
    started_ = true;
    if (c != '{') {
      disabled_ = true;
      return;
    }
  }
  switch (c) {
    case '"':
      startString();
      return;
    case '{':
    case '[':
      if (stack_.size() >= kMaxDepth) {
        disabled_ = true;
        return;
      }
      stack_.push_back(c);
      if (stack_ == "{") expect_key_ = true;
      if (stack_ == "{[") element_ = 0;
      return;
    case '}':
    case ']':
      if (!stack_.empty()) stack_.pop_back();
      if (stack_ == "{") key_.clear();
      return;
    case ',':
      if (stack_ == "{") {
        expect_key_ = true;
        key_.clear();
      } else if (stack_ == "{[") {
        ++element_;
      }
      return;
    default:
      return;
  }
}

}  // namespace kw::scan
