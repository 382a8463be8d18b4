// Resumable reply encoding: the walk of reply_json.cc's appendValue on an explicit stack.
#include "proxy/codec/sliced_reply.h"

#include <algorithm>
#include <charconv>

#include "proxy/codec/base64.h"
#include "proxy/codec/json_escape.h"
#include "proxy/codec/resp_writer.h"

namespace kw::proxy::codec {

namespace {

constexpr std::string_view kResultOpen = "{\"result\":";
constexpr std::string_view kErrorOpen = "{\"error\":";

}  // namespace

// Where a walk's bytes go: appended (next), or only counted (measure).
struct SlicedReplyEncoder::Writer {
  std::string& out;
  size_t start;
  [[nodiscard]] size_t written() const { return out.size() - start; }
  void put(char c) { out.push_back(c); }
  void put(std::string_view s) { out.append(s); }
  void base64(std::string_view s) { appendBase64(out, s); }
  size_t json(std::string_view s, size_t from, size_t max_in) {
    return appendJsonStringPart(out, s, from, max_in);
  }
};

struct SlicedReplyEncoder::Counter {
  uint64_t n = 0;
  size_t start = 0;
  [[nodiscard]] size_t written() const { return static_cast<size_t>(n) - start; }
  void put(char /*c*/) { ++n; }
  void put(std::string_view s) { n += s.size(); }
  void base64(std::string_view s) { n += base64EncodedSize(s.size()); }
  size_t json(std::string_view s, size_t from, size_t max_in) {
    return jsonStringSizePart(s, from, max_in, n);
  }
};

std::unique_ptr<SlicedReplyEncoder> SlicedReplyEncoder::single(const RespValue& reply,
                                                               ReplyEncoding enc) {
  std::unique_ptr<SlicedReplyEncoder> e(new SlicedReplyEncoder());
  e->b64_ = enc == ReplyEncoding::Base64;
  e->pushEnvelope(reply);
  e->initial_ = e->stack_;
  return e;
}

Result<std::unique_ptr<SlicedReplyEncoder>> SlicedReplyEncoder::pipeline(
    std::span<const RespValue> replies, std::span<const InlineError> errors, ReplyEncoding enc) {
  const size_t total = replies.size() + errors.size();
  for (size_t k = 0; k < errors.size(); ++k) {
    if (errors[k].index >= total || (k > 0 && errors[k].index <= errors[k - 1].index)) {
      return makeError(ErrorCode::InvalidArgument,
                       "inline errors must have strictly increasing indexes below the total");
    }
  }
  std::unique_ptr<SlicedReplyEncoder> e(new SlicedReplyEncoder());
  e->b64_ = enc == ReplyEncoding::Base64;
  e->listOf(replies, errors);
  e->initial_ = e->stack_;
  return e;
}

std::unique_ptr<SlicedReplyEncoder> SlicedReplyEncoder::transaction(
    std::span<const RespValue> replies, ReplyEncoding enc, int& status) {
  std::unique_ptr<SlicedReplyEncoder> e(new SlicedReplyEncoder());
  e->b64_ = enc == ReplyEncoding::Base64;
  // Only a committed transaction (EXEC's Array) can be large: the others are one error text.
  if (replies.size() >= 2 && !replies.front().isError() && replies.back().isArray()) {
    status = 200;
    e->listOf(replies.back().elements, {});
    e->initial_ = e->stack_;
    return e;
  }
  e->owned_.emplace_back();
  status = appendTransactionJson(e->owned_.back(), replies, enc);
  e->size_ = e->owned_.back().size();
  e->stack_.push_back({.kind = Kind::Text, .s = e->owned_.back()});
  e->ready();
  return e;
}

std::unique_ptr<SlicedReplyEncoder> SlicedReplyEncoder::resp2(
    std::span<const std::string_view> raws, std::span<const size_t> denied_at,
    std::span<const std::string> messages) {
  std::unique_ptr<SlicedReplyEncoder> e(new SlicedReplyEncoder());
  e->owned_.reserve(denied_at.size());  // views into them are taken: no reallocation
  std::vector<std::string_view> parts;
  parts.reserve(raws.size() + denied_at.size());
  size_t ri = 0, di = 0;
  for (size_t pos = 0; pos < raws.size() + denied_at.size(); ++pos) {
    if (di < denied_at.size() && denied_at[di] == pos) {
      e->owned_.emplace_back();
      appendResp2Error(e->owned_.back(), messages[di++]);
      parts.push_back(e->owned_.back());
    } else {
      parts.push_back(raws[ri++]);
    }
  }
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    e->size_ += it->size();
    e->stack_.push_back({.kind = Kind::Text, .s = *it});
  }
  e->ready();
  return e;
}

void SlicedReplyEncoder::listOf(std::span<const RespValue> replies,
                                std::span<const InlineError> errors) {
  list_ = replies;
  errors_.assign(errors.begin(), errors.end());
  list_total_ = replies.size() + errors.size();
  stack_.push_back({.kind = Kind::Text, .s = "]"});
  stack_.push_back({.kind = Kind::Envelopes});
  stack_.push_back({.kind = Kind::Text, .s = "["});
}

void SlicedReplyEncoder::pushError(std::string_view message) {
  stack_.push_back({.kind = Kind::Text, .s = "}"});
  stack_.push_back({.kind = Kind::Str, .s = message});
  stack_.push_back({.kind = Kind::Text, .s = kErrorOpen});
}

void SlicedReplyEncoder::pushEnvelope(const RespValue& reply) {
  if (reply.type == RespType::Error) return pushError(reply.str);
  stack_.push_back({.kind = Kind::Text, .s = "}"});
  pushValue(reply, true);
  stack_.push_back({.kind = Kind::Text, .s = kResultOpen});
}

void SlicedReplyEncoder::pushValue(const RespValue& v, bool top_level) {
  stack_.push_back({.kind = Kind::Value, .flag = top_level, .v = &v});
}

void SlicedReplyEncoder::ready() {
  measured_ = true;
  initial_.clear();
}

bool SlicedReplyEncoder::measure(size_t budget) {
  if (measured_) return true;
  Counter c{.n = size_, .start = static_cast<size_t>(size_)};
  const bool done = run(c, budget);
  size_ = c.n;
  if (!done) return false;
  // The writing walk starts over from the same frames.
  stack_ = std::move(initial_);
  list_pos_ = next_reply_ = next_error_ = 0;
  ready();
  return true;
}

bool SlicedReplyEncoder::next(std::string& out, size_t budget) {
  if (!measured_) return false;  // a caller's bug: nothing is written unsized
  Writer w{out, out.size()};
  return run(w, budget);
}

template <typename Sink>
bool SlicedReplyEncoder::run(Sink& sink, size_t budget) {
  while (!stack_.empty()) {
    const size_t used = sink.written();
    if (used >= budget) return false;
    step(sink, budget - used);
  }
  return true;
}

template <typename Sink>
void SlicedReplyEncoder::stepEnvelopes(Sink& out) {
  if (list_pos_ == list_total_) {
    stack_.pop_back();
    return;
  }
  if (list_pos_++ > 0) out.put(',');
  if (next_error_ < errors_.size() && errors_[next_error_].index == list_pos_ - 1) {
    pushError(errors_[next_error_++].message);
  } else {
    pushEnvelope(list_[next_reply_++]);
  }
}

// One bounded piece of work on the top frame; `room` (> 0) is what the slice has left.
template <typename Sink>
void SlicedReplyEncoder::step(Sink& out, size_t room) {
  Frame& f = stack_.back();
  switch (f.kind) {
    case Kind::Text: {
      const size_t n = std::min(room, f.s.size());
      out.put(f.s.substr(0, n));
      f.s.remove_prefix(n);
      if (f.s.empty()) stack_.pop_back();
      return;
    }
    case Kind::Envelopes:
      return stepEnvelopes(out);
    case Kind::Elements: {
      const RespValue* arr = f.v;
      if (f.pos == arr->elements.size()) {
        stack_.pop_back();
        return;
      }
      if (f.pos > 0) out.put(',');
      const RespValue& e = arr->elements[f.pos++];
      return pushValue(e, false);  // `f` may dangle from here
    }
    case Kind::Str: {
      if (!f.opened) {
        out.put('"');
        f.opened = true;
      }
      if (f.pos == f.s.size()) {
        out.put('"');
        stack_.pop_back();
        return;
      }
      if (f.flag) {
        // Whole 3-byte groups but the last: the same symbols and padding as one call.
        const size_t groups = std::max<size_t>(1, room / 4);
        const size_t n = std::min(f.s.size() - f.pos, groups * 3);
        out.base64(f.s.substr(f.pos, n));
        f.pos += n;
      } else {
        // No byte escapes to more than 6: room / 6 input bytes stay within the room.
        f.pos = out.json(f.s, f.pos, std::max<size_t>(1, room / 6));
      }
      return;
    }
    case Kind::Value: {
      const RespValue& v = *f.v;
      const bool top = f.flag;
      stack_.pop_back();  // `f` dangles from here
      switch (v.type) {
        case RespType::Null:
        case RespType::NullArray:
          out.put("null");
          return;
        case RespType::Integer: {
          char buf[24];
          const auto r = std::to_chars(buf, buf + sizeof(buf), v.integer);
          out.put(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
          return;
        }
        case RespType::Status:
          stack_.push_back(
              {.kind = Kind::Str, .flag = b64_ && !(top && v.str == "OK"), .s = v.str});
          return;
        case RespType::Bulk:
          stack_.push_back({.kind = Kind::Str, .flag = b64_, .s = v.str});
          return;
        case RespType::Error:
          stack_.push_back({.kind = Kind::Str, .flag = b64_ && !top, .s = v.str});
          return;
        case RespType::Array:
          stack_.push_back({.kind = Kind::Text, .s = "]"});
          stack_.push_back({.kind = Kind::Elements, .v = &v});
          stack_.push_back({.kind = Kind::Text, .s = "["});
          return;
      }
      return;
    }
  }
}

}  // namespace kw::proxy::codec
