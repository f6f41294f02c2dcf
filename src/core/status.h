// Errors as values at module borders: Status, Result<T> and one error-code enum.
// The enum is mapped once to gRPC and HTTP codes by the server.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace lipsync {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,  // the caller sent something malformed
  kNotFound,         // unknown model, missing file
  kAlreadyExists,
  kFailedPrecondition,  // e.g. model in state `failed`
  kResourceExhausted,   // queue full, memory budget
  kUnavailable,         // shutting down, not ready yet
  kCancelled,           // the caller gave up (a client cancelled its call or went away)
  kDataLoss,            // corrupt file or media
  kUnimplemented,
  kInternal,
};

std::string_view to_string(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "NOT_FOUND: model 'x' is not configured"
  std::string to_string() const;

  // Prepends context: "loading avatar 'x': <message>".
  Status with_context(std::string_view context) const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

template <typename... Args>
Status make_error(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  return Status(code, fmt::format(format, std::forward<Args>(args)...));
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : value_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(value_).ok()) {
      value_ = Status(ErrorCode::kInternal, "Result constructed from an OK status without a value");
    }
  }

  bool ok() const { return std::holds_alternative<T>(value_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(value_);
  }

  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace lipsync

#define LIPSYNC_CONCAT_INNER(a, b) a##b
#define LIPSYNC_CONCAT(a, b) LIPSYNC_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                       \
  do {                                              \
    ::lipsync::Status lipsync_status_ = (expr);     \
    if (!lipsync_status_.ok()) return lipsync_status_; \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

// ASSIGN_OR_RETURN(auto x, make_x()); declares or assigns `x`, or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(LIPSYNC_CONCAT(lipsync_result_, __LINE__), lhs, expr)
