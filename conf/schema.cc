// Per-field validation of the config tree: typed readers and every section except clients.
#include "conf/schema.h"

#include <algorithm>
#include <filesystem>

#include "conf/schema_util.h"

namespace kw::conf {

// ---- Ctx, MapReader, typed readers ----

std::string Ctx::loc(const YamlMark& m) const {
  return source_ + ":" + std::to_string(m.line) + ":" + std::to_string(m.col);
}

void Ctx::error(const YamlMark& m, std::string_view field, std::string_view message) {
  if (errors_.size() > kMaxErrors) return;
  if (errors_.size() == kMaxErrors) {
    errors_.push_back(loc(m) + ": too many errors; stopping here");
    return;
  }
  std::string line = loc(m) + ": ";
  if (!field.empty()) line.append(field).append(": ");
  line.append(oneLine(message));
  errors_.push_back(std::move(line));
}

std::string Ctx::resolve(std::string_view path) const {
  std::filesystem::path p{std::string(path)};
  if (p.is_relative()) p = std::filesystem::path(base_dir_) / p;
  return p.lexically_normal().string();
}

MapReader::MapReader(Ctx& ctx, const YamlNode& node, std::string field)
    : ctx_(ctx), node_(node), field_(std::move(field)) {
  if (!node.isMap()) {
    ctx.error(node.mark, field_, "expected a map, got " + kindName(node));
    return;
  }
  valid_ = true;
  used_.assign(node.entries.size(), false);
}

const YamlNode* MapReader::get(std::string_view key) {
  known_.push_back(key);
  if (!valid_) return nullptr;
  for (size_t i = 0; i < node_.entries.size(); ++i) {
    if (node_.entries[i].first.scalar == key) {
      used_[i] = true;
      return &node_.entries[i].second;
    }
  }
  return nullptr;
}

const YamlNode* MapReader::getPresent(std::string_view key) {
  const YamlNode* n = get(key);
  return n != nullptr && n->isNull() ? nullptr : n;
}

std::string MapReader::sub(std::string_view key) const {
  if (field_.empty()) return std::string(key);
  return field_ + "." + std::string(key);
}

void MapReader::requireKey(std::string_view key) {
  if (valid_ && get(key) == nullptr) {
    ctx_.error(node_.mark, field_, "missing required key " + quote(key));
  }
}

void MapReader::finish() {
  if (!valid_) return;
  for (size_t i = 0; i < node_.entries.size(); ++i) {
    if (used_[i]) continue;
    std::string allowed;
    for (size_t k = 0; k < known_.size(); ++k) {
      if (std::find(known_.begin(), known_.begin() + static_cast<std::ptrdiff_t>(k), known_[k]) !=
          known_.begin() + static_cast<std::ptrdiff_t>(k)) {
        continue;  // asked for twice
      }
      allowed.append(known_[k]).append(", ");
    }
    if (allowed.size() >= 2) allowed.resize(allowed.size() - 2);
    ctx_.error(node_.entries[i].first.mark, field_,
               "unknown key " + quote(node_.entries[i].first.scalar) +
                   " (expected one of: " + allowed + ")");
  }
}

void sortByLocation(std::vector<std::string>& errors, const std::string& source) {
  auto key = [&source](const std::string& e) -> std::pair<uint64_t, uint64_t> {
    constexpr uint64_t kLast = ~0ULL;
    if (e.compare(0, source.size(), source) != 0 || e.size() <= source.size() ||
        e[source.size()] != ':') {
      return {kLast, kLast};
    }
    uint64_t line = 0;
    uint64_t col = 0;
    size_t i = source.size() + 1;
    for (; i < e.size() && e[i] >= '0' && e[i] <= '9' && line < 1000000000; ++i) {
      line = line * 10 + static_cast<uint64_t>(e[i] - '0');
    }
    if (i >= e.size() || e[i] != ':') return {kLast, kLast};
    for (++i; i < e.size() && e[i] >= '0' && e[i] <= '9' && col < 1000000000; ++i) {
      col = col * 10 + static_cast<uint64_t>(e[i] - '0');
    }
    return {line, col};
  };
  std::stable_sort(errors.begin(), errors.end(),
                   [&key](const std::string& a, const std::string& b) { return key(a) < key(b); });
}

std::string oneLine(std::string_view message) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(message.size());
  for (char ch : message) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      out.append("\\x").push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

std::string quote(std::string_view v) {
  std::string out = "\"";
  const size_t limit = 80;
  for (size_t i = 0; i < v.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      static const char kHex[] = "0123456789abcdef";
      out.append("\\x").push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (v.size() > limit) out += "...";
  out += '"';
  return out;
}

std::string kindName(const YamlNode& n) {
  switch (n.kind) {
    case YamlNode::Kind::Null:
      return "nothing";
    case YamlNode::Kind::Scalar:
      return "the scalar " + quote(n.scalar);
    case YamlNode::Kind::Sequence:
      return "a list";
    case YamlNode::Kind::Map:
      return "a map";
  }
  return "?";
}

bool readString(Ctx& ctx, const YamlNode& n, std::string_view field, std::string& out,
                size_t max_len) {
  if (!n.isScalar()) {
    ctx.error(n.mark, field, "expected a string, got " + kindName(n));
    return false;
  }
  if (n.scalar.size() > max_len) {
    ctx.error(n.mark, field, "longer than " + std::to_string(max_len) + " bytes");
    return false;
  }
  out = n.scalar;
  return true;
}

bool readUint(Ctx& ctx, const YamlNode& n, std::string_view field, uint64_t lo, uint64_t hi,
              uint64_t& out) {
  const std::string range = std::to_string(lo) + ".." + std::to_string(hi);
  const bool digits =
      n.isScalar() && !n.scalar.empty() && n.scalar.size() <= 19 &&
      std::all_of(n.scalar.begin(), n.scalar.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) {
    ctx.error(n.mark, field, "expected an integer in " + range + ", got " + kindName(n));
    return false;
  }
  const uint64_t v = std::stoull(n.scalar);
  if (v < lo || v > hi) {
    ctx.error(n.mark, field, n.scalar + " is out of range " + range);
    return false;
  }
  out = v;
  return true;
}

bool readBool(Ctx& ctx, const YamlNode& n, std::string_view field, bool& out) {
  if (n.isScalar() && n.plain) {
    const std::string& s = n.scalar;
    if (s == "true" || s == "True" || s == "TRUE") {
      out = true;
      return true;
    }
    if (s == "false" || s == "False" || s == "FALSE") {
      out = false;
      return true;
    }
  }
  ctx.error(n.mark, field, "expected true or false, got " + kindName(n));
  return false;
}

bool readDurationField(Ctx& ctx, const YamlNode& n, std::string_view field, Duration min,
                       Duration& out) {
  if (!n.isScalar()) {
    ctx.error(n.mark, field, "expected a duration such as 30s, got " + kindName(n));
    return false;
  }
  auto d = parseDuration(n.scalar);
  if (!d) {
    ctx.error(n.mark, field, d.error().message);
    return false;
  }
  if (*d < min) {
    ctx.error(n.mark, field, "must be at least " + std::to_string(min.count()) + "ms");
    return false;
  }
  out = *d;
  return true;
}

bool readPath(Ctx& ctx, const YamlNode& n, std::string_view field, std::string& out) {
  std::string p;
  if (!readString(ctx, n, field, p)) return false;
  if (p.empty() || p.find('\0') != std::string::npos) {
    ctx.error(n.mark, field, "expected a file path");
    return false;
  }
  out = ctx.resolve(p);
  if (ctx.path_locations != nullptr) ctx.path_locations->emplace_back(field, ctx.loc(n.mark));
  return true;
}

bool readStringList(Ctx& ctx, const YamlNode& n, std::string_view field, size_t max_count,
                    size_t max_len, std::vector<std::string>& out,
                    std::vector<std::pair<std::string, std::string>>* locs,
                    std::string_view loc_key) {
  out.clear();
  if (n.isNull()) return true;
  if (!n.isSequence()) {
    ctx.error(n.mark, field, "expected a list of strings, got " + kindName(n));
    return false;
  }
  if (n.items.size() > max_count) {
    ctx.error(n.mark, field, "more than " + std::to_string(max_count) + " entries");
    return false;
  }
  if (locs != nullptr) locs->emplace_back(std::string(loc_key), ctx.loc(n.mark));
  bool ok = true;
  for (size_t i = 0; i < n.items.size(); ++i) {
    const std::string item_field = std::string(field) + "[" + std::to_string(i) + "]";
    std::string s;
    if (!readString(ctx, n.items[i], item_field, s, max_len)) {
      ok = false;
      continue;
    }
    if (locs != nullptr) {
      locs->emplace_back(std::string(loc_key) + "[" + std::to_string(i) + "]",
                         ctx.loc(n.items[i].mark));
    }
    out.push_back(std::move(s));
  }
  return ok;
}

namespace {

bool isEnvName(std::string_view s) {
  if (s.empty() || s.size() > 256 || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

void trimTrailingSpace(std::string& s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
}

}  // namespace

SecretRead readSecret(Ctx& ctx, MapReader& m, std::string_view name, bool literal_ok,
                      std::string& out, YamlMark& where) {
  const std::string env_key = std::string(name) + "_env";
  const std::string file_key = std::string(name) + "_file";
  const YamlNode* lit = m.get(name);
  const YamlNode* env = m.get(env_key);
  const YamlNode* file = m.get(file_key);
  const int forms = (lit != nullptr) + (env != nullptr) + (file != nullptr);
  if (forms == 0) return SecretRead::Absent;
  if (forms > 1) {
    const YamlNode* second = file != nullptr ? file : env;
    ctx.error(second->mark, m.sub(name),
              "set only one of " + std::string(name) + ", " + env_key + ", " + file_key);
    return SecretRead::Failed;
  }
  if (lit != nullptr) {
    where = lit->mark;
    if (!literal_ok) {
      ctx.error(lit->mark, m.sub(name),
                "secrets never sit in the config file; use " + env_key + " or " + file_key);
      return SecretRead::Failed;
    }
    if (!lit->isScalar()) {
      ctx.error(lit->mark, m.sub(name), "expected a string, got " + kindName(*lit));
      return SecretRead::Failed;
    }
    out = lit->scalar;
  } else if (env != nullptr) {
    where = env->mark;
    std::string var;
    if (!readString(ctx, *env, m.sub(env_key), var, 256)) return SecretRead::Failed;
    if (!isEnvName(var)) {
      ctx.error(env->mark, m.sub(env_key),
                "expected an environment variable name, got " + quote(var));
      return SecretRead::Failed;
    }
    auto value = ctx.env()(var);
    if (!value) {
      ctx.error(env->mark, m.sub(env_key), "environment variable " + var + " is not set");
      return SecretRead::Failed;
    }
    out = std::move(*value);
  } else {
    where = file->mark;
    std::string path;
    if (!readPath(ctx, *file, m.sub(file_key), path)) return SecretRead::Failed;
    std::string why;
    if (!readSecretFile(path, out, why)) {
      ctx.error(file->mark, m.sub(file_key), "cannot read " + path + ": " + why);
      return SecretRead::Failed;
    }
    trimTrailingSpace(out);
  }
  if (out.empty()) {
    ctx.error(where, m.sub(name), "the secret is empty");
    return SecretRead::Failed;
  }
  return SecretRead::Found;
}

}  // namespace kw::conf
