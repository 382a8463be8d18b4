// Fuzzes RespParser's framing as RedisConnection drives it: chunking-independent (where each
// reply ends, the values it declares and the nodes it records), bounded, and the trees built
// from the nodes agree with parsing the reply whole. The bytes are held as RedisConnection
// holds them, in a ReplyBuffer (mapped from one page here, so mremap growth and the hand-over
// of a large reply run on small inputs), checked against the input at every step.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/resp_parser.h"
#include "proxy/io/reply_buffer.h"

namespace {

struct Framed {
  std::vector<size_t> lengths;  // whole reply sizes (dropped bytes included)
  std::vector<uint64_t> values;
  std::vector<kw::proxy::codec::ReplyNodes> nodes;  // empty for a reply framed with discards
  bool invalid = false;
};

// Frames `in` as if it arrived in `step`-byte reads (step 0 = all at once). With `discard`,
// the accepted bytes of every reply are dropped at each NeedMore, as RedisConnection does for
// a reply it skips: framing must come out the same while at most one read plus one line is
// buffered.
Framed frame(std::string_view in, size_t step, const kw::proxy::codec::RespLimits& limits,
             bool discard = false) {
  kw::proxy::codec::RespParser framer(&limits);
  Framed out;
  size_t pos = 0;
  size_t avail = 0;
  kw::proxy::ReplyBuffer held(4096);  // in.substr(pos, avail - pos), as RedisConnection::in_
  while (avail < in.size() && !out.invalid) {
    const size_t before = avail;
    avail = step == 0 ? in.size() : std::min(in.size(), avail + step);
    KW_FUZZ_CHECK(held.append(in.substr(before, avail - before)));
    for (;;) {
      KW_FUZZ_CHECK(held.view() == in.substr(pos, avail - pos));
      size_t len = 0;
      const auto st = framer.scan(held.view(), len);
      if (st == kw::proxy::codec::RespParser::Status::NeedMore) {
        if (discard) {
          const size_t a = framer.accepted();
          KW_FUZZ_CHECK(pos + a <= avail);
          framer.discard(a);
          held.eraseFront(a);
          pos += a;
          KW_FUZZ_CHECK(avail - pos <= step + limits.max_line_bytes + 3);
        }
        break;
      }
      if (st == kw::proxy::codec::RespParser::Status::Invalid) {
        KW_FUZZ_CHECK(!framer.error().empty());
        out.invalid = true;
        break;
      }
      KW_FUZZ_CHECK(pos + len <= avail);
      const uint64_t whole = framer.dropped() + len;
      KW_FUZZ_CHECK(whole > 0 && whole <= limits.max_reply_bytes);
      out.lengths.push_back(whole);
      out.values.push_back(framer.values());
      out.nodes.emplace_back(framer.nodes().begin(), framer.nodes().end());
      KW_FUZZ_CHECK(discard || !out.nodes.back().empty());
      if (len >= 4096) {  // a large reply leaves as its buffer; what follows stays
        kw::proxy::ReplyBuffer taken = std::move(held);
        held = kw::proxy::ReplyBuffer(4096);
        KW_FUZZ_CHECK(held.append(taken.view().substr(len)));
        taken.truncate(len);
        KW_FUZZ_CHECK(taken.view() == in.substr(pos, len));
      } else {
        held.eraseFront(len);
      }
      pos += len;
      framer.reset();
    }
  }
  return out;
}

uint64_t countValues(const kw::proxy::codec::RespValue& v) {
  uint64_t n = 1;
  for (const auto& e : v.elements) n += countValues(e);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 8192) {
    return 0;
  }
  const size_t step = 1 + data[0] % 17;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  kw::proxy::codec::RespLimits limits;
  limits.max_line_bytes = 64;
  limits.max_depth = 8;
  limits.max_reply_bytes = 4096;

  const Framed whole = frame(in, 0, limits);
  const Framed split = frame(in, step, limits);
  // Chunking never changes the outcome.
  KW_FUZZ_CHECK(whole.lengths == split.lengths);
  KW_FUZZ_CHECK(whole.invalid == split.invalid);
  KW_FUZZ_CHECK(whole.values == split.values);
  const Framed dropped = frame(in, step, limits, true);
  KW_FUZZ_CHECK(whole.lengths == dropped.lengths);
  KW_FUZZ_CHECK(whole.values == dropped.values);
  KW_FUZZ_CHECK(whole.invalid == dropped.invalid);

  // Recording does not depend on how the bytes arrived; a discarded reply records nothing.
  for (size_t i = 0; i < whole.nodes.size() && i < split.nodes.size(); ++i) {
    const auto& a = whole.nodes[i];
    const auto& b = split.nodes[i];
    KW_FUZZ_CHECK(a.size() == b.size());
    for (size_t k = 0; k < a.size() && k < b.size(); ++k) {
      KW_FUZZ_CHECK(a[k].offset == b[k].offset && a[k].kind == b[k].kind && a[k].n == b[k].n);
    }
  }

  // Each framed reply's tree, built from its nodes over a copy of its bytes, is what parsing it
  // whole gives, with as many values as the framer declared; no shorter prefix parses.
  size_t at = 0;
  for (size_t i = 0; i < whole.lengths.size(); ++i) {
    const std::string_view reply = in.substr(at, whole.lengths[i]);
    at += whole.lengths[i];
    const std::string copy(reply);
    auto built = kw::proxy::codec::buildReply(copy, whole.nodes[i], limits.max_depth);
    KW_FUZZ_CHECK(built.has_value());  // the framer already held the reply to max_depth
    auto parsed = kw::proxy::codec::parseReply(reply, limits);
    KW_FUZZ_CHECK(parsed.has_value());
    KW_FUZZ_CHECK(countValues(*built) == whole.values[i]);
    KW_FUZZ_CHECK(*built == *parsed);
    KW_FUZZ_CHECK(!kw::proxy::codec::parseReply(reply.substr(0, reply.size() - 1), limits));
  }
  return 0;
}
