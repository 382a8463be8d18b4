// Fuzzes SlicedReplyEncoder: for replies read from the input, every body (single, pipeline with
// inline errors, transaction, resp2) sized and built in slices of random budgets is byte-for-byte
// the one-shot body, its measured size is exact, and no slice exceeds budget + kMaxOvershoot.
// Input: 8 bytes of control (budgets, encoding, error positions), then RESP replies.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/reply_json.h"
#include "proxy/codec/resp_parser.h"
#include "proxy/codec/sliced_reply.h"
#include "tests/support/resp_stream.h"

using namespace kw::proxy::codec;  // NOLINT(google-build-using-namespace): harness only

namespace {

// Budgets from the control bytes: mostly tiny (splits everywhere), sometimes large.
struct Budgets {
  uint32_t seed;
  size_t next() {
    seed = seed * 1103515245u + 12345u;
    const uint32_t r = seed >> 8;
    return (r & 3) == 0 ? 1 + (r >> 2) % 70000 : 1 + (r >> 2) % 13;
  }
};

std::string sliced(SlicedReplyEncoder& e, Budgets& b) {
  while (!e.measure(b.next())) {
  }
  std::string out;
  for (;;) {
    const size_t budget = b.next();
    const size_t before = out.size();
    const bool done = e.next(out, budget);
    KW_FUZZ_CHECK(out.size() - before <= budget + SlicedReplyEncoder::kMaxOvershoot);
    if (done) break;
    KW_FUZZ_CHECK(out.size() - before >= budget);
  }
  KW_FUZZ_CHECK(out.size() == e.size());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint32_t seed;
  std::memcpy(&seed, data, 4);
  const ReplyEncoding enc = (data[4] & 1) != 0 ? ReplyEncoding::Base64 : ReplyEncoding::Plain;
  const uint8_t error_mask = data[5];
  RespLimits limits;
  limits.max_reply_bytes = 1 << 20;
  limits.max_values = 1 << 14;
  limits.max_depth = 16;
  RespReader reader(limits);
  reader.feed(std::string_view(reinterpret_cast<const char*>(data) + 8, size - 8));
  std::vector<RespReply> replies;
  RespReply r;
  while (replies.size() < 16 && reader.next(r) == RespReader::Status::Reply) {
    replies.push_back(std::move(r));
  }
  if (replies.empty()) return 0;
  std::vector<RespValue> values;
  std::vector<std::string_view> raws;
  for (const RespReply& rep : replies) {
    values.push_back(rep.value());
    raws.push_back(rep.raw());
  }
  Budgets b{seed};

  // Single command.
  for (const RespValue& v : values) {
    auto e = SlicedReplyEncoder::single(v, enc);
    KW_FUZZ_CHECK(sliced(*e, b) == singleReplyJson(v, enc));
  }
  // Pipeline with keyward's inline errors at the positions error_mask picks.
  const std::vector<std::string> messages = {"NOPERM \"x\"\x01\xff", "ERR b\r\n"};
  std::vector<InlineError> errors;
  std::vector<size_t> denied_at;
  std::vector<std::string> denied_messages;
  for (size_t pos = 0; pos < values.size() + errors.size() && pos < 8; ++pos) {
    if ((error_mask >> pos) & 1) {
      errors.push_back({pos, messages[pos % 2]});
      denied_at.push_back(pos);
      denied_messages.push_back(messages[pos % 2]);
    }
  }
  std::string want;
  KW_FUZZ_CHECK(appendPipelineJson(want, values, errors, enc));
  auto p = SlicedReplyEncoder::pipeline(values, errors, enc);
  KW_FUZZ_CHECK(p);
  KW_FUZZ_CHECK(sliced(**p, b) == want);
  // The replies as a transaction's (MULTI, queued..., EXEC).
  std::string want_tx;
  const int want_status = appendTransactionJson(want_tx, values, enc);
  int status = 0;
  auto t = SlicedReplyEncoder::transaction(values, enc, status);
  KW_FUZZ_CHECK(status == want_status);
  KW_FUZZ_CHECK(sliced(*t, b) == want_tx);
  // resp2 passthrough with the same errors.
  std::string want_raw;
  size_t ri = 0, di = 0;
  for (size_t pos = 0; pos < raws.size() + denied_at.size(); ++pos) {
    if (di < denied_at.size() && denied_at[di] == pos) {
      appendResp2Error(want_raw, denied_messages[di++]);
    } else {
      appendResp2Passthrough(want_raw, raws[ri++]);
    }
  }
  auto raw = SlicedReplyEncoder::resp2(raws, denied_at, denied_messages);
  KW_FUZZ_CHECK(sliced(*raw, b) == want_raw);
  return 0;
}
