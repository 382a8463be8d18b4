// Names and statuses of upstream failures.
#include "proxy/upstream/upstream_types.h"

namespace kw::proxy {

int httpStatus(UpstreamErrorKind kind) {
  switch (kind) {
    case UpstreamErrorKind::Timeout:
      return 504;
    case UpstreamErrorKind::Overloaded:
      return 503;
    case UpstreamErrorKind::Share:
      return 429;
    case UpstreamErrorKind::Rejected:
      return 400;
    case UpstreamErrorKind::RequestTooLarge:
      return 413;
    case UpstreamErrorKind::Unreachable:
    case UpstreamErrorKind::Protocol:
    case UpstreamErrorKind::Closed:
    case UpstreamErrorKind::TooLarge:
    case UpstreamErrorKind::Auth:
      return 502;
  }
  return 502;
}

std::string_view toString(UpstreamErrorKind kind) {
  switch (kind) {
    case UpstreamErrorKind::Unreachable:
      return "unreachable";
    case UpstreamErrorKind::Timeout:
      return "timeout";
    case UpstreamErrorKind::Protocol:
      return "protocol";
    case UpstreamErrorKind::Closed:
      return "closed";
    case UpstreamErrorKind::Overloaded:
      return "overloaded";
    case UpstreamErrorKind::Share:
      return "client_share";
    case UpstreamErrorKind::Auth:
      return "auth";
    case UpstreamErrorKind::Rejected:
      return "rejected";
    case UpstreamErrorKind::TooLarge:
      return "reply_too_large";
    case UpstreamErrorKind::RequestTooLarge:
      return "request_too_large";
  }
  return "unknown";
}

std::string clientMessage(const UpstreamError& error) {
  if (error.kind == UpstreamErrorKind::TooLarge || error.kind == UpstreamErrorKind::Share ||
      error.kind == UpstreamErrorKind::RequestTooLarge) {
    return error.message;
  }
  std::string out = "ERR upstream " + std::string(toString(error.kind));
  if (error.maybe_executed) {
    out += ": outcome unknown";
  }
  return out;
}

}  // namespace kw::proxy
