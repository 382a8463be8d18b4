// A plain YAML document tree with 1-based marks, built by conf/loader.cc (the yaml-cpp boundary).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kw::conf {

struct YamlMark {
  uint32_t line = 1;  // 1-based
  uint32_t col = 1;   // 1-based
};

struct YamlEntry;

struct YamlNode {
  enum class Kind : uint8_t { Null, Scalar, Sequence, Map };
  Kind kind = Kind::Null;
  YamlMark mark;
  bool plain = true;               // a plain (unquoted, untagged) scalar
  std::string scalar;              // Scalar only
  std::vector<YamlNode> items;     // Sequence
  std::vector<YamlEntry> entries;  // Map, in file order

  bool isScalar() const { return kind == Kind::Scalar; }
  bool isMap() const { return kind == Kind::Map; }
  bool isSequence() const { return kind == Kind::Sequence; }
  bool isNull() const { return kind == Kind::Null; }
};

// One map entry (named like std::pair, which cannot hold an incomplete type).
struct YamlEntry {
  YamlNode first;   // the key (a scalar)
  YamlNode second;  // the value
};

// Parsing outcome: a tree, or an error at a mark.
struct YamlParse {
  bool ok = false;
  YamlNode root;  // Null when the document is empty
  YamlMark error_mark;
  std::string error;
};

// Parses one YAML document (a second document is an error). Bounds: nesting depth, node count
// (aliases are expanded into copies and counted), duplicate map keys are errors.
YamlParse parseYaml(const std::string& text);

}  // namespace kw::conf
