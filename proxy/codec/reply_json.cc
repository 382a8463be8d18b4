// Upstash REST JSON bodies from Redis replies: envelopes, pipelines, transactions, base64 mode.
#include "proxy/codec/reply_json.h"

#include <algorithm>
#include <charconv>

#include "proxy/codec/base64.h"
#include "proxy/codec/json_escape.h"
#include "proxy/codec/resp_writer.h"

namespace kw::proxy::codec {

namespace {

void appendInteger(std::string& out, int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

void appendString(std::string& out, std::string_view s, bool encode) {
  if (!encode) {
    appendJsonString(out, s);
    return;
  }
  out.reserve(out.size() + base64EncodedSize(s.size()) + 2);
  out.push_back('"');
  appendBase64(out, s);
  out.push_back('"');
}

// Arrays recurse; parsed values are at most RespLimits::max_depth deep.
void appendValue(std::string& out, const RespValue& v, bool b64, bool top_level) {
  switch (v.type) {
    case RespType::Null:
    case RespType::NullArray:
      out += "null";
      return;
    case RespType::Integer:
      appendInteger(out, v.integer);
      return;
    case RespType::Status:
      appendString(out, v.str, b64 && !(top_level && v.str == "OK"));
      return;
    case RespType::Bulk:
      appendString(out, v.str, b64);
      return;
    case RespType::Error:
      appendString(out, v.str, b64 && !top_level);
      return;
    case RespType::Array: {
      out.push_back('[');
      bool first = true;
      for (const RespValue& e : v.elements) {
        if (!first) out.push_back(',');
        first = false;
        appendValue(out, e, b64, false);
      }
      out.push_back(']');
      return;
    }
  }
}

// The bytes appendValue appends (same cases, same order).
uint64_t valueSize(const RespValue& v, bool b64, bool top_level) {
  const auto str = [](std::string_view s, bool encode) -> uint64_t {
    return encode ? base64EncodedSize(s.size()) + 2 : jsonStringSize(s);
  };
  switch (v.type) {
    case RespType::Null:
    case RespType::NullArray:
      return 4;
    case RespType::Integer: {
      char buf[24];
      return static_cast<uint64_t>(std::to_chars(buf, buf + sizeof(buf), v.integer).ptr - buf);
    }
    case RespType::Status:
      return str(v.str, b64 && !(top_level && v.str == "OK"));
    case RespType::Bulk:
      return str(v.str, b64);
    case RespType::Error:
      return str(v.str, b64 && !top_level);
    case RespType::Array: {
      uint64_t n = 2 + (v.elements.empty() ? 0 : v.elements.size() - 1);
      for (const RespValue& e : v.elements) n += valueSize(e, b64, false);
      return n;
    }
  }
  return 0;
}

}  // namespace

uint64_t jsonBodySizeBound(std::span<const RespValue> replies, ReplyEncoding enc) {
  const bool b64 = enc == ReplyEncoding::Base64;
  uint64_t n = 2 + 64;  // brackets, and room for keyward's own fixed error texts
  for (const RespValue& r : replies) {
    uint64_t size = valueSize(r, b64, true) + 16;
    if (r.isArray()) {
      // It may be EXEC's: each element is then a top-level value in an envelope of its own.
      uint64_t as_exec = 2;
      for (const RespValue& e : r.elements) as_exec += valueSize(e, b64, true) + 16;
      size = std::max(size, as_exec);
    }
    n += size;
  }
  return n;
}

void appendJsonValue(std::string& out, const RespValue& v, ReplyEncoding enc, bool top_level) {
  appendValue(out, v, enc == ReplyEncoding::Base64, top_level);
}

void appendEnvelope(std::string& out, const RespValue& reply, ReplyEncoding enc) {
  if (reply.type == RespType::Error) {
    appendJsonError(out, reply.str);
    return;
  }
  out += "{\"result\":";
  appendValue(out, reply, enc == ReplyEncoding::Base64, true);
  out.push_back('}');
}

std::string singleReplyJson(const RespValue& reply, ReplyEncoding enc) {
  std::string out;
  appendEnvelope(out, reply, enc);
  return out;
}

int httpStatusForSingle(const RespValue& reply) {
  return reply.type == RespType::Error ? 400 : 200;
}

void appendJsonError(std::string& out, std::string_view message) {
  out += "{\"error\":";
  appendJsonString(out, message);
  out.push_back('}');
}

std::string jsonError(std::string_view message) {
  std::string out;
  appendJsonError(out, message);
  return out;
}

PipelineJsonWriter::PipelineJsonWriter(std::string& out, ReplyEncoding enc) : out_(out), enc_(enc) {
  out_.push_back('[');
}

void PipelineJsonWriter::separator() {
  if (count_++ > 0) out_.push_back(',');
}

void PipelineJsonWriter::addReply(const RespValue& reply) {
  separator();
  appendEnvelope(out_, reply, enc_);
}

void PipelineJsonWriter::addError(std::string_view message) {
  separator();
  appendJsonError(out_, message);
}

void PipelineJsonWriter::finish() { out_.push_back(']'); }

Status appendPipelineJson(std::string& out, std::span<const RespValue> replies,
                          std::span<const InlineError> errors, ReplyEncoding enc) {
  const size_t total = replies.size() + errors.size();
  for (size_t k = 0; k < errors.size(); ++k) {
    if (errors[k].index >= total || (k > 0 && errors[k].index <= errors[k - 1].index)) {
      return makeError(ErrorCode::InvalidArgument,
                       "inline errors must have strictly increasing indexes below the total");
    }
  }
  PipelineJsonWriter w(out, enc);
  size_t next_reply = 0;
  size_t next_error = 0;
  for (size_t i = 0; i < total; ++i) {
    if (next_error < errors.size() && errors[next_error].index == i) {
      w.addError(errors[next_error++].message);
    } else {
      w.addReply(replies[next_reply++]);
    }
  }
  w.finish();
  return Ok{};
}

std::string pipelineJson(std::span<const RespValue> replies, ReplyEncoding enc) {
  std::string out;
  PipelineJsonWriter w(out, enc);
  for (const RespValue& r : replies) w.addReply(r);
  w.finish();
  return out;
}

int appendMultiExecJson(std::string& out, const RespValue& exec_reply, ReplyEncoding enc) {
  switch (exec_reply.type) {
    case RespType::Array: {
      PipelineJsonWriter w(out, enc);
      for (const RespValue& r : exec_reply.elements) w.addReply(r);
      w.finish();
      return 200;
    }
    case RespType::Error:
      appendJsonError(out, exec_reply.str);
      return 400;
    case RespType::NullArray:
      appendJsonError(out, "EXECABORT Transaction discarded");
      return 400;
    case RespType::Status:
    case RespType::Integer:
    case RespType::Bulk:
    case RespType::Null:
      appendJsonError(out, "ERR unexpected EXEC reply");
      return 502;
  }
  return 502;
}

int appendTransactionJson(std::string& out, std::span<const RespValue> replies, ReplyEncoding enc) {
  if (replies.size() < 2) {
    appendJsonError(out, "ERR unexpected EXEC reply");
    return 502;
  }
  if (replies.front().isError()) {
    appendJsonError(out, replies.front().str);
    return 400;
  }
  const RespValue& exec = replies.back();
  if (exec.isError() && exec.str.starts_with("EXECABORT")) {
    for (const RespValue& queued : replies.subspan(1, replies.size() - 2)) {
      if (queued.isError()) {
        appendJsonError(out, queued.str);
        return 400;
      }
    }
  }
  return appendMultiExecJson(out, exec, enc);
}

void appendResp2Passthrough(std::string& out, std::string_view raw_reply) { out.append(raw_reply); }

void appendResp2Error(std::string& out, std::string_view message) {
  appendErrorReply(out, message);
}

void appendResp2Pipeline(std::string& out, std::span<const std::string_view> raws,
                         std::span<const size_t> denied_at, std::span<const std::string> messages) {
  size_t ri = 0, di = 0;
  for (size_t pos = 0; pos < raws.size() + denied_at.size(); ++pos) {
    if (di < denied_at.size() && denied_at[di] == pos) {
      appendResp2Error(out, messages[di++]);
    } else {
      out.append(raws[ri++]);
    }
  }
}

}  // namespace kw::proxy::codec
