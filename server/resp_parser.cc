// RequestParser: see resp_parser.h. The control flow mirrors Redis 7.0's
// processMultibulkBuffer/processInlineBuffer so that every malformed input gets the same
// reply and the same decision (wait for more bytes, or fail) as it does from Redis.
#include "server/resp_parser.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <new>

#include "engine/base/numbers.h"

namespace mirrorkv::server {
namespace {

// A read gets at least this much room; Redis reads 16 KB at a time (PROTO_IOBUF_LEN).
constexpr size_t kMinReadSpace = 16 * 1024;
// A buffer above this size is freed once it is empty again.
constexpr size_t kShrinkAbove = 64 * 1024;
// A big bulk argument gets its whole size at once up to this many bytes; beyond it the
// buffer doubles as bytes arrive, so that a peer announcing 512 MB and sending nothing
// costs little.
constexpr size_t kMaxEagerBytes = 16u << 20;

// FindLineEnd's answers besides an offset: no '\r' yet, or '\r' as the last byte.
constexpr size_t kNoLineEnd = static_cast<size_t>(-1);
constexpr size_t kLineEndIncomplete = static_cast<size_t>(-2);

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

}  // namespace

bool SplitArgsInPlace(std::span<char> line, std::vector<std::string_view>* args) {
  // sdssplitargs reads a C string: a NUL byte ends the line.
  char* const begin = line.data();
  char* end = static_cast<char*>(std::memchr(begin, '\0', line.size()));
  if (end == nullptr) end = begin + line.size();
  char* p = begin;
  // Unescaped bytes are written at `out`, which never overtakes `p`.
  char* out = begin;
  auto at = [&](char* q) -> char { return q < end ? *q : '\0'; };
  while (true) {
    while (p < end && IsSpace(*p)) ++p;
    if (p >= end) return true;
    char* token = out;
    bool in_double = false;
    bool in_single = false;
    bool done = false;
    while (!done) {
      char c = at(p);
      if (in_double) {
        if (c == '\\' && at(p + 1) == 'x' && IsHexDigit(at(p + 2)) && IsHexDigit(at(p + 3))) {
          *out++ = static_cast<char>(HexValue(p[2]) * 16 + HexValue(p[3]));
          p += 3;
        } else if (c == '\\' && at(p + 1) != '\0') {
          ++p;
          switch (*p) {
            case 'n':
              *out++ = '\n';
              break;
            case 'r':
              *out++ = '\r';
              break;
            case 't':
              *out++ = '\t';
              break;
            case 'b':
              *out++ = '\b';
              break;
            case 'a':
              *out++ = '\a';
              break;
            default:
              *out++ = *p;
              break;
          }
        } else if (c == '"') {
          // A closing quote must be followed by a space or the end of the line.
          if (at(p + 1) != '\0' && !IsSpace(at(p + 1))) return false;
          done = true;
        } else if (c == '\0') {
          return false;  // unterminated quotes
        } else {
          *out++ = c;
        }
      } else if (in_single) {
        if (c == '\\' && at(p + 1) == '\'') {
          ++p;
          *out++ = '\'';
        } else if (c == '\'') {
          if (at(p + 1) != '\0' && !IsSpace(at(p + 1))) return false;
          done = true;
        } else if (c == '\0') {
          return false;
        } else {
          *out++ = c;
        }
      } else {
        switch (c) {
          case ' ':
          case '\n':
          case '\r':
          case '\t':
          case '\0':
            done = true;
            break;
          case '"':
            in_double = true;
            break;
          case '\'':
            in_single = true;
            break;
          default:
            *out++ = c;
            break;
        }
      }
      if (p < end) ++p;
    }
    args->emplace_back(token, static_cast<size_t>(out - token));
    // Keep the written token apart from the next one's bytes: `out` may equal `p` here,
    // and the next token starts being written at `out`, behind or at `p`. Views stay
    // valid because a token is never rewritten once emitted.
  }
}

std::span<char> RequestParser::ReadSpace() {
  size_t needed = kMinReadSpace;
  if (state_ == State::kMultibulk && bulk_len_ >= 0) {
    // The rest of a known bulk argument plus its CRLF: reading it into place in as few
    // reads as possible, without moving it again.
    size_t bulk_end = parse_pos_ + static_cast<size_t>(bulk_len_) + 2;
    if (bulk_end > end_) needed = std::max(needed, bulk_end - end_);
  }
  if (command_start_ == end_) {
    // Everything was consumed: start over at the beginning, no copy needed.
    command_start_ = parse_pos_ = end_ = 0;
  }
  if (capacity_ - end_ < needed) {
    if (command_start_ > 0) {
      size_t pending = end_ - command_start_;
      std::memmove(data_.get(), data_.get() + command_start_, pending);
      parse_pos_ -= command_start_;
      end_ = pending;
      command_start_ = 0;
    }
    if (capacity_ - end_ < needed) Grow(needed);
    if (capacity_ - end_ == 0) return {};
  }
  return {data_.get() + end_, capacity_ - end_};
}

void RequestParser::Grow(size_t needed_free) {
  size_t wanted = end_ + needed_free;
  size_t capped = std::max(end_ + kMinReadSpace, std::max(capacity_ * 2, kMaxEagerBytes));
  size_t new_capacity = std::max(std::min(wanted, capped), std::max(capacity_, kMinReadSpace));
  if (new_capacity <= capacity_) return;
  // nothrow: a peer announcing huge bulks must not be able to abort the process; a
  // failed allocation leaves no read space and the connection is closed.
  std::unique_ptr<char[]> bigger(new (std::nothrow) char[new_capacity]);
  if (bigger == nullptr) return;
  if (end_ > 0) std::memcpy(bigger.get(), data_.get(), end_);
  data_ = std::move(bigger);
  capacity_ = new_capacity;
}

void RequestParser::CommitRead(size_t n) { end_ += std::min(n, capacity_ - end_); }

void RequestParser::ShrinkIfIdle() {
  if (command_start_ == end_ && capacity_ > kShrinkAbove) {
    data_.reset();
    capacity_ = 0;
    command_start_ = parse_pos_ = end_ = 0;
  }
}

RequestParser::Outcome RequestParser::Fail(std::string_view message) {
  failed_ = true;
  error_ = message;
  return Outcome::kError;
}

size_t RequestParser::FindLineEnd(size_t from) const {
  const char* base = data_.get();
  const void* cr = std::memchr(base + from, '\r', end_ - from);
  if (cr == nullptr) return kNoLineEnd;
  size_t offset = static_cast<const char*>(cr) - base;
  // Redis waits until the byte after '\r' is there too (it does not check it is '\n').
  if (offset + 1 >= end_) return kLineEndIncomplete;
  return offset;
}

RequestParser::Outcome RequestParser::ParseInline(std::vector<std::string_view>* args) {
  char* base = data_.get();
  const void* found = std::memchr(base + parse_pos_, '\n', end_ - parse_pos_);
  if (found == nullptr) {
    if (end_ - parse_pos_ > kMaxInlineBytes) {
      return Fail("ERR Protocol error: too big inline request");
    }
    return Outcome::kNeedMore;
  }
  size_t newline = static_cast<const char*>(found) - base;
  // Redis reads an inline line with strchr, so a NUL hides the newline and the request
  // waits, unexecuted, until the inline limit. Refusing it at once says why; executing
  // it, as an earlier version did, ran a command whose arguments no client meant.
  if (std::memchr(base + parse_pos_, '\0', newline - parse_pos_) != nullptr) {
    return Fail("ERR Protocol error: NUL byte in inline request");
  }
  size_t line_end = newline;
  if (line_end > parse_pos_ && base[line_end - 1] == '\r') --line_end;
  if (!SplitArgsInPlace({base + parse_pos_, line_end - parse_pos_}, args)) {
    args->clear();
    return Fail("ERR Protocol error: unbalanced quotes in request");
  }
  parse_pos_ = newline + 1;
  command_start_ = parse_pos_;
  return Outcome::kCommand;  // possibly with no arguments: the caller loops
}

RequestParser::Outcome RequestParser::Next(const ParserLimits& limits, bool authenticated,
                                           std::vector<std::string_view>* args) {
  if (failed_) return Outcome::kError;
  args->clear();
  while (true) {
    if (state_ == State::kStart) {
      if (parse_pos_ >= end_) break;
      if (data_[parse_pos_] != '*') {
        Outcome outcome = ParseInline(args);
        if (outcome == Outcome::kCommand && args->empty()) continue;  // a blank line
        if (outcome == Outcome::kNeedMore) break;
        return outcome;
      }
      size_t cr = FindLineEnd(parse_pos_);
      if (cr == kNoLineEnd) {
        if (end_ - parse_pos_ > kMaxInlineBytes) {
          return Fail("ERR Protocol error: too big mbulk count string");
        }
        break;
      }
      if (cr == kLineEndIncomplete) break;
      int64_t count;
      std::string_view digits(data_.get() + parse_pos_ + 1, cr - parse_pos_ - 1);
      if (!internal::ParseInt64(digits, &count) || count > INT_MAX) {
        return Fail("ERR Protocol error: invalid multibulk length");
      }
      if (count > kUnauthenticatedMaxArgs && !authenticated) {
        return Fail("ERR Protocol error: unauthenticated multibulk length");
      }
      parse_pos_ = cr + 2;
      if (count <= 0) {
        // "*0" and "*-1" are empty requests that Redis skips silently.
        command_start_ = parse_pos_;
        continue;
      }
      state_ = State::kMultibulk;
      args_remaining_ = count;
      bulk_len_ = -1;
      arg_offsets_.clear();
    }

    while (args_remaining_ > 0) {
      if (bulk_len_ < 0) {
        if (parse_pos_ >= end_) goto need_more;
        size_t cr = FindLineEnd(parse_pos_);
        if (cr == kNoLineEnd) {
          if (end_ - parse_pos_ > kMaxInlineBytes) {
            return Fail("ERR Protocol error: too big bulk count string");
          }
          goto need_more;
        }
        if (cr == kLineEndIncomplete) goto need_more;
        char first = data_[parse_pos_];
        if (first != '$') {
          // addReplyErrorFormat turns CR and LF into spaces so the reply stays valid.
          if (first == '\r' || first == '\n') first = ' ';
          int n = std::snprintf(error_buffer_, sizeof(error_buffer_),
                                "ERR Protocol error: expected '$', got '%c'", first);
          // %c of a NUL byte writes the NUL: the reply then carries it, as Redis's does.
          return Fail(std::string_view(error_buffer_, static_cast<size_t>(n)));
        }
        int64_t length;
        std::string_view digits(data_.get() + parse_pos_ + 1, cr - parse_pos_ - 1);
        if (!internal::ParseInt64(digits, &length) || length < 0 || length > limits.max_bulk_len) {
          return Fail("ERR Protocol error: invalid bulk length");
        }
        if (length > kUnauthenticatedMaxBulk && !authenticated) {
          return Fail("ERR Protocol error: unauthenticated bulk length");
        }
        parse_pos_ = cr + 2;
        bulk_len_ = length;
      }
      if (end_ - parse_pos_ < static_cast<size_t>(bulk_len_) + 2) goto need_more;
      arg_offsets_.emplace_back(parse_pos_ - command_start_, static_cast<size_t>(bulk_len_));
      parse_pos_ += static_cast<size_t>(bulk_len_) + 2;
      bulk_len_ = -1;
      --args_remaining_;
    }
    state_ = State::kStart;
    for (auto [offset, length] : arg_offsets_) {
      args->emplace_back(data_.get() + command_start_ + offset, length);
    }
    command_start_ = parse_pos_;
    return Outcome::kCommand;
  }

need_more:
  if (end_ - command_start_ > limits.max_query_buffer) {
    query_buffer_overflow_ = true;
    return Fail("ERR Protocol error: client query buffer limit exceeded");
  }
  return Outcome::kNeedMore;
}

}  // namespace mirrorkv::server
