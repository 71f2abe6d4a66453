// Out-of-line parts of Status and Result.
#include "mirrorkv/status.h"

#include <cstdio>
#include <cstdlib>

namespace mirrorkv {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kNotFound:
      return "NotFound";
    case StatusCode::kInvalidArgument:
      return "InvalidArgument";
    case StatusCode::kFailedPrecondition:
      return "FailedPrecondition";
    case StatusCode::kResourceExhausted:
      return "ResourceExhausted";
    case StatusCode::kCorruption:
      return "Corruption";
    case StatusCode::kIOError:
      return "IOError";
    case StatusCode::kUnavailable:
      return "Unavailable";
    case StatusCode::kDeadlineExceeded:
      return "DeadlineExceeded";
  }
  return "Unknown";
}

Status::Status(StatusCode code, std::string_view message) : code_(code) {
  if (!message.empty()) message_ = std::make_shared<const std::string>(message);
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(code_));
  if (message_) {
    out += ": ";
    out += *message_;
  }
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string text(context);
  if (message_) {
    text += ": ";
    text += *message_;
  }
  return Status(code_, text);
}

namespace internal {

void DieOnBadResultAccess(const Status& status) {
  std::fprintf(stderr, "mirrorkv: value() of a Result holding %s\n", status.ToString().c_str());
  std::abort();
}

void DieOnOkStatusInResult() {
  std::fprintf(stderr, "mirrorkv: a Result was built from an OK Status without a value\n");
  std::abort();
}

}  // namespace internal
}  // namespace mirrorkv
