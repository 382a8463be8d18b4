// `keyward audit verify`'s core: follows the audit log's hash chain (codec/audit_chain.h) line
// by line across files and names the first record that does not follow. No I/O.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kw::proxy {

class AuditChainVerifier {
 public:
  // Files in order: beginFile, then every line (without its newline), then the next file.
  void beginFile(std::string name);
  // False once the verdict is known (later lines change nothing).
  bool line(std::string_view text);
  // The file ended inside a line (no final newline): an interrupted write or a cut file.
  void unterminatedLine();
  // A line past the reader's bound (64 MiB): not a record keyward wrote.
  void lineTooLong();

  struct Verdict {
    bool ok = false;
    uint64_t records = 0;  // lines that followed the chain
    std::string problem;   // when !ok: "FILE:LINE: what"
    std::string notes;     // when ok: where the chain starts, if not at the genesis
  };
  Verdict finish();

 private:
  struct Seen {
    std::string digest;
    std::string where;  // "FILE:LINE"
  };
  void broken(std::string problem);
  void endWith(const std::string& problem);  // after the pending diagnosis, if any
  void diagnose(const Seen& current, std::string_view prev);
  std::string where() const { return file_ + ":" + std::to_string(line_no_); }

  std::string file_;
  uint64_t line_no_ = 0;
  uint64_t records_ = 0;
  bool first_record_ = true;
  std::deque<Seen> recent_;  // the last records that followed, newest last (a bounded window)
  std::optional<std::string> problem_;
  std::string notes_;
  // After a break: its record's prev, looked for among the next lines (a reordering).
  std::optional<std::pair<std::string, Seen>> looking_;  // (prev, the record that broke)
  std::string looking_default_;                          // the verdict if it is not found
  int lookahead_left_ = 0;
  // Lines that are not records, accepted only when the next record is the audit_torn record
  // keyward writes naming them all at its next start (crashes cut those writes short).
  struct Torn {
    std::string digest;
    uint64_t bytes = 0;
    std::string where;
    std::string problem;  // the verdict if it is not marked
  };
  static constexpr size_t kMaxTorn = 16;
  std::vector<Torn> torn_;
};

}  // namespace kw::proxy
