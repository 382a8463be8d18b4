// JsonInput: the padded copy of a JSON body (json_input.h).
#include "proxy/codec/json_input.h"

namespace kw::proxy::codec {

JsonInput::JsonInput(std::string_view body) {
  thread_local simdjson::ondemand::parser small_parser;
  thread_local std::string small_buffer;
  const bool small = body.size() <= kReusedBufferMax;
  parser_ = small ? &small_parser : &big_parser_;
  buffer_ = small ? &small_buffer : &big_buffer_;
  buffer_->reserve(body.size() + simdjson::SIMDJSON_PADDING);
  buffer_->assign(body);
}

simdjson::error_code JsonInput::iterate(simdjson::ondemand::document& doc) {
  return parser_->iterate(buffer_->data(), buffer_->size(), buffer_->capacity()).get(doc);
}

}  // namespace kw::proxy::codec
