// Counting whole resp2 replies as their bytes pass (resp_stream_check.h).
#include "proxy/codec/resp_stream_check.h"

namespace kw::proxy::codec {

bool RespStreamCheck::feed(std::string_view in) {
  if (failed_) return false;
  open_.append(in);
  while (!open_.empty()) {
    if (seen_ == want_) return !(failed_ = true);  // a byte after the last reply
    size_t length = 0;
    switch (parser_.scan(open_, length)) {
      case RespParser::Status::Complete:
        ++seen_;
        open_.erase(0, length);
        parser_.reset();
        continue;
      case RespParser::Status::NeedMore: {
        // Framing only from here: what the parser accepted (a bulk payload as it arrives) is
        // let go, so at most one open line is held.
        const size_t accepted = parser_.accepted();
        parser_.discard(accepted);
        open_.erase(0, accepted);
        return true;
      }
      case RespParser::Status::Invalid:
        return !(failed_ = true);
    }
  }
  return true;
}

}  // namespace kw::proxy::codec
