// Compiles key/channel/group globs into literal, prefix or general matchers with {sub} templates.
#include "policy/key_pattern.h"

#include <algorithm>

namespace kw::policy {

namespace {

constexpr std::string_view kSubToken = "{sub}";

// End (exclusive) of the `[...]` class starting at p[i] == '[', by stringmatchlen()'s rules.
size_t classEnd(std::string_view p, size_t i) {
  const size_t n = p.size();
  ++i;
  if (i < n && p[i] == '^') ++i;
  while (i < n) {
    if (p[i] == '\\' && n - i >= 2) {
      i += 2;
    } else if (p[i] == ']') {
      return i + 1;
    } else if (n - i >= 3 && p[i + 1] == '-') {
      i += 3;
    } else {
      ++i;
    }
  }
  return n;
}

// Positions of `{sub}` tokens outside classes and escapes; false when one sits inside a class.
bool findSubTokens(std::string_view p, std::vector<size_t>& at) {
  size_t i = 0;
  while (i < p.size()) {
    if (p.substr(i, kSubToken.size()) == kSubToken) {
      at.push_back(i);
      i += kSubToken.size();
    } else if (p[i] == '\\') {
      i += 2;  // `\{sub}` is the literal text "{sub}"
    } else if (p[i] == '[') {
      const size_t end = classEnd(p, i);
      if (p.substr(i, end - i).find(kSubToken) != std::string_view::npos) return false;
      i = end;
    } else {
      ++i;
    }
  }
  return true;
}

bool hasMetaPrefix(std::string_view inner, std::string_view lit) {
  if (inner.size() < lit.size()) return false;
  for (size_t i = 0; i < lit.size(); ++i) {
    if (isGlobMeta(inner[i]) || inner[i] != lit[i]) return false;
  }
  return true;
}

}  // namespace

bool isValidSub(std::string_view sub) {
  if (sub.empty() || sub.size() > kMaxSubBytes) return false;
  return std::all_of(sub.begin(), sub.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '@' || c == '-';
  });
}

Result<KeyPattern> KeyPattern::compile(std::string_view text, uint8_t access,
                                       std::string_view where) {
  const std::string w(where);
  if (text.empty()) {
    return makeError(ErrorCode::Config, w + ": empty pattern (it would match only the empty name)");
  }
  if (text.size() > kMaxPatternBytes) {
    return makeError(ErrorCode::Config,
                     w + ": pattern longer than " + std::to_string(kMaxPatternBytes) + " bytes");
  }
  std::vector<size_t> subs;
  if (!findSubTokens(text, subs)) {
    return makeError(ErrorCode::Config, w + ": {sub} may not appear inside [...]");
  }
  KeyPattern kp;
  kp.text_ = std::string(text);
  kp.where_ = w;
  kp.access_ = access;
  kp.is_template_ = !subs.empty();
  std::string probe;
  size_t from = 0;
  for (size_t at : subs) {
    kp.raw_pieces_.emplace_back(text.substr(from, at - from));
    probe.append(text.substr(from, at - from)).push_back('x');
    from = at + kSubToken.size();
  }
  kp.raw_pieces_.emplace_back(text.substr(from));
  probe.append(text.substr(from));

  const Glob g(probe);
  if (g.matchesEverything()) {
    kp.kind_ = Kind::All;
  } else if (g.isLiteral()) {
    kp.kind_ = Kind::Exact;
  } else if (g.isLiteralPrefix()) {
    kp.kind_ = Kind::Prefix;
  } else {
    kp.kind_ = Kind::General;
  }
  if (kp.kind_ == Kind::Exact || kp.kind_ == Kind::Prefix) {
    for (const std::string& piece : kp.raw_pieces_)
      kp.pieces_.push_back(Glob(piece).literalPrefix());
  }
  if (kp.kind_ == Kind::General && !kp.is_template_) kp.glob_.assign(text);
  if (!kp.is_template_) kp.raw_pieces_.clear();
  return kp;
}

bool KeyPattern::literalMatch(std::string_view s, std::string_view sub, bool prefix) const {
  size_t pos = 0;
  for (size_t k = 0; k < pieces_.size(); ++k) {
    if (k > 0) {
      if (s.substr(pos, sub.size()) != sub) return false;
      pos += sub.size();
    }
    const std::string& piece = pieces_[k];
    if (s.size() - pos < piece.size() || s.compare(pos, piece.size(), piece) != 0) return false;
    pos += piece.size();
  }
  return prefix || pos == s.size();
}

bool KeyPattern::match(std::string_view subject, std::string_view sub,
                       PatternScratch& scratch) const {
  switch (kind_) {
    case Kind::All:
      return true;
    case Kind::Exact:
      return literalMatch(subject, sub, false);
    case Kind::Prefix:
      return literalMatch(subject, sub, true);
    case Kind::General:
      if (!is_template_) return glob_.match(subject);
      expand(sub, scratch.text);
      scratch.glob.assign(scratch.text);
      return scratch.glob.match(subject);
  }
  return false;
}

void KeyPattern::expand(std::string_view sub, std::string& out) const {
  out.clear();
  if (!is_template_) {
    out = text_;
    return;
  }
  for (size_t k = 0; k < raw_pieces_.size(); ++k) {
    if (k > 0) out.append(sub);
    out.append(raw_pieces_[k]);
  }
}

void KeyPattern::literalPrefix(std::string_view sub, std::string& out) const {
  out.clear();
  switch (kind_) {
    case Kind::All:
      return;
    case Kind::Exact:
    case Kind::Prefix:
      for (size_t k = 0; k < pieces_.size(); ++k) {
        if (k > 0) out.append(sub);
        out.append(pieces_[k]);
      }
      return;
    case Kind::General: {
      std::string text;
      expand(sub, text);
      out = Glob(text).literalPrefix();
      return;
    }
  }
}

bool KeyPattern::contains(std::string_view inner, std::string_view sub,
                          PatternScratch& scratch) const {
  if (kind_ == Kind::All) return true;
  expand(sub, scratch.text);
  if (inner == scratch.text) return true;  // the very same glob
  if (kind_ == Kind::General) return false;
  std::string lit;
  literalPrefix(sub, lit);
  if (kind_ == Kind::Exact) return inner.size() == lit.size() && hasMetaPrefix(inner, lit);
  return hasMetaPrefix(inner, lit);
}

Status KeyPatternSet::add(std::string_view text, uint8_t access, std::string_view where) {
  if (patterns_.size() >= kMaxPatternsPerSet) {
    return makeError(ErrorCode::Config, std::string(where) + ": more than " +
                                            std::to_string(kMaxPatternsPerSet) + " patterns");
  }
  auto kp = KeyPattern::compile(text, access, where);
  if (!kp) return kp.error();
  if (kp->kind() == KeyPattern::Kind::All && !kp->isTemplate()) all_access_ |= access;
  if (kp->isTemplate()) ++templates_;
  patterns_.push_back(std::move(*kp));
  return Ok{};
}

KeyPatternSet::Check KeyPatternSet::check(std::string_view subject, uint8_t need,
                                          std::string_view sub, PatternScratch& scratch) const {
  uint8_t got = 0;
  bool matched = false;
  bool skipped_template = false;
  int sub_ok = -1;  // computed on first template
  for (const KeyPattern& p : patterns_) {
    if (matched && (got | p.access()) == got) continue;  // cannot add anything
    if (p.isTemplate()) {
      if (sub_ok < 0) sub_ok = isValidSub(sub) ? 1 : 0;
      if (sub_ok == 0) {
        skipped_template = true;
        continue;
      }
    }
    if (!p.match(subject, sub, scratch)) continue;
    matched = true;
    got |= p.access();
    if ((got & need) == need) return Check::Granted;
  }
  return skipped_template ? Check::TemplateUnbound : Check::Denied;
}

void KeyPatternSet::matching(std::string_view subject, std::string_view sub,
                             PatternScratch& scratch, std::vector<const KeyPattern*>& out) const {
  const bool sub_ok = isValidSub(sub);
  for (const KeyPattern& p : patterns_) {
    if (p.isTemplate() && !sub_ok) continue;
    if (p.match(subject, sub, scratch)) out.push_back(&p);
  }
}

}  // namespace kw::policy
