// A JSON body as simdjson's on-demand parser reads it: copied into a padded buffer, one reused per
// thread for ordinary sizes (no allocation per request), a fresh one above that.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>

namespace kw::proxy::codec {

class JsonInput {
 public:
  explicit JsonInput(std::string_view body);
  JsonInput(const JsonInput&) = delete;
  JsonInput& operator=(const JsonInput&) = delete;
  // Starts a document over the copy; it stays valid while this object lives.
  simdjson::error_code iterate(simdjson::ondemand::document& doc);

 private:
  static constexpr size_t kReusedBufferMax = 1 << 20;
  simdjson::ondemand::parser big_parser_;
  std::string big_buffer_;
  simdjson::ondemand::parser* parser_;
  std::string* buffer_;
};

}  // namespace kw::proxy::codec
