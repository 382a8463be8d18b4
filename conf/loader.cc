// The yaml-cpp boundary: YAML text -> YamlNode tree (exceptions caught here), and the loaders.
#include "conf/loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "conf/schema.h"
#include "conf/schema_util.h"
#include "conf/yaml_tree.h"

namespace kw::conf {
namespace {

constexpr size_t kMaxYamlNodes = 1000000;
constexpr size_t kMaxAliasNodes = 100000;  // nodes added by expanding aliases (billion laughs)

// Thrown by the event handler to stop yaml-cpp; caught in parseYaml.
struct TreeLimit {
  YamlMark mark;
  std::string message;
};

YamlMark toMark(const YAML::Mark& m) {
  YamlMark out;
  if (m.line >= 0) out.line = static_cast<uint32_t>(m.line) + 1;
  if (m.column >= 0) out.col = static_cast<uint32_t>(m.column) + 1;
  return out;
}

size_t subtreeSize(const YamlNode& n) {
  size_t total = 1;
  for (const YamlNode& item : n.items) total += subtreeSize(item);
  for (const auto& [k, v] : n.entries) total += subtreeSize(k) + subtreeSize(v);
  return total;
}

class TreeBuilder : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { doc_mark_ = toMark(mark); }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    YamlNode n;
    n.kind = YamlNode::Kind::Null;
    n.mark = toMark(mark);
    complete(std::move(n), anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) throw TreeLimit{toMark(mark), "unknown alias"};
    alias_nodes_ += it->second.second;
    if (alias_nodes_ > kMaxAliasNodes) {
      throw TreeLimit{toMark(mark), "document too large (aliases expand to more than " +
                                        std::to_string(kMaxAliasNodes) + " nodes)"};
    }
    count(toMark(mark), it->second.second);
    YamlNode copy = it->second.first;
    copy.mark = toMark(mark);
    complete(std::move(copy), 0);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    YamlNode n;
    n.kind = YamlNode::Kind::Scalar;
    n.mark = toMark(mark);
    n.plain = tag == "?";
    n.scalar = value;
    complete(std::move(n), anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    open(YamlNode::Kind::Sequence, mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    open(YamlNode::Kind::Map, mark, anchor);
  }
  void OnMapEnd() override { close(); }

  YamlNode takeRoot() { return std::move(root_); }
  YamlMark docMark() const { return doc_mark_; }

 private:
  struct Frame {
    YamlNode node;
    YAML::anchor_t anchor = 0;
    bool has_key = false;
    YamlNode key;
    std::unordered_set<std::string> seen_keys;
  };

  void count(const YamlMark& mark, size_t n) {
    nodes_ += n;
    if (nodes_ > kMaxYamlNodes) {
      throw TreeLimit{mark, "document too large (more than " + std::to_string(kMaxYamlNodes) +
                                " nodes, counting alias expansions)"};
    }
  }

  void open(YamlNode::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (stack_.size() >= kMaxConfigDepth) {
      throw TreeLimit{toMark(mark), "nesting deeper than " + std::to_string(kMaxConfigDepth)};
    }
    Frame f;
    f.node.kind = kind;
    f.node.mark = toMark(mark);
    f.anchor = anchor;
    stack_.push_back(std::move(f));
  }

  void close() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    if (f.has_key) throw TreeLimit{f.key.mark, "map key without a value"};
    complete(std::move(f.node), f.anchor, /*counted=*/false);
  }

  void complete(YamlNode n, YAML::anchor_t anchor, bool counted = false) {
    if (!counted) count(n.mark, 1);
    if (anchor != 0) {
      const size_t size = subtreeSize(n);
      count(n.mark, size);  // the stored copy counts too (nested anchors would multiply memory)
      anchors_[anchor] = {n, size};
    }
    if (stack_.empty()) {
      root_ = std::move(n);
      return;
    }
    Frame& top = stack_.back();
    if (top.node.kind == YamlNode::Kind::Sequence) {
      top.node.items.push_back(std::move(n));
    } else if (!top.has_key) {
      if (!n.isScalar()) throw TreeLimit{n.mark, "map keys must be plain strings"};
      if (!top.seen_keys.insert(n.scalar).second) {
        throw TreeLimit{n.mark, "duplicate key " + quote(n.scalar)};
      }
      top.key = std::move(n);
      top.has_key = true;
    } else {
      top.node.entries.push_back(YamlEntry{std::move(top.key), std::move(n)});
      top.has_key = false;
    }
  }

  std::vector<Frame> stack_;
  YamlNode root_;
  YamlMark doc_mark_;
  size_t nodes_ = 0;
  size_t alias_nodes_ = 0;
  std::unordered_map<YAML::anchor_t, std::pair<YamlNode, size_t>> anchors_;
};

std::string locate(const std::string& source, const YamlMark& m) {
  return source + ":" + std::to_string(m.line) + ":" + std::to_string(m.col);
}

std::string joinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) {
    if (!out.empty()) out += '\n';
    out += l;
  }
  return out;
}

std::string absoluteDir(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(path, ec);
  if (ec) p = path;
  return p.parent_path().lexically_normal().string();
}

}  // namespace

YamlParse parseYaml(const std::string& text) {
  YamlParse out;
  TreeBuilder builder;
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    if (!parser.HandleNextDocument(builder)) {
      out.ok = true;  // empty stream: Null root
      return out;
    }
    out.root = builder.takeRoot();
    TreeBuilder second;
    if (parser.HandleNextDocument(second)) {
      out.error_mark = second.docMark();
      out.error = "only one YAML document is allowed";
      return out;
    }
    out.ok = true;
  } catch (const TreeLimit& e) {
    out.error_mark = e.mark;
    out.error = e.message;
  } catch (const YAML::Exception& e) {
    out.error_mark = toMark(e.mark);
    out.error = "YAML syntax: " + oneLine(e.msg);
  } catch (const std::exception& e) {
    out.error = "YAML syntax: " + oneLine(e.what());
  }
  return out;
}

EnvLookup processEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const std::string n(name);
    const char* v = std::getenv(n.c_str());  // NOLINT(concurrency-mt-unsafe): startup/reload only
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::vector<std::string> collectConfigErrors(std::string_view text, const std::string& source_name,
                                             const std::string& base_dir, const EnvLookup& env) {
  Config cfg;
  return loadInto(text, source_name, base_dir, env, cfg);
}

std::vector<std::string> loadInto(std::string_view text, const std::string& source_name,
                                  const std::string& base_dir, const EnvLookup& env, Config& cfg) {
  std::vector<std::string> errors;
  if (text.size() > kMaxConfigBytes) {
    errors.push_back(locate(source_name, {}) + ": config file larger than " +
                     std::to_string(kMaxConfigBytes) + " bytes");
    return errors;
  }
  YamlParse parsed = parseYaml(std::string(text));
  if (!parsed.ok) {
    errors.push_back(locate(source_name, parsed.error_mark) + ": " + parsed.error);
    return errors;
  }
  std::error_code ec;
  std::string dir =
      std::filesystem::absolute(base_dir.empty() ? "." : base_dir, ec).lexically_normal().string();
  if (ec) dir = base_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  readConfig(parsed.root, source_name, dir, env, cfg, errors);
  sortByLocation(errors, source_name);
  return errors;
}

Result<Config> loadConfigText(std::string_view text, const std::string& source_name,
                              const std::string& base_dir, const EnvLookup& env) {
  Config cfg;
  std::vector<std::string> errors = loadInto(text, source_name, base_dir, env, cfg);
  if (!errors.empty()) return makeError(ErrorCode::Config, joinLines(errors));
  return cfg;
}

std::vector<std::string> loadFileInto(const std::string& path, const EnvLookup& env, Config& cfg) {
  std::string text;
  std::string why;
  if (!readRegularFile(path, kMaxConfigBytes, text, why)) {  // never a FIFO: it would hang
    return {path + ":1:1: cannot read the config file: " + why};
  }
  return loadInto(text, path, absoluteDir(path), env, cfg);
}

Result<Config> loadConfigFile(const std::string& path, const EnvLookup& env) {
  Config cfg;
  std::vector<std::string> errors = loadFileInto(path, env, cfg);
  if (!errors.empty()) return makeError(ErrorCode::Config, joinLines(errors));
  return cfg;
}

Result<Config> loadConfigFile(const std::string& path) {
  return loadConfigFile(path, processEnv());
}

bool readSecretFile(const std::string& path, std::string& out, std::string& why) {
  return readRegularFile(path, kMaxSecretFileBytes, out, why);
}

int openRegularFile(const std::string& path, std::string& why) {
  // Opened non-blocking: a FIFO or a device must not hang a (re)load.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    why = std::strerror(errno);
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    why = "not a regular file";
    return -1;
  }
  return fd;
}

bool readRegularFile(const std::string& path, size_t limit, std::string& out, std::string& why) {
  const int fd = openRegularFile(path, why);
  if (fd < 0) return false;
  // Sized by what the file holds now (a 64 MiB bound is not 64 MiB per read), grown while it
  // grows, one byte past `limit` at most so that an oversized file is told apart.
  struct stat st {};
  const size_t now = ::fstat(fd, &st) == 0 && st.st_size > 0 ? static_cast<size_t>(st.st_size) : 0;
  out.assign(std::min(now, limit) + 1, '\0');
  size_t got = 0;
  for (;;) {
    if (got == out.size()) {
      if (out.size() > limit) break;
      out.resize(std::min(out.size() * 2, limit + 1));
    }
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      why = std::strerror(errno);
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  if (out.size() > limit) {
    why = "file larger than " + std::to_string(limit) + " bytes";
    return false;
  }
  return true;
}

}  // namespace kw::conf
