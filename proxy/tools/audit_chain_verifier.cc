// Follows the audit chain; on a break, tells an insertion, a reordering and a change or removal
// apart from the records around it.
#include "proxy/tools/audit_chain_verifier.h"

#include <simdjson.h>

#include "proxy/codec/audit_chain.h"

namespace kw::proxy {

namespace {

constexpr size_t kWindow = 64;  // records remembered behind, and lines read ahead, on a break

// The fragments an audit_torn record names: (bytes, sha256) per line.
using TornMark = std::vector<std::pair<uint64_t, std::string>>;

// Whether `text` is a JSON object; `mark` is set when it is keyward's audit_torn record.
bool parseRecord(std::string_view text, std::optional<TornMark>& mark) {
  thread_local simdjson::dom::parser parser;  // its buffers reused from line to line
  simdjson::dom::element root;
  if (parser.parse(simdjson::padded_string(text)).get(root) != simdjson::SUCCESS) return false;
  if (root.type() != simdjson::dom::element_type::OBJECT) return false;
  std::string_view event;
  simdjson::dom::array lines;
  if (root["event"].get(event) != simdjson::SUCCESS || event != "audit_torn" ||
      root["lines"].get(lines) != simdjson::SUCCESS) {
    return true;
  }
  TornMark out;
  for (simdjson::dom::element l : lines) {
    std::string_view sha;
    uint64_t bytes = 0;
    if (l["sha256"].get(sha) != simdjson::SUCCESS || l["bytes"].get(bytes) != simdjson::SUCCESS) {
      return true;  // not a mark keyward writes
    }
    out.emplace_back(bytes, std::string(sha));
  }
  mark = std::move(out);
  return true;
}

}  // namespace

void AuditChainVerifier::beginFile(std::string name) {
  file_ = std::move(name);
  line_no_ = 0;
}

void AuditChainVerifier::broken(std::string problem) {
  if (!problem_) problem_ = std::move(problem);
}

bool AuditChainVerifier::line(std::string_view text) {
  ++line_no_;
  if (problem_) return false;
  if (looking_) {
    const auto& [prev, breaker] = *looking_;
    if (codec::auditDigestHex(text) == prev) {
      broken(breaker.where + ": out of order: it belongs after " + where());
    } else if (lookahead_left_ == kWindow && codec::auditPrevOf(text) == recent_.back().digest) {
      broken(breaker.where + ": inserted (" + where() + " follows " + recent_.back().where + ")");
    } else if (--lookahead_left_ == 0) {
      broken(looking_default_);
    }
    if (problem_) looking_.reset();
    return !problem_;
  }
  const std::optional<std::string_view> prev = codec::auditPrevOf(text);
  std::optional<TornMark> mark;
  std::string not_record;
  if (text.empty()) {
    not_record = where() + ": an empty line, not an audit record";
  } else if (!prev) {
    not_record = where() + ": not an audit record (it does not end with a \"prev\" digest)";
  } else if (!parseRecord(text, mark)) {
    not_record = where() + ": not a JSON object";
  }
  if (!not_record.empty()) {
    // Maybe a write cut short by a crash: keyward's next start names it in an audit_torn
    // record (several, when crashes came one after another).
    if (torn_.size() == kMaxTorn) {
      broken(torn_.front().problem);
      return false;
    }
    torn_.push_back(Torn{codec::auditDigestHex(text), text.size(), where(), std::move(not_record)});
    return true;
  }
  if (!torn_.empty()) {
    bool named = mark && mark->size() == torn_.size();
    for (size_t i = 0; named && i < torn_.size(); ++i) {
      named = (*mark)[i].first == torn_[i].bytes && (*mark)[i].second == torn_[i].digest;
    }
    if (!named) {
      broken(torn_.front().problem);
      return false;
    }
    for (const Torn& t : torn_) {
      notes_ += t.where + ": a record cut short by a crash (" + std::to_string(t.bytes) +
                " bytes), marked by " + where() + "\n";
    }
    torn_.clear();
  }
  Seen current{codec::auditDigestHex(text), where()};
  if (first_record_) {
    if (*prev != codec::auditGenesisHex()) {
      notes_ += where() + ": the chain starts here, continuing a file not given (prev " +
                std::string(prev->substr(0, 12)) + "...)\n";
    }
  } else if (*prev != recent_.back().digest) {
    if (*prev == codec::auditGenesisHex()) {
      // keyward started without the file before it (rotated away while it was stopped), or the
      // files are out of order: either way not one chain.
      broken(where() + ": a new chain starts here (its prev is the genesis), not the one of " +
             recent_.back().where + "; verify the files before it separately");
      return false;
    }
    diagnose(current, *prev);
    return !problem_;
  }
  first_record_ = false;
  recent_.push_back(std::move(current));
  if (recent_.size() > kWindow) recent_.pop_front();
  ++records_;
  return true;
}

void AuditChainVerifier::diagnose(const Seen& current, std::string_view prev) {
  // A record seen before, put back again.
  for (const Seen& r : recent_) {
    if (r.digest == current.digest) {
      broken(current.where + ": inserted (a copy of " + r.where + ")");
      return;
    }
  }
  // Its prev names an earlier record: the records after that one were inserted.
  for (size_t i = recent_.size() - 1; i-- > 0;) {
    if (recent_[i].digest == prev) {
      broken(recent_[i + 1].where + ": inserted (" + current.where + " follows " +
             recent_[i].where + ")");
      return;
    }
  }
  const Seen& before = recent_.back();
  looking_default_ = current.where + ": its prev does not match " + before.where + " (" +
                     before.where +
                     " was changed, or records between them were removed, or this record's prev "
                     "was edited)";
  looking_.emplace(std::string(prev), current);
  lookahead_left_ = kWindow;
}

void AuditChainVerifier::endWith(const std::string& problem) {
  if (looking_) {
    broken(looking_default_);
    looking_.reset();
  }
  if (!torn_.empty()) broken(torn_.front().problem);
  broken(problem);
}

void AuditChainVerifier::unterminatedLine() {
  ++line_no_;
  endWith(where() + ": the file ends inside a record (an interrupted write, or a cut file)");
}

void AuditChainVerifier::lineTooLong() {
  ++line_no_;
  endWith(where() + ": a line longer than 64 MiB, not an audit record");
}

AuditChainVerifier::Verdict AuditChainVerifier::finish() {
  if (looking_) {
    broken(looking_default_);
    looking_.reset();
  }
  if (!torn_.empty()) broken(torn_.front().problem);
  Verdict v;
  v.records = records_;
  if (problem_) {
    v.problem = *problem_;
    return v;
  }
  v.ok = true;
  v.notes = notes_;
  return v;
}

}  // namespace kw::proxy
