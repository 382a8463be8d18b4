// Strict flat JSON object reader for JWT segments: small, bounded, and duplicate-aware.
#include "policy/json_object.h"

#include <charconv>

namespace kw::policy {
namespace {

constexpr size_t kMaxInput = 8 * 1024;
constexpr int kMaxDepth = 8;
constexpr size_t kMaxMembers = 64;

class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}

  Result<JsonObject> object() {
    JsonObject out;
    ws();
    if (!eat('{')) return err("expected an object");
    ws();
    if (eat('}')) return finish(std::move(out));
    while (true) {
      JsonMember m;
      ws();
      if (!string(m.name)) return err("bad member name");
      for (const auto& prev : out.members) {
        if (prev.name == m.name) return err("duplicate member \"" + printable(m.name) + "\"");
      }
      ws();
      if (!eat(':')) return err("expected ':'");
      ws();
      if (!value(m, 1)) return err(error_.empty() ? "bad value" : error_);
      out.members.push_back(std::move(m));
      if (out.members.size() > kMaxMembers) return err("too many members");
      ws();
      if (eat('}')) return finish(std::move(out));
      if (!eat(',')) return err("expected ',' or '}'");
    }
  }

 private:
  Result<JsonObject> finish(JsonObject out) {
    ws();
    if (pos_ != s_.size()) return err("trailing data after the object");
    return out;
  }
  Error err(std::string m) const { return makeError(ErrorCode::InvalidArgument, "JSON: " + m); }
  static std::string printable(std::string_view s) {
    std::string o;
    for (char c : s.substr(0, 32)) o.push_back(c >= 0x20 && c < 0x7f && c != '"' ? c : '?');
    return o;
  }

  bool eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool value(JsonMember& m, int depth) {
    if (pos_ >= s_.size()) return false;
    const char c = s_[pos_];
    if (c == '"') {
      m.kind = JsonMember::Kind::String;
      return string(m.text);
    }
    if (c == '{' || c == '[') {
      if (depth >= kMaxDepth) {
        error_ = "nesting too deep";
        return false;
      }
      return c == '{' ? skipObject(depth) : array(m, depth);
    }
    if (literal("true")) {
      m.kind = JsonMember::Kind::Bool;
      m.boolean = true;
      return true;
    }
    if (literal("false")) {
      m.kind = JsonMember::Kind::Bool;
      return true;
    }
    if (literal("null")) {
      m.kind = JsonMember::Kind::Null;
      return true;
    }
    return number(m);
  }

  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool number(JsonMember& m) {
    const size_t start = pos_;
    eat('-');
    if (pos_ >= s_.size()) return false;
    if (s_[pos_] == '0') {
      ++pos_;
    } else if (s_[pos_] >= '1' && s_[pos_] <= '9') {
      while (pos_ < s_.size() && isDigit(s_[pos_])) ++pos_;
    } else {
      return false;
    }
    bool integral = true;
    if (eat('.')) {
      integral = false;
      if (!digits()) return false;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (!eat('+')) eat('-');
      if (!digits()) return false;
    }
    m.text.assign(s_.substr(start, pos_ - start));
    m.kind = JsonMember::Kind::Number;
    if (integral) {
      auto [p, ec] = std::from_chars(m.text.data(), m.text.data() + m.text.size(), m.integer);
      if (ec == std::errc() && p == m.text.data() + m.text.size())
        m.kind = JsonMember::Kind::Integer;
    }
    return true;
  }
  static bool isDigit(char c) { return c >= '0' && c <= '9'; }
  bool digits() {
    const size_t start = pos_;
    while (pos_ < s_.size() && isDigit(s_[pos_])) ++pos_;
    return pos_ > start;
  }

  bool array(JsonMember& m, int depth) {
    ++pos_;  // '['
    m.kind = JsonMember::Kind::Array;
    m.all_strings = true;
    ws();
    if (eat(']')) return true;
    while (true) {
      ws();
      JsonMember elem;
      if (!value(elem, depth + 1)) return false;
      if (elem.kind == JsonMember::Kind::String) {
        if (m.strings.size() >= kMaxMembers) {
          error_ = "array too long";
          return false;
        }
        m.strings.push_back(std::move(elem.text));
      } else {
        m.all_strings = false;
      }
      ws();
      if (eat(']')) return true;
      if (!eat(',')) return false;
    }
  }

  bool skipObject(int depth) {
    ++pos_;  // '{'
    ws();
    if (eat('}')) return true;
    size_t members = 0;
    while (true) {
      ws();
      std::string name;
      if (!string(name)) return false;
      ws();
      if (!eat(':')) return false;
      ws();
      JsonMember inner;
      if (!value(inner, depth + 1)) return false;
      if (++members > kMaxMembers) return false;
      ws();
      if (eat('}')) return true;
      if (!eat(',')) return false;
    }
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  bool hex4(uint32_t& out) {
    if (s_.size() - pos_ < 4) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = hex(s_[pos_++]);
      if (h < 0) return false;
      out = out << 4 | static_cast<uint32_t>(h);
    }
    return true;
  }
  static void appendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xc0 | cp >> 6));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xe0 | cp >> 12));
      out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out.push_back(static_cast<char>(0xf0 | cp >> 18));
      out.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }
  // Validates one UTF-8 sequence starting at pos_ (RFC 3629: no overlongs, no surrogates).
  bool utf8(std::string& out) {
    const auto b0 = static_cast<unsigned char>(s_[pos_]);
    size_t n;
    uint32_t cp;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      n = 1, cp = b0 & 0x1f;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      n = 2, cp = b0 & 0x0f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      n = 3, cp = b0 & 0x07;
    } else {
      return false;
    }
    if (s_.size() - pos_ <= n) return false;
    for (size_t i = 1; i <= n; ++i) {
      const auto b = static_cast<unsigned char>(s_[pos_ + i]);
      if ((b & 0xc0) != 0x80) return false;
      cp = cp << 6 | (b & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    out.append(s_.substr(pos_, n + 1));
    pos_ += n + 1;
    return true;
  }

  bool string(std::string& out) {
    if (!eat('"')) return false;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (static_cast<unsigned char>(c) >= 0x80) {
        if (!utf8(out)) return false;
        continue;
      }
      ++pos_;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return false;
      const char e = s_[pos_++];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xdc00 && cp <= 0xdfff) return false;  // lone low surrogate
          if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t lo;
            if (!eat('\\') || !eat('u') || !hex4(lo) || lo < 0xdc00 || lo > 0xdfff) return false;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          appendUtf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

const JsonMember* JsonObject::find(std::string_view name) const {
  for (const auto& m : members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

Result<JsonObject> parseJsonObject(std::string_view text) {
  if (text.size() > kMaxInput) return makeError(ErrorCode::TooLarge, "JSON: object too large");
  return Reader(text).object();
}

}  // namespace kw::policy
