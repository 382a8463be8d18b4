// RespReader for tests, fuzzers and benchmarks: a stream of replies read by keyward's parser
// (codec::RespParser, trees from codec::buildReply), each reply owning its bytes. Not part of
// keyward: RedisConnection frames into its own ReplyBuffer and builds the trees from there.
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "proxy/codec/resp_parser.h"

namespace kw::proxy::codec {

// One reply: its exact bytes, and the value whose views point into them (valid while the
// RespReply lives, moves included).
class RespReply {
 public:
  RespReply() = default;
  RespReply(RespReply&&) noexcept = default;
  RespReply& operator=(RespReply&&) noexcept = default;
  RespReply(const RespReply&) = delete;
  RespReply& operator=(const RespReply&) = delete;
  [[nodiscard]] std::string_view raw() const { return {bytes_.get(), size_}; }
  [[nodiscard]] const RespValue& value() const { return value_; }

 private:
  friend class RespReader;
  std::unique_ptr<char[]> bytes_;
  size_t size_ = 0;
  RespValue value_;
};

// feed() bytes as they arrive (any split), then next() until NeedMore. After an Error the
// reader stays failed, as a connection would be dropped. `limits` bound each reply.
class RespReader {
 public:
  enum class Status : uint8_t { NeedMore, Reply, Error };
  explicit RespReader(RespLimits limits = {}) : limits_(limits), parser_(&limits_) {}
  RespReader(const RespReader&) = delete;
  RespReader& operator=(const RespReader&) = delete;

  void feed(std::string_view bytes) {
    if (pos_ != 0 && pos_ == buf_.size()) buf_.clear(), pos_ = 0;  // between replies only
    buf_.append(bytes);
  }
  [[nodiscard]] Status next(RespReply& out) {
    if (failed()) return Status::Error;
    size_t length = 0;
    switch (parser_.scan(std::string_view(buf_).substr(pos_), length)) {
      case RespParser::Status::NeedMore:
        return Status::NeedMore;
      case RespParser::Status::Invalid:
        error_ = "protocol error: " + parser_.error();
        return Status::Error;
      case RespParser::Status::Complete:
        break;
    }
    RespReply reply;
    reply.bytes_ = std::make_unique<char[]>(length);
    std::memcpy(reply.bytes_.get(), buf_.data() + pos_, length);
    reply.size_ = length;
    pos_ += length;
    auto parsed = buildReply(reply.raw(), parser_.nodes(), limits_.max_depth);
    parser_.reset();
    if (!parsed) {
      error_ = parsed.error().message;
      return Status::Error;
    }
    reply.value_ = std::move(parsed).value();
    out = std::move(reply);
    return Status::Reply;
  }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] bool failed() const { return !error_.empty(); }
  // Bytes fed and not yet returned as replies.
  [[nodiscard]] size_t buffered() const { return buf_.size() - pos_; }

 private:
  RespLimits limits_;
  RespParser parser_;
  std::string buf_;
  size_t pos_ = 0;  // start of the current (incomplete) reply in buf_
  std::string error_;
};

}  // namespace kw::proxy::codec
