// ReplyBuilder: see reply_builder.h. Each reply is written with at most a few appends to
// a string that keeps its capacity between batches; integers are formatted on the stack.
#include "server/reply_builder.h"

#include <cstdio>

#include "engine/base/numbers.h"

namespace mirrorkv::server {

void ReplyBuilder::Header(char type, size_t count) {
  char buffer[2 + internal::kMaxInt64Digits + 2];
  buffer[0] = type;
  std::string_view digits = internal::FormatInt64(static_cast<int64_t>(count), buffer + 1);
  size_t length = 1 + digits.size();
  buffer[length++] = '\r';
  buffer[length++] = '\n';
  out_->append(buffer, length);
}

void ReplyBuilder::SimpleString(std::string_view text) {
  out_->push_back('+');
  out_->append(text);
  out_->append("\r\n", 2);
}

void ReplyBuilder::Error(std::string_view message) {
  ++errors_;
  size_t start = out_->size();
  out_->push_back('-');
  out_->append(message);
  for (size_t i = start + 1; i < out_->size(); ++i) {
    char& c = (*out_)[i];
    if (c == '\r' || c == '\n') c = ' ';
  }
  out_->append("\r\n", 2);
}

void ReplyBuilder::Integer(int64_t value) {
  // The common small results get a constant; others are formatted on the stack.
  if (value == 0) {
    out_->append(":0\r\n", 4);
  } else if (value == 1) {
    out_->append(":1\r\n", 4);
  } else {
    char buffer[1 + internal::kMaxInt64Digits + 2];
    buffer[0] = ':';
    std::string_view digits = internal::FormatInt64(value, buffer + 1);
    size_t length = 1 + digits.size();
    buffer[length++] = '\r';
    buffer[length++] = '\n';
    out_->append(buffer, length);
  }
}

// One reserve for header, payload and CRLF: a large value causes at most one growth of
// the output buffer.
void ReplyBuilder::Bulk(std::string_view value) {
  char buffer[1 + internal::kMaxInt64Digits + 2];
  buffer[0] = '$';
  std::string_view digits = internal::FormatInt64(static_cast<int64_t>(value.size()), buffer + 1);
  size_t length = 1 + digits.size();
  buffer[length++] = '\r';
  buffer[length++] = '\n';
  out_->reserve(out_->size() + length + value.size() + 2);
  out_->append(buffer, length);
  out_->append(value);
  out_->append("\r\n", 2);
}

void ReplyBuilder::Null() {
  if (resp_ >= 3) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("$-1\r\n", 5);
  }
}

void ReplyBuilder::NullArray() {
  if (resp_ >= 3) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("*-1\r\n", 5);
  }
}

void ReplyBuilder::ArrayHeader(size_t count) { Header('*', count); }

void ReplyBuilder::MapHeader(size_t pairs) {
  if (resp_ >= 3) {
    Header('%', pairs);
  } else {
    Header('*', pairs * 2);
  }
}

void ReplyBuilder::SetHeader(size_t count) { Header(resp_ >= 3 ? '~' : '*', count); }

void ReplyBuilder::PushHeader(size_t count) { Header(resp_ >= 3 ? '>' : '*', count); }

void ReplyBuilder::Verbatim(std::string_view text) {
  if (resp_ < 3) {
    Bulk(text);
    return;
  }
  Header('=', text.size() + 4);
  out_->append("txt:", 4);
  out_->append(text);
  out_->append("\r\n", 2);
}

void ReplyBuilder::Double(double value) {
  char buffer[64];
  int length = std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  if (resp_ >= 3) {
    out_->push_back(',');
    out_->append(buffer, static_cast<size_t>(length));
    out_->append("\r\n", 2);
  } else {
    Bulk(std::string_view(buffer, static_cast<size_t>(length)));
  }
}

}  // namespace mirrorkv::server
