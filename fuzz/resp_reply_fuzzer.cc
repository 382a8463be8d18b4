// Fuzzes RESP reply reading and JSON/SSE encoding: chunking-independent, valid JSON, bounded.
#include <hiredis/hiredis.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "proxy/codec/base64.h"
#include "proxy/codec/json_escape.h"
#include "proxy/codec/reply_json.h"
#include "proxy/codec/resp_parser.h"
#include "proxy/codec/resp_writer.h"
#include "proxy/codec/sse.h"
#include "tests/support/resp_stream.h"

using namespace kw::proxy::codec;  // NOLINT(google-build-using-namespace): harness only

namespace {

size_t countValues(const RespValue& v, uint32_t depth, uint32_t& max_depth) {
  if (v.type == RespType::Array) max_depth = std::max(max_depth, depth + 1);
  size_t n = 1;
  for (const RespValue& e : v.elements) n += countValues(e, depth + 1, max_depth);
  return n;
}

simdjson::dom::element parseJson(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element root;
  KW_FUZZ_CHECK(parser.parse(json).get(root) == simdjson::SUCCESS);
  return root;
}

// Top-level scalars decode back to their bytes (exactly in base64 mode and for valid UTF-8).
void checkScalarRoundTrip(simdjson::dom::parser& parser, const RespValue& v, ReplyEncoding enc) {
  if (v.type != RespType::Bulk && v.type != RespType::Status && v.type != RespType::Error) return;
  const std::string body = singleReplyJson(v, enc);
  simdjson::dom::element root = parseJson(parser, body);
  std::string_view s;
  const char* field = v.type == RespType::Error ? "error" : "result";
  KW_FUZZ_CHECK(root[field].get_string().get(s) == simdjson::SUCCESS);
  const bool encoded = enc == ReplyEncoding::Base64 && v.type != RespType::Error &&
                       !(v.type == RespType::Status && v.str == "OK");
  if (encoded) {
    auto back = base64Decode(s);
    KW_FUZZ_CHECK(back.has_value() && *back == v.str);
  } else if (isValidUtf8(v.str)) {
    KW_FUZZ_CHECK(s == v.str);
  } else {
    KW_FUZZ_CHECK(isValidUtf8(s));
  }
}

void checkReply(simdjson::dom::parser& parser, const RespReply& reply, const RespLimits& lim) {
  const RespValue& v = reply.value();
  // The raw bytes parse to the same tree, and re-serialising gives an equivalent reply.
  auto again = parseReply(reply.raw(), lim);
  KW_FUZZ_CHECK(again.has_value() && *again == v);
  uint32_t depth = 0;
  KW_FUZZ_CHECK(countValues(v, 0, depth) <= lim.max_values);
  KW_FUZZ_CHECK(depth <= lim.max_depth);
  KW_FUZZ_CHECK(reply.raw().size() <= lim.max_reply_bytes);
  std::string wire;
  appendReply(wire, v);
  RespLimits relaxed = lim;
  relaxed.max_reply_bytes = 1u << 30;  // "$-1" and "*-1" are written for either nil
  auto reparsed = parseReply(wire, relaxed);
  KW_FUZZ_CHECK(reparsed.has_value());
  KW_FUZZ_CHECK(*reparsed == v);
  for (ReplyEncoding enc : {ReplyEncoding::Plain, ReplyEncoding::Base64}) {
    const std::string single = singleReplyJson(v, enc);
    // The size bound RequestRouter checks before building a body is never below the body.
    KW_FUZZ_CHECK(jsonBodySizeBound({&v, 1}, enc) >= single.size());
    KW_FUZZ_CHECK(jsonBodySizeBound({&v, 1}, enc) >= pipelineJson({&v, 1}, enc).size());
    if (v.isString() || v.isError()) {
      std::string js;
      appendJsonString(js, v.str);
      KW_FUZZ_CHECK(jsonStringSize(v.str) == js.size());
    }
    simdjson::dom::element root = parseJson(parser, single);
    simdjson::dom::object obj;
    KW_FUZZ_CHECK(root.get_object().get(obj) == simdjson::SUCCESS);
    KW_FUZZ_CHECK(obj.size() == 1);
    KW_FUZZ_CHECK((httpStatusForSingle(v) == 400) == v.isError());
    std::string multi;
    const int status = appendMultiExecJson(multi, v, enc);
    KW_FUZZ_CHECK(jsonBodySizeBound({&v, 1}, enc) >= multi.size());
    KW_FUZZ_CHECK(status == 200 || status == 400 || status == 502);
    simdjson::dom::element mroot = parseJson(parser, multi);
    KW_FUZZ_CHECK((status == 200) == mroot.is_array());
    checkScalarRoundTrip(parser, v, enc);
  }
  std::string sse;
  const kw::Status s = appendSseEvent(sse, v);
  if (s.has_value()) {
    KW_FUZZ_CHECK(sse.starts_with("data: ") && sse.ends_with("\n\n"));
    KW_FUZZ_CHECK(sse.find('\n') == sse.size() - 2);  // one line per event
    KW_FUZZ_CHECK(sse.find('\r') == std::string::npos);
    // MultiLine: the same event as SSE-standard lines, each one starting with "data: ".
    std::string lines;
    KW_FUZZ_CHECK(appendSseEvent(lines, v, SseNewlines::MultiLine).has_value());
    KW_FUZZ_CHECK(lines.ends_with("\n\n") && lines.find('\r') == std::string::npos);
    std::string_view rest(lines.data(), lines.size() - 1);
    while (!rest.empty()) {
      KW_FUZZ_CHECK(rest.starts_with("data: "));
      rest.remove_prefix(rest.find('\n') + 1);
    }
  } else {
    KW_FUZZ_CHECK(sse.empty());
  }
}

// hiredis is the reference: every reply we accept, it reads identically (our reader is the
// stricter one: it validates integers and lengths that hiredis takes on trust).
bool sameAsHiredis(const RespValue& v, const redisReply* h) {
  switch (v.type) {
    case RespType::Status:
    case RespType::Error:
    case RespType::Bulk: {
      const int want = v.type == RespType::Status  ? REDIS_REPLY_STATUS
                       : v.type == RespType::Error ? REDIS_REPLY_ERROR
                                                   : REDIS_REPLY_STRING;
      return h->type == want && std::string_view(h->str, h->len) == v.str;
    }
    case RespType::Integer:
      return h->type == REDIS_REPLY_INTEGER && h->integer == v.integer;
    case RespType::Null:
    case RespType::NullArray:
      return h->type == REDIS_REPLY_NIL;
    case RespType::Array:
      if (h->type != REDIS_REPLY_ARRAY || h->elements != v.elements.size()) return false;
      for (size_t i = 0; i < h->elements; ++i) {
        if (!sameAsHiredis(v.elements[i], h->element[i])) return false;
      }
      return true;
  }
  return false;
}

void crossCheckHiredis(std::string_view stream, const std::vector<RespReply>& replies) {
  redisReader* reader = redisReaderCreate();
  KW_FUZZ_CHECK(reader != nullptr);
  KW_FUZZ_CHECK(redisReaderFeed(reader, stream.data(), stream.size()) == REDIS_OK);
  for (const RespReply& r : replies) {
    uint32_t depth = 0;
    countValues(r.value(), 0, depth);
    if (depth > 6) break;  // hiredis 0.14 refuses nesting deeper than 7
    void* out = nullptr;
    KW_FUZZ_CHECK(redisReaderGetReply(reader, &out) == REDIS_OK);
    KW_FUZZ_CHECK(out != nullptr);
    const bool same_value = sameAsHiredis(r.value(), static_cast<redisReply*>(out));
    freeReplyObject(out);
    KW_FUZZ_CHECK(same_value);
  }
  redisReaderFree(reader);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  RespLimits lim;
  lim.max_depth = (flags & 2) ? 8 : 64;  // bit 0 is unused (it once allowed RESP3)
  lim.max_values = (flags & 4) ? 64 : 4096;
  lim.max_bulk_bytes = (flags & 8) ? 16 : 1 << 20;
  lim.max_line_bytes = (flags & 16) ? 16 : 4096;
  lim.max_reply_bytes = (flags & 32) ? 256 : 1 << 20;
  const size_t chunk = size_t{1} + (flags >> 6) * 5;  // 1, 6, 11, 16

  static simdjson::dom::parser parser;

  // Whole-stream reading.
  RespReader whole(lim);
  whole.feed(stream);
  std::vector<RespReply> replies;
  RespReader::Status st;
  for (;;) {
    RespReply r;
    st = whole.next(r);
    if (st != RespReader::Status::Reply) break;
    replies.push_back(std::move(r));
  }
  KW_FUZZ_CHECK(st != RespReader::Status::Error || whole.failed());

  // Chunked reading must produce the same replies, then the same outcome.
  RespReader chunked(lim);
  size_t got = 0;
  RespReader::Status cst = RespReader::Status::NeedMore;
  for (size_t at = 0; at < stream.size() && cst != RespReader::Status::Error; at += chunk) {
    chunked.feed(stream.substr(at, chunk));
    RespReply r;
    while ((cst = chunked.next(r)) == RespReader::Status::Reply) {
      KW_FUZZ_CHECK(got < replies.size());
      KW_FUZZ_CHECK(r.raw() == replies[got].raw());
      ++got;
    }
  }
  KW_FUZZ_CHECK(got == replies.size());
  KW_FUZZ_CHECK(cst == st || stream.empty());
  if (st == RespReader::Status::NeedMore) KW_FUZZ_CHECK(whole.buffered() == chunked.buffered());

  crossCheckHiredis(stream, replies);

  size_t consumed = 0;
  for (const RespReply& r : replies) {
    consumed += r.raw().size();
    checkReply(parser, r, lim);
  }
  if (st == RespReader::Status::NeedMore)
    KW_FUZZ_CHECK(consumed + whole.buffered() == stream.size());

  // The pipeline body of all replies (and a spliced inline error) is valid JSON.
  std::vector<RespValue> values;
  for (const RespReply& r : replies) values.push_back(r.value());
  for (ReplyEncoding enc : {ReplyEncoding::Plain, ReplyEncoding::Base64}) {
    std::string body;
    const InlineError err[] = {{values.size() / 2, std::string_view(stream).substr(0, 64)}};
    KW_FUZZ_CHECK(appendPipelineJson(body, values, err, enc).has_value());
    simdjson::dom::array arr;
    KW_FUZZ_CHECK(parseJson(parser, body).get_array().get(arr) == simdjson::SUCCESS);
    KW_FUZZ_CHECK(arr.size() == values.size() + 1);
  }
  return 0;
}
