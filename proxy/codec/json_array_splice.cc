// JsonArraySplicer: see the header. One pass, O(1) state besides the insert list.
#include "proxy/codec/json_array_splice.h"

namespace kw::proxy::codec {

namespace {
bool isWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
}  // namespace

JsonArraySplicer::JsonArraySplicer(size_t upstream_count, std::vector<SplicedElement> inserts,
                                   uint32_t max_depth)
    : upstream_count_(upstream_count), inserts_(std::move(inserts)), max_depth_(max_depth) {}

bool JsonArraySplicer::fail(const char* why) {
  phase_ = Phase::Failed;
  error_ = why;
  return false;
}

// Inserts due at the current slot. Before an upstream element: each is followed by ','. At the
// closing ']': each is preceded by ',' unless it is the first element.
void JsonArraySplicer::emitPending(std::string& out, bool closing) {
  while (next_insert_ < inserts_.size() && (closing || inserts_[next_insert_].at == slot_)) {
    if (closing && slot_ > 0) out += ',';
    out += inserts_[next_insert_++].json;
    if (!closing) out += ',';
    ++slot_;
  }
}

bool JsonArraySplicer::feed(std::string_view in, std::string& out) {
  if (phase_ == Phase::Failed) return false;
  size_t copy_from = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    switch (phase_) {
      case Phase::BeforeArray:
        if (isWs(c)) break;
        if (c != '[') return fail("upstream pipeline reply is not a JSON array");
        phase_ = Phase::InArray;
        expect_element_ = true;
        break;
      case Phase::AfterArray:
        if (!isWs(c)) return fail("bytes after the upstream pipeline array");
        break;
      case Phase::Failed:
        return false;
      case Phase::InArray:
        if (in_string_) {
          if (escape_) {
            escape_ = false;
          } else if (c == '\\') {
            escape_ = true;
          } else if (c == '"') {
            in_string_ = false;
          }
          break;
        }
        if (isWs(c)) break;
        if (depth_ == 0 && expect_element_) {
          if (c == ']' && upstream_ == 0) {  // "[]"
            if (upstream_count_ != 0) return fail("upstream pipeline reply is too short");
            out.append(in.substr(copy_from, i - copy_from));
            copy_from = i;
            emitPending(out, true);
            phase_ = Phase::AfterArray;
            break;
          }
          if (c == ',' || c == ']') return fail("malformed upstream pipeline array");
          // An upstream element starts here: inserts due before it go first.
          out.append(in.substr(copy_from, i - copy_from));
          copy_from = i;
          emitPending(out, false);
          if (++upstream_ > upstream_count_) return fail("upstream pipeline reply is too long");
          ++slot_;
          expect_element_ = false;
        }
        if (c == '"') {
          in_string_ = true;
        } else if (c == '[' || c == '{') {
          if (++depth_ > max_depth_) return fail("upstream pipeline reply nests too deep");
        } else if (c == ']' || c == '}') {
          if (depth_ == 0) {
            if (c != ']') return fail("malformed upstream pipeline array");
            // Short: fails before the closing bracket goes out, so what the client got so far
            // never reads as a whole array.
            if (upstream_ != upstream_count_) return fail("upstream pipeline reply is too short");
            out.append(in.substr(copy_from, i - copy_from));
            copy_from = i;
            emitPending(out, true);
            phase_ = Phase::AfterArray;
          } else {
            --depth_;
          }
        } else if (c == ',' && depth_ == 0) {
          expect_element_ = true;
        }
        break;
    }
  }
  out.append(in.substr(copy_from));
  return true;
}

bool JsonArraySplicer::finish() {
  if (phase_ == Phase::Failed) return false;
  if (phase_ != Phase::AfterArray) return fail("upstream pipeline reply ended early");
  if (upstream_ != upstream_count_) return fail("upstream pipeline reply has the wrong length");
  return true;
}

}  // namespace kw::proxy::codec
