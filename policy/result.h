// Result<T>: value-or-error for expected failures (the std::expected API subset we need).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace kw {

enum class ErrorCode : uint8_t {
  InvalidArgument,  // bad input from a caller or the network
  Config,           // configuration is invalid (message carries FILE:LINE:COL)
  NotFound,
  Io,
  Tls,
  Upstream,
  Timeout,
  TooLarge,
  Internal,
};

struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string message;
};

// Holds either a T or an Error. T = void is spelled Status.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};
using Status = Result<Ok>;

inline Error makeError(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

}  // namespace kw
