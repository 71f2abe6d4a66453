// Status and Result<T>: how every mirrorkv call reports an outcome.
//
// A Status is a code plus an optional message. OK and a bare kNotFound carry no
// message and cost no allocation, so the hot paths (a GET that misses) stay cheap.
// Result<T> holds either a value or a non-OK Status; its accessors use the words of
// absl::StatusOr (ok(), status(), value(), *, ->) without exposing absl.
//
// Nothing in mirrorkv throws. A condition the caller can act on is a Status; a broken
// internal invariant aborts the process with a message naming the file and line.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace mirrorkv {

// The codes are stable: they are part of the public API.
enum class StatusCode : uint8_t {
  kOk = 0,
  kNotFound = 1,            // the key (or file) does not exist or has expired
  kInvalidArgument = 2,     // the request itself is malformed or out of range
  kFailedPrecondition = 3,  // the object is in the wrong state (a read-only replica, ...)
  kResourceExhausted = 4,   // a memory or size limit refused the request
  kCorruption = 5,          // stored or received bytes failed validation
  kIOError = 6,             // the operating system reported a failure
  kUnavailable = 7,         // a peer or link is down; retrying later may succeed
  kDeadlineExceeded = 8,    // a timeout elapsed before the work completed
};

// Returns the upper-camel name of `code` ("NotFound"), for messages and logs.
std::string_view StatusCodeName(StatusCode code);

// A code and an optional message. Thread-compatible; cheap to copy when OK.
class [[nodiscard]] Status {
 public:
  // OK.
  Status() = default;
  // A status with `code` and `message`. An empty message allocates nothing.
  Status(StatusCode code, std::string_view message);

  static Status Ok() { return Status(); }
  static Status NotFound(std::string_view msg = {}) { return {StatusCode::kNotFound, msg}; }
  static Status InvalidArgument(std::string_view msg) {
    return {StatusCode::kInvalidArgument, msg};
  }
  static Status FailedPrecondition(std::string_view msg) {
    return {StatusCode::kFailedPrecondition, msg};
  }
  static Status ResourceExhausted(std::string_view msg) {
    return {StatusCode::kResourceExhausted, msg};
  }
  static Status Corruption(std::string_view msg) { return {StatusCode::kCorruption, msg}; }
  static Status IOError(std::string_view msg) { return {StatusCode::kIOError, msg}; }
  static Status Unavailable(std::string_view msg) { return {StatusCode::kUnavailable, msg}; }
  static Status DeadlineExceeded(std::string_view msg) {
    return {StatusCode::kDeadlineExceeded, msg};
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  // The message given at construction; empty if none.
  std::string_view message() const { return message_ ? std::string_view(*message_) : ""; }

  // "OK", or "<CodeName>: <message>".
  std::string ToString() const;

  // Keeps the code and prefixes the message with `context` ("loading dump.mkv: ...").
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message() == b.message();
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  // Shared so that copies of an error are cheap; null when there is no message.
  std::shared_ptr<const std::string> message_;
};

// Either a T or a non-OK Status. Accessing value() of an error aborts.
template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit, so that `return value;` and `return status;` both work.
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status);                         // NOLINT(google-explicit-constructor)

  bool ok() const { return value_.has_value(); }
  // OK when a value is present.
  const Status& status() const { return status_; }

  T& value() & { return CheckedValue(), *value_; }
  const T& value() const& { return CheckedValue(), *value_; }
  T&& value() && { return CheckedValue(), std::move(*value_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The value if present, otherwise `fallback`.
  T value_or(T fallback) const& { return ok() ? *value_ : std::move(fallback); }

 private:
  void CheckedValue() const;

  Status status_;
  std::optional<T> value_;
};

namespace internal {
// Aborts with `status` printed; out of line so Result stays small.
[[noreturn]] void DieOnBadResultAccess(const Status& status);
[[noreturn]] void DieOnOkStatusInResult();
}  // namespace internal

template <typename T>
Result<T>::Result(Status status) : status_(std::move(status)) {
  if (status_.ok()) internal::DieOnOkStatusInResult();
}

template <typename T>
void Result<T>::CheckedValue() const {
  if (!value_.has_value()) internal::DieOnBadResultAccess(status_);
}

}  // namespace mirrorkv

// Returns from the enclosing function if `expr` yields a non-OK Status.
#define MIRRORKV_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::mirrorkv::Status mirrorkv_status_ = (expr);        \
    if (!mirrorkv_status_.ok()) return mirrorkv_status_; \
  } while (0)

#define MIRRORKV_STATUS_CONCAT_INNER_(a, b) a##b
#define MIRRORKV_STATUS_CONCAT_(a, b) MIRRORKV_STATUS_CONCAT_INNER_(a, b)

// `MIRRORKV_ASSIGN_OR_RETURN(auto x, F());` declares x from an OK Result, or returns
// the error.
#define MIRRORKV_ASSIGN_OR_RETURN(lhs, expr) \
  MIRRORKV_ASSIGN_OR_RETURN_IMPL_(MIRRORKV_STATUS_CONCAT_(mirrorkv_result_, __LINE__), lhs, expr)
#define MIRRORKV_ASSIGN_OR_RETURN_IMPL_(result, lhs, expr) \
  auto result = (expr);                                    \
  if (!result.ok()) return result.status();                \
  lhs = std::move(result).value()
