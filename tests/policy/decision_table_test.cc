// Runs the decision tables in tests/policy/testdata/*.txt: one test per row, so a regression is
// one line of data. Format (see testdata/README.md):
//   policy NAME                 starts a policy; field lines follow until the first row
//   commands: +@read +set       one line per ClientSpec field, values are tokens
//   sub alice | sub -           identity for the rows below (- = no sub)
//   == B3 SCAN ...              section title; the bypass class is the leading B<n>
//   allow | ARGV...             expected Allow (optionally `=> ARGV...` = expected rewrite)
//   deny REASON ARG | ARGV...   expected Deny with reasonName() and Decision::arg_index
// Tokens are whitespace-separated; "..." quotes with \\ \" \n \r \t \0 \xHH escapes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "policy/client_policy.h"
#include "policy/command_table.h"

namespace kw::policy {
namespace {

struct Row {
  std::string file;
  int line = 0;
  std::string section;
  std::string error;  // a parse or compile error: the row fails with it
  std::shared_ptr<const ClientPolicy> policy;
  std::string policy_name;
  bool has_sub = false;
  std::string sub;
  std::vector<std::string> argv;
  bool expect_allow = false;
  std::string reason = "ok";
  int arg = -1;
  bool expect_rewrite = false;
  std::vector<std::string> rewrite;
};

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits a line into tokens; returns false with `err` on a bad escape or open quote.
bool tokenize(const std::string& s, std::vector<std::string>& out, std::string& err) {
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ' || s[i] == '\t') {
      ++i;
      continue;
    }
    std::string tok;
    if (s[i] != '"') {
      while (i < s.size() && s[i] != ' ' && s[i] != '\t') tok.push_back(s[i++]);
      out.push_back(tok);
      continue;
    }
    ++i;
    bool closed = false;
    while (i < s.size()) {
      char c = s[i++];
      if (c == '"') {
        closed = true;
        break;
      }
      if (c != '\\') {
        tok.push_back(c);
        continue;
      }
      if (i >= s.size()) break;
      c = s[i++];
      switch (c) {
        case 'n':
          tok.push_back('\n');
          break;
        case 'r':
          tok.push_back('\r');
          break;
        case 't':
          tok.push_back('\t');
          break;
        case '0':
          tok.push_back('\0');
          break;
        case 'x': {
          const int hi = i < s.size() ? hexValue(s[i]) : -1;
          const int lo = i + 1 < s.size() ? hexValue(s[i + 1]) : -1;
          if (hi < 0 || lo < 0) {
            err = "bad \\x escape";
            return false;
          }
          tok.push_back(static_cast<char>(hi * 16 + lo));
          i += 2;
          break;
        }
        default:
          tok.push_back(c);
      }
    }
    if (!closed) {
      err = "unterminated quote";
      return false;
    }
    out.push_back(tok);
  }
  return true;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// Splits "left | right" at the first '|' outside quotes.
bool splitBar(const std::string& s, std::string& left, std::string& right) {
  bool quoted = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && quoted) {
      ++i;
    } else if (s[i] == '"') {
      quoted = !quoted;
    } else if (s[i] == '|' && !quoted) {
      left = s.substr(0, i);
      right = s.substr(i + 1);
      return true;
    }
  }
  return false;
}

void parseFile(const std::filesystem::path& path, std::vector<Row>& rows) {
  std::ifstream in(path);
  const std::string file = path.filename().string();
  ClientSpec spec;
  std::shared_ptr<const ClientPolicy> policy;
  std::string policy_error = "row before any 'policy' line";
  std::string policy_name;
  bool collecting = false;
  std::string section;
  bool has_sub = false;
  std::string sub;
  std::string line;
  int lineno = 0;
  auto finishPolicy = [&]() {
    if (!collecting) return;
    collecting = false;
    auto r = ClientPolicy::compile(spec);
    if (r) {
      policy = *r;
      policy_error.clear();
    } else {
      policy = nullptr;
      policy_error = "policy " + policy_name + ": " + r.error().message;
    }
  };
  while (std::getline(in, line)) {
    ++lineno;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    Row row;
    row.file = file;
    row.line = lineno;
    auto fail = [&](const std::string& msg) {
      row.error = msg;
      rows.push_back(row);
    };
    if (t.rfind("policy ", 0) == 0) {
      finishPolicy();
      spec = ClientSpec{};
      policy_name = trim(t.substr(7));
      spec.name = policy_name;
      collecting = true;
      has_sub = false;
      sub.clear();
      continue;
    }
    if (t.rfind("== ", 0) == 0) {
      section = trim(t.substr(3));
      continue;
    }
    if (t.rfind("sub ", 0) == 0) {
      std::vector<std::string> toks;
      std::string err;
      if (!tokenize(t.substr(4), toks, err) || toks.size() != 1) {
        fail("bad sub line: " + err);
        continue;
      }
      has_sub = toks[0] != "-";
      sub = has_sub ? toks[0] : "";
      continue;
    }
    const size_t colon = t.find(':');
    const std::string field = colon == std::string::npos ? "" : t.substr(0, colon);
    const bool is_field = field.find_first_of(" \t|\"") == std::string::npos && !field.empty() &&
                          field != "allow" && field.rfind("deny", 0) != 0;
    if (collecting && is_field) {
      std::vector<std::string> vals;
      std::string err;
      if (!tokenize(t.substr(colon + 1), vals, err)) {
        fail(err);
        continue;
      }
      std::map<std::string, std::vector<std::string>*> fields = {
          {"commands", &spec.commands},
          {"keys", &spec.keys},
          {"read_keys", &spec.read_keys},
          {"write_keys", &spec.write_keys},
          {"channels", &spec.channels},
          {"consumer_groups", &spec.consumer_groups},
          {"scripts", &spec.scripts},
          {"functions", &spec.functions},
          {"encrypted_keys", &spec.encrypted_keys}};
      auto it = fields.find(field);
      if (it == fields.end()) {
        fail("unknown policy field '" + field + "'");
        continue;
      }
      it->second->insert(it->second->end(), vals.begin(), vals.end());
      continue;
    }
    finishPolicy();
    row.section = section;
    row.policy = policy;
    row.policy_name = policy_name;
    row.has_sub = has_sub;
    row.sub = sub;
    if (!policy_error.empty()) {
      fail(policy_error);
      continue;
    }
    std::string left, right;
    if (!splitBar(t, left, right)) {
      fail("row without '|'");
      continue;
    }
    std::vector<std::string> head;
    std::string err;
    if (!tokenize(left, head, err) || head.empty()) {
      fail("bad row head " + err);
      continue;
    }
    std::vector<std::string> args;
    if (!tokenize(right, args, err)) {
      fail(err);
      continue;
    }
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "=>") {
        row.expect_rewrite = true;
        row.rewrite.assign(args.begin() + static_cast<long>(i) + 1, args.end());
        args.resize(i);
        break;
      }
    }
    row.argv = args;
    if (head[0] == "allow" && head.size() == 1) {
      row.expect_allow = true;
    } else if (head[0] == "deny" && head.size() == 3) {
      row.reason = head[1];
      row.arg = std::stoi(head[2]);
    } else {
      fail("row head must be 'allow' or 'deny REASON ARG'");
      continue;
    }
    rows.push_back(row);
  }
}

std::vector<Row> loadRows() {
  std::vector<Row> rows;
  const std::filesystem::path dir = std::filesystem::path(KW_SOURCE_DIR) / "tests/policy/testdata";
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".txt") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) parseFile(f, rows);
  return rows;
}

const std::vector<Row>& allRows() {
  static const std::vector<Row> rows = loadRows();
  return rows;
}

std::string show(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) {
    if (!out.empty()) out += ' ';
    out += s.size() > 60 ? s.substr(0, 60) + "...(" + std::to_string(s.size()) + ")" : s;
  }
  return out;
}

class DecisionTableTest : public ::testing::TestWithParam<Row> {};

TEST_P(DecisionTableTest, Row) {
  const Row& row = GetParam();
  ASSERT_TRUE(row.error.empty()) << row.file << ":" << row.line << ": " << row.error;
  std::vector<std::string_view> argv(row.argv.begin(), row.argv.end());
  EvalScratch scratch;
  const Identity id{row.has_sub ? std::string_view(row.sub) : std::string_view()};
  const Evaluation ev = row.policy->evaluate(argv, id, scratch);
  const std::string where = row.file + ":" + std::to_string(row.line) + " [" + row.section +
                            "] policy " + row.policy_name + ": " + show(row.argv);
  EXPECT_EQ(ev.decision.allowed(), row.expect_allow) << where;
  EXPECT_EQ(std::string(reasonName(ev.decision.reason)), row.reason) << where;
  EXPECT_EQ(ev.decision.arg_index, row.arg) << where;
  if (ev.decision.reason != Reason::EmptyCommand && ev.decision.reason != Reason::UnknownCommand &&
      ev.decision.reason != Reason::TooLarge) {
    EXPECT_NE(ev.decision.command, nullptr) << where << ": Decision::command not set";
  }
  std::vector<std::string> got(ev.rewritten.begin(), ev.rewritten.end());
  if (row.expect_rewrite) {
    EXPECT_EQ(show(got), show(row.rewrite)) << where;
  } else {
    EXPECT_TRUE(got.empty()) << where << ": unexpected rewrite " << show(got);
  }
  // keyward explain's evaluation (with evidence) agrees with enforcement on every row, and its
  // evidence names the subject a key or channel denial points at.
  Evidence evidence;
  const Evaluation explained = row.policy->evaluate(argv, id, scratch, &evidence);
  EXPECT_EQ(explained.decision.allowed(), row.expect_allow) << where << " (explained)";
  EXPECT_EQ(std::string(reasonName(explained.decision.reason)), row.reason) << where;
  EXPECT_EQ(explained.decision.arg_index, row.arg) << where << " (explained)";
  EXPECT_EQ(explained.decision.command, ev.decision.command) << where;
  EXPECT_EQ(show(std::vector<std::string>(explained.rewritten.begin(), explained.rewritten.end())),
            show(got))
      << where;
  if (explained.decision.allowed()) {
    for (const SubjectEvidence& s : evidence.subjects) EXPECT_TRUE(s.granted) << where;
  }
  if (explained.decision.reason == Reason::KeyDenied ||
      explained.decision.reason == Reason::ChannelDenied) {
    bool named = false;
    for (const SubjectEvidence& s : evidence.subjects) {
      named = named || (static_cast<int32_t>(s.arg) == row.arg && !s.granted);
    }
    EXPECT_TRUE(named || row.arg < 0) << where << ": no denied subject at arg " << row.arg;
  }
}

std::string rowName(const ::testing::TestParamInfo<Row>& info) {
  std::string n =
      info.param.file.substr(0, info.param.file.find('.')) + "_L" + std::to_string(info.param.line);
  for (char& c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return n;
}

INSTANTIATE_TEST_SUITE_P(Tables, DecisionTableTest, ::testing::ValuesIn(allRows()), rowName);

// Every bypass class of docs/redis-acl-notes.md 3.1 has both allowed and denied rows, and the
// tables are big enough to mean something.
TEST(DecisionTables, CoverEveryBypassClassBothWays) {
  const auto& rows = allRows();
  EXPECT_GE(rows.size(), 300u);
  std::map<int, std::pair<int, int>> seen;  // class -> (allow, deny)
  for (const Row& r : rows) {
    if (r.section.size() < 2 || r.section[0] != 'B') continue;
    const int cls = std::atoi(r.section.c_str() + 1);
    (r.expect_allow ? seen[cls].first : seen[cls].second)++;
  }
  for (int b = 1; b <= 14; ++b) {
    EXPECT_GT(seen[b].first, 0) << "no allowed row for B" << b;
    EXPECT_GT(seen[b].second, 0) << "no denied row for B" << b;
  }
}

}  // namespace
}  // namespace kw::policy
