// The reply bodies of reply_json.h (and resp2 passthrough), encoded in bounded slices.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/result.h"
#include "proxy/codec/reply_json.h"
#include "proxy/codec/resp_value.h"

namespace kw::proxy::codec {

// A resumable encoder: the bytes of successive next() calls concatenate to exactly what the
// one-shot function named by its factory builds, and size() is their exact total, known before
// the first byte (a Content-Length) once measure() is done. Both walks go in bounded steps: a
// 96 MiB body is sized a few MiB per event-loop turn, then built 256 KiB per turn.
// It holds views: the replies (and the messages of inline errors) must outlive it. Strings are
// split anywhere between JSON escaping units (a UTF-8 sequence is never cut) and on 3-byte
// boundaries for base64, so no slice changes a byte. Not copyable or movable (it points into
// itself): hold it by unique_ptr.
class SlicedReplyEncoder {
 public:
  // At most this many bytes past the budget in one next() (an integer's digits, an escape).
  static constexpr size_t kMaxOvershoot = 32;

  // singleReplyJson(reply, enc).
  static std::unique_ptr<SlicedReplyEncoder> single(const RespValue& reply, ReplyEncoding enc);
  // appendPipelineJson(out, replies, errors, enc); InvalidArgument for errors it would refuse.
  static Result<std::unique_ptr<SlicedReplyEncoder>> pipeline(std::span<const RespValue> replies,
                                                              std::span<const InlineError> errors,
                                                              ReplyEncoding enc);
  // appendTransactionJson(out, replies, enc); `status` gets what that returns.
  static std::unique_ptr<SlicedReplyEncoder> transaction(std::span<const RespValue> replies,
                                                         ReplyEncoding enc, int& status);
  // resp2 pipeline passthrough: raws[i] in order, with appendResp2Error(messages[k]) spliced in at
  // position denied_at[k] (strictly increasing). A single reply: one raw, no errors.
  static std::unique_ptr<SlicedReplyEncoder> resp2(std::span<const std::string_view> raws,
                                                   std::span<const size_t> denied_at,
                                                   std::span<const std::string> messages);

  SlicedReplyEncoder(const SlicedReplyEncoder&) = delete;
  SlicedReplyEncoder& operator=(const SlicedReplyEncoder&) = delete;

  // Sizes the next `budget` (> 0) bytes of the body (about that much work; nothing is built).
  // True once size() is known. Call until true before next().
  bool measure(size_t budget);
  // Appends the next bytes: at least `budget` (> 0) of them unless the body ends first, and at
  // most budget + kMaxOvershoot. True once the whole body has been appended.
  bool next(std::string& out, size_t budget);
  // The body's exact size, once measure() has returned true.
  [[nodiscard]] uint64_t size() const { return size_; }

 private:
  enum class Kind : uint8_t { Text, Value, Str, Elements, Envelopes };
  struct Frame {
    Kind kind;
    bool flag = false;    // Value: top level; Str: base64
    bool opened = false;  // Str: the opening quote is out
    const RespValue* v = nullptr;
    std::string_view s;  // Text: what is left; Str: the whole string
    size_t pos = 0;      // Str: next input byte; Elements: next element
  };

  struct Writer;
  struct Counter;

  SlicedReplyEncoder() = default;
  // The frames are walked twice: counting (measure), then writing (next).
  template <typename Sink>
  bool run(Sink& sink, size_t budget);
  template <typename Sink>
  void step(Sink& sink, size_t room);
  template <typename Sink>
  void stepEnvelopes(Sink& sink);
  void ready();  // sized at construction: nothing to measure
  void pushError(std::string_view message);
  void pushEnvelope(const RespValue& reply);
  void pushValue(const RespValue& v, bool top_level);
  void listOf(std::span<const RespValue> replies, std::span<const InlineError> errors);

  bool b64_ = false;
  bool measured_ = false;
  uint64_t size_ = 0;
  std::vector<Frame> stack_;    // the top is next
  std::vector<Frame> initial_;  // the stack before the counting walk, for the writing one
  // The Envelopes frame's list (one per encoder): a pipeline's, or EXEC's elements.
  std::span<const RespValue> list_;
  std::vector<InlineError> errors_;
  size_t list_pos_ = 0, list_total_ = 0, next_reply_ = 0, next_error_ = 0;
  std::vector<std::string> owned_;  // texts made here (resp2 errors, a transaction's error body)
};

}  // namespace kw::proxy::codec
